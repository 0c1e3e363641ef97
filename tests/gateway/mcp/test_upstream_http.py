"""The gateway's Streamable HTTP client against the official SDK's MCPServer on loopback, in both
protocol eras (the SDK server's default answers the modern probe; `legacy_only` makes it an
mcp 1.x server that needs the initialize handshake), stateful and stateless."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import aiohttp
import pytest
from aiohttp import web
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import ListToolsResult, Tool
from mcp_types import PaginatedRequestParams
from pydantic import Field

from gateway.core.toolspecs import McpServerSpec
from gateway.mcp.upstream import McpUnavailable, McpUpstream, McpUpstreamError, open_upstream

from support.mcp_servers import DemoServer, McpServed, demo_server, serve_mcp

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ERAS = [
    pytest.param({}, MODERN, id="modern-stateful"),
    pytest.param({"stateless": True}, MODERN, id="modern-stateless"),
    pytest.param({"json_response": True}, MODERN, id="modern-json"),
    pytest.param({"legacy_only": True}, LEGACY, id="legacy-stateful"),
    pytest.param({"legacy_only": True, "stateless": True}, LEGACY, id="legacy-stateless"),
    pytest.param({"legacy_only": True, "json_response": True}, LEGACY, id="legacy-json"),
]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def upstream(
    http: aiohttp.ClientSession, url: str, *, name: str = "demo", timeout_s: float = 10.0
) -> McpUpstream:
    spec = McpServerSpec(name=name, url=url, timeout_s=timeout_s)
    return open_upstream(spec, session=http, env={}, allow_stdio=False)


def methods(served: McpServed) -> list[str | None]:
    return [h.get("mcp-method") for h in served.headers_seen]


@pytest.mark.parametrize(("options", "version"), ERAS)
async def test_lists_and_calls_in_each_era(
    http: aiohttp.ClientSession, options: dict[str, Any], version: str
) -> None:
    server = demo_server()
    async with serve_mcp(server, **options) as served:
        up = upstream(http, served.url)
        assert up.protocol_version is None  # lazy: nothing sent yet
        assert served.headers_seen == []
        tools = await up.list_tools()
        assert up.protocol_version == version
        by_name = {tool["name"]: tool for tool in tools}
        assert set(by_name) == {"echo", "add", "increment", "fail", "slow"}
        assert by_name["echo"]["annotations"]["readOnlyHint"] is True
        assert by_name["add"]["annotations"]["idempotentHint"] is True
        assert by_name["add"]["inputSchema"]["required"] == ["a", "b"]

        result = await up.call_tool("add", {"a": 2, "b": 40})
        assert result["isError"] is False
        assert result["structuredContent"] == {"result": 42}
        assert result["content"] == [{"type": "text", "text": "42"}]
        assert [await up.call_tool("increment", {}) for _ in range(2)][1]["structuredContent"] == {
            "result": 2
        }
        assert served.calls == {"add": 1, "increment": 2}
        await up.close()


async def test_modern_requests_carry_the_envelope_headers(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server()) as served:
        up = upstream(http, served.url)
        await up.call_tool("echo", {"text": "hi"})
        probe, call = served.headers_seen
        assert probe["mcp-protocol-version"] == MODERN
        assert probe["mcp-method"] == "server/discover"
        assert call["mcp-method"] == "tools/call"
        assert call["mcp-name"] == "echo"
        assert call["mcp-protocol-version"] == MODERN
        assert "mcp-session-id" not in call
        assert call["accept"] == "application/json, text/event-stream"
        await up.call_tool("echo", {"text": "again"})
        assert methods(served) == ["server/discover", "tools/call", "tools/call"]  # no re-probe


async def test_legacy_handshake_keeps_the_session(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server(), legacy_only=True) as served:
        up = upstream(http, served.url)
        await up.call_tool("echo", {"text": "hi"})
        await up.call_tool("echo", {"text": "again"})
        probe, initialize, initialized, *calls = served.headers_seen
        assert probe["mcp-method"] == "server/discover"  # refused by the 1.x server: fallback
        assert "mcp-protocol-version" not in initialize
        assert "mcp-session-id" not in initialize
        session_id = initialized["mcp-session-id"]
        assert [c["mcp-session-id"] for c in calls] == [session_id, session_id]
        assert {c["mcp-protocol-version"] for c in (initialized, *calls)} == {LEGACY}
        await up.close()
    # close ended the session: the last request the server saw was the DELETE
    assert served.headers_seen[-1]["mcp-session-id"] == session_id
    assert served.headers_seen[-1]["mcp-protocol-version"] == LEGACY


@pytest.mark.parametrize("legacy", [False, True])
async def test_list_follows_every_page(http: aiohttp.ClientSession, legacy: bool) -> None:
    async with serve_mcp(demo_server(page_size=2), legacy_only=legacy) as served:
        up = upstream(http, served.url)
        tools = await up.list_tools()
        assert [t["name"] for t in tools] == ["echo", "add", "increment", "fail", "slow"]
        if not legacy:
            assert methods(served).count("tools/list") == 3


async def test_a_tool_error_is_the_servers_result_unchanged(http: aiohttp.ClientSession) -> None:
    server = demo_server()
    async with serve_mcp(server) as served:
        up = upstream(http, served.url)
        result = await up.call_tool("fail", {"message": "disk on fire"})
        async with Client(served.url) as sdk:  # the official client sees the same result
            baseline = await sdk.call_tool("fail", {"message": "disk on fire"})
    assert result["isError"] is True
    assert result["content"] == [
        {"type": "text", "text": "Error executing tool fail: disk on fire"}
    ]
    assert result == baseline.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert server.calls["fail"] == 2


def rejecting_server() -> DemoServer:
    server = demo_server()

    @server.tool()
    def reject(code: int) -> str:
        """Answers with a JSON-RPC error instead of a result."""
        raise MCPError(code, "rejected on purpose", {"why": "test"})

    return server


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("code", [-32602, -32000, -32601])
async def test_a_json_rpc_error_is_raised_with_code_message_and_data(
    http: aiohttp.ClientSession, legacy: bool, code: int
) -> None:
    async with serve_mcp(rejecting_server(), legacy_only=legacy) as served:
        up = upstream(http, served.url)
        with pytest.raises(McpUpstreamError) as caught:
            await up.call_tool("reject", {"code": code})
        assert (caught.value.code, caught.value.message) == (code, "rejected on purpose")
        assert caught.value.data == {"why": "test"}
        # the connection is still good
        assert (await up.call_tool("add", {"a": 1, "b": 1}))["structuredContent"] == {"result": 2}


async def test_a_stopped_server_is_unavailable_and_comes_back(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server(), legacy_only=True) as served:
        up = upstream(http, served.url)
        await up.list_tools()
        await served.stop()
        with pytest.raises(McpUnavailable) as caught:
            await up.call_tool("echo", {"text": "x"})
        assert str(caught.value) == "MCP server 'demo' unavailable: connection refused"
        assert served.url not in str(caught.value)


async def test_nothing_listening_is_unavailable(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server()) as served:
        url = served.url
    up = upstream(http, url, name="gone")
    with pytest.raises(McpUnavailable, match="'gone' unavailable: connection refused"):
        await up.list_tools()


async def test_a_slow_answer_times_out(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server()) as served:
        up = upstream(http, served.url, timeout_s=0.3)
        await up.list_tools()
        with pytest.raises(McpUnavailable, match=r"no answer within 0\.3s"):
            await up.call_tool("slow", {"seconds": 2})


@pytest.mark.parametrize("json_response", [False, True])
async def test_a_lost_session_is_reinitialised_once(
    http: aiohttp.ClientSession, json_response: bool
) -> None:
    server = demo_server()
    async with serve_mcp(server, legacy_only=True, json_response=json_response) as served:
        up = upstream(http, served.url)
        assert (await up.call_tool("increment", {}))["structuredContent"] == {"result": 1}
        first_session = served.headers_seen[-1]["mcp-session-id"]
        await served.restart()  # the new server process knows no session
        assert (await up.call_tool("increment", {}))["structuredContent"] == {"result": 2}
        assert served.headers_seen[-1]["mcp-session-id"] != first_session
        assert methods(served).count(None) >= 4  # two initialize + initialized pairs
        assert server.calls["increment"] == 2  # the refused request was not run, then was once


def header_server() -> DemoServer:
    server = demo_server()

    @server.tool()
    def where(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        """Echo a region routed by header."""
        return region

    async def list_tools(ctx: Any, params: PaginatedRequestParams) -> ListToolsResult:
        # the SDK refuses to register a tool with an invalid annotation, so one is listed here:
        # x-mcp-header on a number is invalid, a modern client must drop the tool
        schema = {"type": "object", "properties": {"n": {"type": "number", "x-mcp-header": "N"}}}
        broken = Tool(name="broken", input_schema=schema)
        return ListToolsResult(tools=[*await server.list_tools(), broken])

    server._lowlevel_server.add_request_handler("tools/list", PaginatedRequestParams, list_tools)
    return server


async def test_mcp_param_headers_mirror_annotated_arguments(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(header_server()) as served:
        up = upstream(http, served.url)
        # never listed: the server rejects the call (header missing), we re-list and retry
        result = await up.call_tool("where", {"region": "eu-west ü"})
        assert result["structuredContent"] == {"result": "eu-west ü"}
        assert methods(served) == ["server/discover", "tools/call", "tools/list", "tools/call"]
        assert served.headers_seen[-1]["mcp-param-region"] == "=?base64?ZXUtd2VzdCDDvA==?="
        await up.call_tool("where", {"region": "us-east-1"})
        assert served.headers_seen[-1]["mcp-param-region"] == "us-east-1"
        names = {tool["name"] for tool in await up.list_tools()}
        assert "where" in names
        assert "broken" not in names


async def bad_upstream(status: int, body: bytes, content_type: str) -> web.AppRunner:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/mcp", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@pytest.mark.parametrize(
    ("status", "body", "content_type", "why"),
    [
        (503, b"busy", "text/plain", "answered HTTP 503"),
        (502, b'{"jsonrpc":"2.0","id":1,"result":{}}', "application/json", "answered HTTP 502"),
        (200, b"<html>hello</html>", "text/html", "content type 'text/html'"),
        (200, b"{not json", "application/json", "not a JSON-RPC response"),
        (200, b"data: {oops\n\n", "text/event-stream", "not JSON"),
        (200, b": just a comment\n\n", "text/event-stream", "without a response"),
        (403, b"", "text/plain", "refused the gateway's credentials"),
        (307, b"", "text/plain", "redirected"),
    ],
)
async def test_a_server_that_does_not_speak_mcp_is_unavailable(
    http: aiohttp.ClientSession, status: int, body: bytes, content_type: str, why: str
) -> None:
    runner = await bad_upstream(status, body, content_type)
    try:
        port = runner.addresses[0][1]
        up = upstream(http, f"http://127.0.0.1:{port}/mcp", name="odd")
        with pytest.raises(McpUnavailable, match=why) as caught:
            await up.list_tools()
        assert str(caught.value).startswith("MCP server 'odd' unavailable: ")
    finally:
        await runner.cleanup()


async def test_closed_client_refuses_calls(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server()) as served:
        up = upstream(http, served.url)
        await up.list_tools()
        await up.close()
        await up.close()  # idempotent
        with pytest.raises(McpUnavailable, match="closed"):
            await up.list_tools()


@pytest.mark.parametrize("legacy", [False, True])
async def test_concurrent_first_calls_negotiate_once(
    http: aiohttp.ClientSession, legacy: bool
) -> None:
    server = demo_server()
    async with serve_mcp(server, legacy_only=legacy) as served:
        up = upstream(http, served.url)
        results = await asyncio.gather(*(up.call_tool("increment", {}) for _ in range(20)))
        assert sorted(r["structuredContent"]["result"] for r in results) == list(range(1, 21))
        assert methods(served).count("server/discover") == 1
        if legacy:  # one handshake, one session for every call
            assert len({h.get("mcp-session-id") for h in served.headers_seen[2:]}) == 1
