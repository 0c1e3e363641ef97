"""stdio upstreams: the official SDK's stdio server (tests/support/mcp_stdio_server.py) run as a
child process of the gateway's client, and stopped by close()."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.core.toolspecs import EnvHeader, McpServerSpec, UpstreamAuth
from gateway.mcp.upstream import McpUnavailable, open_upstream
from gateway.mcp.upstream_stdio import StdioUpstream

SCRIPT = Path(__file__).resolve().parents[2] / "support" / "mcp_stdio_server.py"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def stdio_spec(
    *argv: str, auth: UpstreamAuth | None = None, timeout_s: float = 20
) -> McpServerSpec:
    command = argv or (sys.executable, str(SCRIPT), "local")
    return McpServerSpec(
        name="local",
        transport="stdio",
        command=tuple(command),
        auth=auth or UpstreamAuth(),
        timeout_s=timeout_s,
    )


@pytest.fixture
async def stdio(http: aiohttp.ClientSession) -> AsyncIterator[StdioUpstream]:
    up = open_upstream(stdio_spec(), session=http, env=dict(os.environ), allow_stdio=True)
    assert isinstance(up, StdioUpstream)
    yield up
    await up.close()


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_lists_and_calls_over_stdio(stdio: StdioUpstream) -> None:
    assert stdio.pid is None  # started on first use
    tools = await stdio.list_tools()
    assert {t["name"] for t in tools} == {"echo", "add", "increment", "fail", "slow"}
    assert stdio.protocol_version == "2026-07-28"
    result = await stdio.call_tool("add", {"a": 20, "b": 22})
    assert result["structuredContent"] == {"result": 42}
    failed = await stdio.call_tool("fail", {"message": "nope"})
    assert failed["isError"] is True
    assert failed["content"][0]["text"] == "Error executing tool fail: nope"


async def test_concurrent_calls_share_the_process(stdio: StdioUpstream) -> None:
    results = await asyncio.gather(*(stdio.call_tool("increment", {"by": 1}) for _ in range(10)))
    assert sorted(r["structuredContent"]["result"] for r in results) == list(range(1, 11))
    slow = asyncio.create_task(stdio.call_tool("slow", {"seconds": 0.3}))
    quick = await stdio.call_tool("echo", {"text": "not blocked"})
    assert quick["structuredContent"] == {"result": "not blocked"}
    assert (await slow)["structuredContent"] == {"result": "slept 0.3"}


async def test_close_stops_the_process(stdio: StdioUpstream) -> None:
    await stdio.list_tools()
    pid = stdio.pid
    assert pid is not None and running(pid)
    await stdio.close()
    assert not running(pid)
    assert stdio.pid is None
    with pytest.raises(McpUnavailable, match="closed"):
        await stdio.list_tools()


async def test_close_kills_a_server_that_ignores_eof(http: aiohttp.ClientSession) -> None:
    # a "server" that never reads stdin nor exits: stdin EOF and SIGTERM do not stop it
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    up = open_upstream(
        stdio_spec(sys.executable, "-c", stubborn, timeout_s=0.5),
        session=http,
        env=dict(os.environ),
        allow_stdio=True,
    )
    assert isinstance(up, StdioUpstream)
    with pytest.raises(McpUnavailable, match=r"no answer within 0\.5s"):
        await up.list_tools()
    pid = up.pid
    assert pid is not None and running(pid)
    await up.close()
    assert not running(pid)


async def test_a_crashed_process_is_restarted_on_the_next_call(stdio: StdioUpstream) -> None:
    await stdio.list_tools()
    first = stdio.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    for _ in range(2):  # the death may be noticed by this call (unavailable) or before it
        try:
            result = await stdio.call_tool("echo", {"text": "back"})
            break
        except McpUnavailable as exc:
            assert "the process exited" in str(exc)
    assert result["structuredContent"] == {"result": "back"}
    assert stdio.pid not in (None, first)


async def test_stdio_must_be_allowed(http: aiohttp.ClientSession) -> None:
    with pytest.raises(McpUnavailable, match="SMARTFLOW_MCP_STDIO=true"):
        open_upstream(stdio_spec(), session=http, env={}, allow_stdio=False)


async def test_a_command_that_cannot_start(http: aiohttp.ClientSession) -> None:
    up = open_upstream(
        stdio_spec("/nonexistent/mcp-server"), session=http, env={}, allow_stdio=True
    )
    with pytest.raises(McpUnavailable, match="cannot start '/nonexistent/mcp-server'"):
        await up.list_tools()


async def test_the_child_gets_only_named_variables(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    seen = tmp_path / "env.txt"
    script = f"import os; open({str(seen)!r}, 'w').write(' '.join(sorted(os.environ)))"
    auth = UpstreamAuth(headers=(EnvHeader(header="X-Token", env="TOOL_TOKEN"),))
    env = {"PATH": os.environ["PATH"], "ADMIN_API_KEY": "admin", "TOOL_TOKEN": "t"}
    spec = stdio_spec(sys.executable, "-c", script, auth=auth)
    up = open_upstream(spec, session=http, env=env, allow_stdio=True)
    with pytest.raises(McpUnavailable, match="the process exited"):
        await up.list_tools()
    await up.close()
    names = set(seen.read_text().split())
    assert {"PATH", "TOOL_TOKEN"} <= names
    assert "ADMIN_API_KEY" not in names
    missing = open_upstream(spec, session=http, env={"PATH": env["PATH"]}, allow_stdio=True)
    with pytest.raises(McpUnavailable, match="environment variable TOOL_TOKEN is not set"):
        await missing.list_tools()
