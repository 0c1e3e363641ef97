"""Real coding agents against `sfctl up`: Claude Code on /anthropic/v1/messages and Codex CLI on
/v1/responses, each with a virtual key, a fresh HOME and no way out but the loopback gateway.

The gateway answers with its built-in mock, whose replies are deterministic: a plain prompt gets
text, and a prompt that asks for a tool by name gets one call to it, then text once the tool's
result comes back. So each run's request count is known exactly, and it is asserted exactly (from
the Prometheus counter, and record by record from the audit log): an agent that loops on the
gateway's answers (Claude Code once sent 7,000 requests for one prompt) fails here.

The agents are pinned npm packages (tests/support/agent_clis.py); without them the tests fail
with the command that installs them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.agent_clis import CLAUDE, CODEX, agent_env, binary, codex_config, run_agent
from support.local_up import Foreground, foreground_up
from support.procs import free_port
from support.responses_up import create_key_record

pytestmark = pytest.mark.e2e

MESSAGES = "messages"
RESPONSES = "responses"


@dataclass(frozen=True)
class Gateway:
    running: Foreground
    data_dir: Path

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def admin(self) -> dict[str, str]:
        key = (self.data_dir / "admin_api_key").read_text().strip()
        return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Key:
    id: str
    secret: str


@pytest.fixture(scope="module")
def claude_bin() -> Path:
    """Checked before the gateway starts, so that a missing agent fails at once."""
    return binary(CLAUDE)


@pytest.fixture(scope="module")
def codex_bin() -> Path:
    return binary(CODEX)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir = tmp_path_factory.mktemp("coding-agents") / "state"
    with foreground_up(data_dir, free_port()) as running:
        yield Gateway(running, data_dir)


@pytest.fixture
def key(gateway: Gateway, request: pytest.FixtureRequest) -> Key:
    """A virtual key of the test's own, so the audit log tells its requests apart."""
    name = request.node.name[:60]
    record = create_key_record(gateway.data_dir, name)
    return Key(record["id"], record["key"])


def requests_on(gateway: Gateway, route: str) -> int:
    """Requests the gateway answered on a route, every status included (smartflow_requests_total).
    Counted once the response is written, so exact as soon as the agent has exited."""
    text = httpx.get(gateway.url + "/metrics", timeout=10).text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "smartflow_requests"
            for sample in family.samples
            if sample.name == "smartflow_requests_total" and sample.labels.get("route") == route
        )
    )


def audit_of(gateway: Gateway, key: Key, expected: int) -> list[dict[str, Any]]:
    """The key's audit records (written in batches: polled until `expected` are there)."""
    records: list[dict[str, Any]] = []
    for _ in range(200):
        page = httpx.get(
            gateway.url + "/api/audit",
            params={"key_id": key.id, "limit": "100"},
            headers=gateway.admin,
            timeout=10,
        )
        assert page.status_code == 200, page.text
        records = list(page.json()["records"])
        if len(records) >= expected:
            break
        time.sleep(0.05)
    return records


def assert_requests(gateway: Gateway, key: Key, route: str, before: int, expected: int) -> None:
    """Exactly `expected` requests on the route since `before`, all the key's, all answered 200."""
    made = requests_on(gateway, route) - before
    assert made == expected, f"the agent made {made} requests on {route}, expected {expected}"
    records = audit_of(gateway, key, expected)
    summary = [(r["route"], r["status"], r.get("error_code")) for r in records]
    assert summary == [(route, 200, None)] * expected, summary


def workdir(tmp_path: Path) -> tuple[Path, Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return home, work


# --- Claude Code: the Anthropic Messages API under /anthropic ---------------------------------


def claude(command: Path, gateway: Gateway, key: Key, tmp_path: Path, *args: str) -> dict[str, Any]:
    """`claude -p ... --output-format json` with only the gateway to talk to; its result JSON."""
    home, work = workdir(tmp_path)
    env = agent_env(
        home,
        {
            "ANTHROPIC_BASE_URL": gateway.url + "/anthropic",
            "ANTHROPIC_API_KEY": key.secret,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        },
    )
    done = run_agent([str(command), "-p", *args, "--output-format", "json"], env, work)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["is_error"] is False, result
    return result


def test_claude_code_answers_a_prompt_in_one_request(
    claude_bin: Path, gateway: Gateway, key: Key, tmp_path: Path
) -> None:
    before = requests_on(gateway, MESSAGES)
    result = claude(claude_bin, gateway, key, tmp_path, "Say hello in five words")
    assert result["num_turns"] == 1
    assert result["result"].startswith("Mock reply")
    assert_requests(gateway, key, MESSAGES, before, expected=1)


def test_claude_code_runs_a_tool_then_stops(
    claude_bin: Path, gateway: Gateway, key: Key, tmp_path: Path
) -> None:
    before = requests_on(gateway, MESSAGES)
    result = claude(
        claude_bin,
        gateway,
        key,
        tmp_path,
        "Use the Bash tool to run a command",
        "--allowedTools",
        "Bash",
    )
    # the mock called Bash, Claude Code ran it and sent the result back, the mock answered it
    assert result["num_turns"] == 2
    assert "the Bash tool returned" in result["result"]
    assert_requests(gateway, key, MESSAGES, before, expected=2)


# --- Codex CLI: the Responses API under /v1 ------------------------------------------------------


def codex(
    command: Path, gateway: Gateway, key: Key, tmp_path: Path, prompt: str, model: str
) -> tuple[list[dict[str, Any]], str]:
    """`codex exec --json` with a Smartflow provider in a fresh CODEX_HOME: its events and the
    last message."""
    home, work = workdir(tmp_path)
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        codex_config(gateway.url + "/v1", model, env_key="SMARTFLOW_API_KEY")
    )
    env = agent_env(home, {"CODEX_HOME": str(codex_home), "SMARTFLOW_API_KEY": key.secret})
    last = tmp_path / "last-message.txt"
    options = ["exec", "--skip-git-repo-check", "--json", "-o", str(last)]
    done = run_agent([str(command), *options, prompt], env, work)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    errors = [e for e in events if e["type"] in ("error", "turn.failed")]
    assert done.returncode == 0 and not errors, errors or done.stderr[-2000:]
    return events, last.read_text()


def items(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind
    ]


# gpt-5.5 is a model Codex knows (it then offers apply_patch as a `custom` tool and `tool_search`);
# for a model it does not know it falls back to other tools (a `namespace` of sub-agent tools)
@pytest.mark.parametrize("model", ["gpt-5.5", "gpt-4o-mini"])
def test_codex_answers_a_prompt_in_one_request(
    codex_bin: Path, gateway: Gateway, key: Key, tmp_path: Path, model: str
) -> None:
    before = requests_on(gateway, RESPONSES)
    events, last = codex(codex_bin, gateway, key, tmp_path, "Say hello in five words", model)
    assert last.startswith("Mock reply")
    assert [m["text"] for m in items(events, "agent_message")] == [last]
    assert not items(events, "command_execution")
    assert_requests(gateway, key, RESPONSES, before, expected=1)


def test_codex_runs_a_tool_then_stops(
    codex_bin: Path, gateway: Gateway, key: Key, tmp_path: Path
) -> None:
    before = requests_on(gateway, RESPONSES)
    events, last = codex(
        codex_bin, gateway, key, tmp_path, "Use the exec_command tool to look around", "gpt-5.5"
    )
    # the mock called exec_command (a `function` tool), Codex ran the command and sent its
    # output back as a function_call_output, and the mock answered that with text
    commands = items(events, "command_execution")
    assert len(commands) == 1, events
    assert commands[0]["status"] in ("completed", "failed")  # the command is a random word
    assert "the exec_command tool returned" in last
    assert_requests(gateway, key, RESPONSES, before, expected=2)
