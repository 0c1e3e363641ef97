"""The MCP endpoint end to end with the official `mcp` SDK on both sides: the SDK client talks to
the gateway (handshake era, mode="legacy", and the default auto mode, which goes modern), and
the gateway to real SDK servers on loopback registered through the admin API.

Shown: listing and calling one server, aggregation with `NAME__tool` prefixes, tools filtered by
the key (servers, tool patterns, teams), a refused call as an MCP error, caching of an idempotent
tool and never of a mutating one (the upstream's own call counter), and a server that goes down
(a clear error naming it, the other server still listed and working).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from mcp_e2e import MODES, create_key, mcp_gateway, register, sdk_client, settle

from gateway.core.mcp_protocol import FORBIDDEN, INVALID_PARAMS, UPSTREAM_UNAVAILABLE

from support.mcp_servers import demo_server, serve_mcp

pytestmark = pytest.mark.e2e


def _text(result: object) -> str:
    content = result.content  # type: ignore[attr-defined]
    return str(content[0].text)


@pytest.mark.parametrize("mode", MODES)
async def test_one_server_lists_and_calls(tmp_path: Path, mode: str) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url, description="Demo tools")
        key = await create_key(gw)
        async with sdk_client(gw.url + "/api/mcp/alpha", key, mode) as client:
            listed = await client.list_tools()
            names = {tool.name for tool in listed.tools}
            assert names == {"echo", "add", "increment", "fail", "slow"}
            echo = next(tool for tool in listed.tools if tool.name == "echo")
            assert echo.annotations is not None and echo.annotations.read_only_hint
            result = await client.call_tool("add", {"a": 2, "b": 3})
            assert result.structured_content == {"result": 5} and not result.is_error
            failed = await client.call_tool("fail", {"message": "boom"})
            assert failed.is_error and "boom" in _text(failed)  # the upstream's isError result
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("nope", {})
            assert unknown.value.error.code == INVALID_PARAMS
        assert alpha.calls["add"] == 1 and alpha.calls["fail"] == 1


@pytest.mark.parametrize("mode", MODES)
async def test_aggregate_prefixes_tools_with_their_server(tmp_path: Path, mode: str) -> None:
    async with (
        serve_mcp(demo_server("alpha")) as alpha,
        serve_mcp(demo_server("beta")) as beta,
        mcp_gateway(tmp_path) as gw,
    ):
        await register(gw, "alpha", alpha.url)
        await register(gw, "beta", beta.url)
        key = await create_key(gw)
        async with sdk_client(gw.url + "/api/mcp", key, mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"alpha__echo", "beta__echo", "alpha__increment", "beta__slow"} <= names
            assert len(names) == 10
            assert _text(await client.call_tool("beta__increment", {"by": 5})) == "5"
            assert _text(await client.call_tool("alpha__echo", {"text": "hi"})) == "hi"
        assert beta.calls["increment"] == 1 and alpha.calls["increment"] == 0
        assert alpha.calls["echo"] == 1 and beta.calls["echo"] == 0


@pytest.mark.parametrize("mode", MODES)
async def test_keys_filter_and_refuse_tools(tmp_path: Path, mode: str) -> None:
    async with (
        serve_mcp(demo_server("alpha")) as alpha,
        serve_mcp(demo_server("beta")) as beta,
        mcp_gateway(tmp_path) as gw,
    ):
        await register(gw, "alpha", alpha.url)
        await register(gw, "beta", beta.url, teams=["search"])
        narrow = await create_key(
            gw, tools={"mcp_servers": ["alpha"], "mcp_tools": ["alpha__echo", "alpha__a*"]}
        )
        searcher = await create_key(gw, team="search")
        async with sdk_client(gw.url + "/api/mcp", narrow, mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"alpha__echo", "alpha__add"}
            with pytest.raises(MCPError) as refused:
                await client.call_tool("alpha__increment", {})
            assert refused.value.error.code == FORBIDDEN
            assert "may not call tool 'increment'" in refused.value.error.message
            with pytest.raises(MCPError) as hidden:  # another server: not even named
                await client.call_tool("beta__echo", {"text": "x"})
            assert hidden.value.error.code == INVALID_PARAMS
        with pytest.raises(Exception):  # noqa: B017  # its own endpoint refuses the connection
            async with sdk_client(gw.url + "/api/mcp/beta", narrow, mode) as client:
                await client.list_tools()
        async with sdk_client(gw.url + "/api/mcp", searcher, mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "beta__echo" in names and "alpha__echo" in names  # the team's server too
        assert alpha.calls["increment"] == 0 and beta.calls["echo"] == 0


@pytest.mark.parametrize("mode", MODES)
async def test_idempotent_results_are_cached_mutating_ones_never(tmp_path: Path, mode: str) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        key = await create_key(gw)
        no_cache = await create_key(gw, cache={"mode": "off"})
        async with sdk_client(gw.url + "/api/mcp/alpha", key, mode) as client:
            for _ in range(3):
                assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {
                    "result": 3
                }
                await settle()  # the cache write happens after the response
            assert alpha.calls["add"] == 1
            await client.call_tool("add", {"a": 2, "b": 2})  # other arguments: a miss
            assert alpha.calls["add"] == 2
            counts = [_text(await client.call_tool("increment", {})) for _ in range(3)]
            assert counts == ["1", "2", "3"] and alpha.calls["increment"] == 3
            for _ in range(2):
                await client.call_tool("fail", {"message": "x"})  # isError: never cached
                await settle()
            assert alpha.calls["fail"] == 2
        async with sdk_client(gw.url + "/api/mcp/alpha", no_cache, mode) as client:
            await client.call_tool("add", {"a": 1, "b": 2})  # the key's cache is off
        async with sdk_client(
            gw.url + "/api/mcp/alpha", key, mode, **{"Cache-Control": "no-cache"}
        ) as client:
            await client.call_tool("add", {"a": 1, "b": 2})  # the client asked for fresh
        assert alpha.calls["add"] == 4


@pytest.mark.parametrize("mode", MODES)
async def test_a_server_that_goes_down(tmp_path: Path, mode: str) -> None:
    async with (
        serve_mcp(demo_server("alpha")) as alpha,
        serve_mcp(demo_server("beta")) as beta,
        mcp_gateway(tmp_path) as gw,
    ):
        await register(gw, "alpha", alpha.url)
        await register(gw, "beta", beta.url)
        key = await create_key(gw)
        async with sdk_client(gw.url + "/api/mcp", key, mode) as client:
            assert len((await client.list_tools()).tools) == 10
            await alpha.stop()
            with pytest.raises(MCPError) as down:
                await client.call_tool("alpha__increment", {})
            assert down.value.error.code == UPSTREAM_UNAVAILABLE
            assert "'alpha'" in down.value.error.message
            assert down.value.error.data == {"server": "alpha"}
            assert _text(await client.call_tool("beta__echo", {"text": "still here"})) == (
                "still here"
            )
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names and all(name.startswith("beta__") for name in names)
        with pytest.raises(Exception):  # noqa: B017  # its own endpoint: the error names it
            async with sdk_client(gw.url + "/api/mcp/alpha", key, mode) as client:
                await client.list_tools()
        await asyncio.sleep(0)
        assert beta.calls["echo"] == 1
