"""`sfctl a2a` as an operator runs it, in a subprocess, against a real gateway process
(SERVICE_TYPE=all) on loopback."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from support.gateway import ADMIN_KEY
from support.procs import gateway_process
from support.sfctl_cli import sfctl


def run(url: str, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    return sfctl(*args, "--url", url, "--admin-key", ADMIN_KEY, columns=columns)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def one_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with gateway_process(["--service", "all"], env={"MCP_GATEWAY_ENABLED": "true"}) as (url, _):
        yield url


def test_add_list_remove(gateway: str) -> None:
    added = ok(
        run(
            gateway, "a2a", "add", "research", "http://127.0.0.1:9/agents/research",
            "--header", "X-Api-Key=RESEARCH_KEY", "--team", "ml", "--price-per-task", "0.25",
        )
    )  # fmt: skip
    assert "A2A agent research registered" in added and "/a2a/research" in added
    assert "already registered" in one_error(
        run(gateway, "a2a", "add", "research", "http://127.0.0.1:9")
    )
    table = ok(run(gateway, "a2a", "list", columns=80))
    assert "research" in table and "0.25" in table
    assert max(len(line) for line in table.splitlines()) <= 80
    (agent,) = json.loads(ok(run(gateway, "a2a", "list", "-o", "json")))["agents"]
    assert agent["url"] == "http://127.0.0.1:9/agents/research" and agent["teams"] == ["ml"]
    assert agent["auth"]["headers"] == [{"header": "X-Api-Key", "env": "RESEARCH_KEY"}]
    assert agent["price_per_task_usd"] == 0.25 and agent["source"] == "store"
    assert "A2A agent research removed" in ok(run(gateway, "a2a", "remove", "research"))
    assert "no A2A agent named" in one_error(run(gateway, "a2a", "remove", "research"))
    assert "No A2A agents yet" in ok(run(gateway, "a2a", "list"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("a2a", "add", "x", "not-a-url"), "url:"),
        (("a2a", "add", "x", "http://h", "--header", "nope"), "HEADER=ENV_VAR"),
        (("a2a", "add", "x", "http://h", "--card-path", "card.json"), "card_path:"),
        (("a2a", "add", "x_y", "http://h"), "name:"),
    ],
)
def test_usage_errors_are_one_line(gateway: str, args: tuple[str, ...], needle: str) -> None:
    assert needle in one_error(run(gateway, *args), code=2)
