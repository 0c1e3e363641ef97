"""sfctl's side of virtual keys: option parsing, choosing the gateway, and the admin client's
mapping of HTTP failures to one-line errors (against a real gateway on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from keys_fixtures import gateway_in_thread

from sfctl.admin_key import KEY_FILE
from sfctl.client import AdminClient, resolve_target
from sfctl.commands.keys import parse_expiry, parse_metadata, parse_models
from sfctl.errors import SfctlError, UsageError
from sfctl.key_tools import tools_options
from sfctl.local_record import RECORD_FILE
from sfctl.spec import CliEnvironment

from support.gateway import ADMIN_KEY
from support.procs import free_port
from support.sfctl_cli import sfctl

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86_400), ("12h", 12 * 3600), ("90m", 5400), ("45s", 45), ("2w", 14 * 86_400)],
)
def test_durations_count_from_now(text: str, seconds: int) -> None:
    assert parse_expiry(text, NOW) == NOW + seconds
    assert parse_expiry(text.upper(), NOW) == NOW + seconds


def test_dates_are_midnight_utc_and_times_keep_their_zone() -> None:
    assert parse_expiry("2026-12-31", NOW) == datetime(2026, 12, 31, tzinfo=UTC).timestamp()
    assert (
        parse_expiry("2026-12-31T18:30:00Z", NOW)
        == datetime(2026, 12, 31, 18, 30, tzinfo=UTC).timestamp()
    )
    assert (
        parse_expiry("2026-12-31T18:30:00+02:00", NOW)
        == datetime(2026, 12, 31, 16, 30, tzinfo=UTC).timestamp()
    )
    assert parse_expiry("never", NOW) is None


@pytest.mark.parametrize("text", ["", "0d", "30", "30y", "-1d", "1.5d", "tomorrow", "2026-02-30"])
def test_unreadable_expiries_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--expires"):
        parse_expiry(text, NOW)


def test_an_expiry_in_the_past_is_refused() -> None:
    with pytest.raises(UsageError, match="in the past"):
        parse_expiry("2020-01-01", NOW)


def test_models_and_metadata() -> None:
    assert parse_models("gpt-4o-mini, claude-3-5-haiku-latest,") == [
        "gpt-4o-mini",
        "claude-3-5-haiku-latest",
    ]
    assert parse_models("*") is None
    with pytest.raises(UsageError):
        parse_models(" , ")
    assert parse_metadata(["team=ml", "note=a=b", "old="]) == {
        "team": "ml",
        "note": "a=b",
        "old": None,
    }
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_metadata(["novalue"])


def env(data_dir: Path, url: str | None = None, key: str | None = None) -> CliEnvironment:
    return CliEnvironment(data_dir=data_dir, admin_url=url, admin_api_key=key)


def test_flags_win_over_the_environment_over_the_local_gateway(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("sf-admin-local-key\n")
    (tmp_path / RECORD_FILE).write_text(json.dumps({"pid": 1, "host": "127.0.0.1", "port": 7775}))
    environment = env(tmp_path, "http://gw.internal:7778/", "sf-admin-env-key")
    target = resolve_target("https://flag.example/", "sf-admin-flag", environment, None)
    assert (target.url, target.admin_key) == ("https://flag.example", "sf-admin-flag")
    target = resolve_target(None, None, environment, None)
    assert (target.url, target.admin_key) == ("http://gw.internal:7778", "sf-admin-env-key")
    # with neither, the key comes from the data directory `sfctl up` uses
    target = resolve_target("http://127.0.0.1:9", None, env(tmp_path), None)
    assert target.admin_key == "sf-admin-local-key"


def test_without_any_target_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no `sfctl up` is running with data directory"):
        resolve_target(None, None, env(tmp_path / "empty"), None)
    with pytest.raises(UsageError, match="--admin-key"):
        resolve_target("http://127.0.0.1:9", None, env(tmp_path / "empty"), None)
    with pytest.raises(UsageError, match="http://"):
        resolve_target("127.0.0.1:7775", "k", env(tmp_path), None)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gateway_in_thread(tmp_path_factory.mktemp("cli")) as url:
        yield url


def test_client_round_trip(live_url: str) -> None:
    with AdminClient(live_url, ADMIN_KEY) as client:
        created = client.create_key({"name": "from-the-client", "budget": {"max_usd": 2}})
        key_id = created["id"]
        assert created["key"].startswith("sk-sf-")
        assert client.get_key(key_id)["name"] == "from-the-client"
        assert key_id in [k["id"] for k in client.list_keys(limit=1000)["keys"]]
        assert client.update_key(key_id, {"team": "ml"})["team"] == "ml"
        assert client.key_budget(key_id)["remaining_usd"] == 2.0
        rotated = client.rotate_key(key_id)
        assert rotated["key"] != created["key"]
        assert client.revoke_key(key_id)["status"] == "revoked"
        assert "/api/enterprise/vkeys" in client.openapi()["paths"]


def test_client_errors_are_one_line_with_the_servers_message(live_url: str) -> None:
    with AdminClient(live_url, "sf-admin-not-the-key-000000") as client:
        with pytest.raises(SfctlError, match=r"refused the admin key \(401\): invalid API key"):
            client.list_keys()
    with AdminClient(live_url, ADMIN_KEY) as client:
        with pytest.raises(SfctlError, match=r"no virtual key with id 'key_0000000000000000'"):
            client.get_key("key_0000000000000000")
        with pytest.raises(UsageError, match=r"\(400\): limits.rpm: Input should be greater"):
            client.create_key({"name": "x", "limits": {"rpm": 0}})
        with pytest.raises(UsageError, match="key id is required"):
            client.get_key(" ")
        with pytest.raises(SfctlError, match="no virtual key") as caught:
            client.get_key("../../health")  # quoted: stays one path segment
        assert "\n" not in str(caught.value)


def test_an_unreachable_gateway_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with AdminClient(url, ADMIN_KEY, timeout=2) as client:
        with pytest.raises(SfctlError, match=f"cannot reach the management API at {url}"):
            client.list_keys()


# --- a key's MCP servers, tools and A2A agents (--mcp-server, --mcp-tool, --a2a-agent) ----------


def test_tool_options_become_the_tools_object() -> None:
    assert tools_options(None, None, None) == {}
    assert tools_options([], [], []) == {}
    assert tools_options(["github", " files ", "github"], None, None) == {
        "mcp_servers": ["github", "files"]
    }
    assert tools_options(None, ["github__*", "*__read_*"], ["planner"]) == {
        "mcp_tools": ["github__*", "*__read_*"],
        "a2a_agents": ["planner"],
    }
    assert tools_options(["*"], ["-"], ["-"]) == {
        "mcp_servers": None,
        "mcp_tools": [],
        "a2a_agents": [],
    }
    with pytest.raises(UsageError, match="--mcp-server '\\*' or '-' stands alone"):
        tools_options(["github", "*"], None, None)
    with pytest.raises(UsageError, match="--a2a-agent: a value must not be empty"):
        tools_options(None, None, [" "])


def run_sfctl(live_url: str, *args: str, columns: int = 200) -> str:
    result = sfctl(*args, "--url", live_url, "--admin-key", ADMIN_KEY, columns=columns)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tools_of(live_url: str, *args: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(run_sfctl(live_url, *args, "-o", "json"))
    return dict(record["tools"])


def test_sfctl_sets_merges_and_shows_a_keys_tools(live_url: str) -> None:
    options = (
        "--mcp-server", "github", "--mcp-server", "files",
        "--mcp-tool", "github__*", "--a2a-agent", "-",
    )  # fmt: skip
    created = json.loads(
        run_sfctl(live_url, "keys", "create", "--name", "agent-bot", *options, "-o", "json")
    )
    key_id = created["id"]
    assert created["tools"] == {
        "mcp_servers": ["github", "files"],
        "mcp_tools": ["github__*"],
        "a2a_agents": [],
    }
    # one field changes, the others are kept (the API replaces the object: sfctl merges)
    assert tools_of(live_url, "keys", "update", key_id, "--a2a-agent", "planner") == {
        "mcp_servers": ["github", "files"],
        "mcp_tools": ["github__*"],
        "a2a_agents": ["planner"],
    }
    assert tools_of(live_url, "keys", "update", key_id, "--mcp-server", "*") == {
        "mcp_servers": None,
        "mcp_tools": ["github__*"],
        "a2a_agents": ["planner"],
    }
    table = run_sfctl(live_url, "keys", "show", key_id, columns=80)
    assert max(len(line) for line in table.splitlines()) <= 80, table
    rows = {
        cells[0]: cells[1]
        for line in table.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
    }
    assert rows["mcp servers"] == "all"
    assert rows["mcp tools"] == "github__*"
    assert rows["a2a agents"] == "planner"
    plain = json.loads(run_sfctl(live_url, "keys", "create", "--name", "plain", "-o", "json"))
    assert plain["tools"] == {"mcp_servers": None, "mcp_tools": None, "a2a_agents": None}


def test_sfctl_refuses_a_mixed_every_or_none(live_url: str) -> None:
    result = sfctl(
        "keys", "create", "--name", "x", "--mcp-tool", "-", "--mcp-tool", "github__*",
        "--url", live_url, "--admin-key", ADMIN_KEY,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "--mcp-tool '*' or '-' stands alone" in result.stderr
