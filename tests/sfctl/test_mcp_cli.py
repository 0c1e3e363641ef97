"""`sfctl mcp` as an operator runs it, in a subprocess, against a real gateway process
(SERVICE_TYPE=all, MCP on) on loopback, with a real MCP server (the official SDK) registered."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from support.gateway import ADMIN_KEY
from support.mcp_servers import McpServed, demo_server, serve_mcp
from support.procs import free_port, gateway_process
from support.sfctl_cli import sfctl

TOKEN = "Bearer docs-token-0123456789"


@dataclass
class Cli:
    url: str

    async def run(self, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
        """sfctl in a thread: the MCP server shares this test's event loop and must keep
        answering while sfctl waits."""
        target = ("--url", self.url, "--admin-key", ADMIN_KEY)  # before any `--`
        return await asyncio.to_thread(sfctl, *args[:2], *target, *args[2:], columns=columns)


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
    env = {
        "MCP_GATEWAY_ENABLED": "true",
        "SMARTFLOW_MCP_REFRESH_SECS": "0.2",
        "DOCS_TOKEN": TOKEN,  # what the registration's --header names
    }
    with gateway_process(["--service", "all"], env=env, port=free_port()) as (url, _):
        yield url


@pytest.fixture
async def served() -> AsyncIterator[McpServed]:
    async with serve_mcp(demo_server("docs"), headers_required={"Authorization": TOKEN}) as running:
        yield running


async def test_add_tools_list_remove(gateway: str, served: McpServed) -> None:
    cli = Cli(gateway)
    added = ok(
        await cli.run(
            "mcp", "add", "docs", served.url,
            "--header", "Authorization=DOCS_TOKEN",
            "--team", "ml", "--team", "research",
            "--cache-tool", "increment", "--ttl", "60",
            "--price-per-call", "0.01", "--timeout", "5",
        )
    )  # fmt: skip
    assert "MCP server docs registered" in added and served.url in added

    again = one_error(await cli.run("mcp", "add", "docs", served.url))
    assert "already registered" in again and "(HTTP 409)" in again

    tools = ok(await cli.run("mcp", "tools", "docs", columns=80))
    assert "docs__echo" in tools and "read-only" in tools and "docs__add" in tools
    assert max(len(line) for line in tools.splitlines()) <= 80
    listed = json.loads(ok(await cli.run("mcp", "tools", "docs", "-o", "json")))
    assert listed["server"] == "docs"
    assert {"echo", "add", "increment"} <= {tool["name"] for tool in listed["tools"]}

    table = ok(await cli.run("mcp", "list", columns=80))
    assert "docs" in table and "ok" in table
    assert max(len(line) for line in table.splitlines()) <= 80
    (entry,) = json.loads(ok(await cli.run("mcp", "list", "-o", "json")))["servers"]
    assert entry["name"] == "docs" and entry["healthy"] is True
    assert entry["teams"] == ["ml", "research"] and entry["cache_tools"] == ["increment"]
    assert entry["auth"]["headers"] == [{"header": "Authorization", "env": "DOCS_TOKEN"}]
    assert entry["cache_ttl_s"] == 60 and entry["price_per_call_usd"] == 0.01
    assert entry["timeout_s"] == 5
    assert TOKEN not in table and TOKEN not in json.dumps(entry)

    assert "MCP server docs removed" in ok(await cli.run("mcp", "remove", "docs"))
    assert "no MCP server named 'docs'" in one_error(await cli.run("mcp", "remove", "docs"))
    assert "No MCP servers yet" in ok(await cli.run("mcp", "list"))
    assert json.loads(ok(await cli.run("mcp", "list", "-o", "json"))) == {"servers": []}


async def test_a_server_that_is_down_is_one_line(gateway: str) -> None:
    cli = Cli(gateway)
    port = free_port()  # nothing listens there
    ok(await cli.run("mcp", "add", "gone", f"http://127.0.0.1:{port}/mcp", "-o", "json"))
    try:
        line = one_error(await cli.run("mcp", "tools", "gone"))
        assert "'gone'" in line
        result = await cli.run("mcp", "tools", "gone", "-o", "json")
        assert result.returncode == 1 and json.loads(result.stdout)["healthy"] is False
        table = ok(await cli.run("mcp", "list", columns=80))
        assert "down" in table
    finally:
        ok(await cli.run("mcp", "remove", "gone"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("mcp", "add", "x", "http://h", "--header", "Authorization"), "HEADER=ENV_VAR"),
        (("mcp", "add", "x", "http://h", "--header", "A=not a var"), "HEADER=ENV_VAR"),
        (("mcp", "add", "x", "http://h", "--oauth-token-url", "http://t"), "--oauth-client-id"),
        (("mcp", "add", "x"), "give one URL"),
        (("mcp", "add", "x", "--stdio"), "--stdio needs the command"),
        (("mcp", "add", "x", "--stdio", "--", "my-server", "-v"), "SMARTFLOW_MCP_STDIO"),
        (("mcp", "add", "Bad_Name", "http://h"), "name:"),
        (("mcp", "add", "x", "ftp://h"), "url:"),
    ],
)
async def test_usage_errors_are_one_line(gateway: str, args: tuple[str, ...], needle: str) -> None:
    line = one_error(await Cli(gateway).run(*args), code=2)
    assert needle in line, line


async def test_an_unreachable_gateway_is_one_line() -> None:
    cli = Cli(f"http://127.0.0.1:{free_port()}")
    assert "cannot reach the management API" in one_error(await cli.run("mcp", "list"))


async def test_a_wrong_admin_key_is_one_line(gateway: str) -> None:
    result = await asyncio.to_thread(
        sfctl, "mcp", "list", "--url", gateway, "--admin-key", "wrong-key-0123456789abcdef"
    )
    assert "refused the admin key" in one_error(result)
