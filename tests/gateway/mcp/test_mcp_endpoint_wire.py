"""The MCP endpoint on the wire, where the SDK client hides it: HTTP statuses and headers of each
era, the modern ladder's refusals, handshake-era sessions (bound to the key, ended by DELETE),
the x-smartflow-* headers, and what is not served (GET, batches, unknown servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import aiohttp
import pytest
from mcp.server.mcpserver import MCPServer
from mcp_e2e import (
    create_key,
    mcp_gateway,
    modern_body,
    modern_call,
    modern_headers,
    raw_call,
    register,
    sdk_client,
    settle,
)
from multidict import CIMultiDict
from pydantic import Field

from gateway.core.mcp_protocol import (
    HEADER_MISMATCH,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
)

from support.mcp_servers import demo_server, serve_mcp

pytestmark = pytest.mark.e2e

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "wire-test", "version": "1"},
    },
}


async def test_modern_era_statuses_and_headers(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        key = await create_key(gw)
        url = gw.url + "/api/mcp/alpha"
        status, headers, body = await raw_call(
            url, key, modern_body("server/discover"), modern_headers("server/discover")
        )
        assert status == 200 and body["result"]["supportedVersions"] == ["2026-07-28"]
        status, headers, body = await modern_call(url, key, "add", {"a": 1, "b": 1})
        assert status == 200 and headers["x-smartflow-cache"] == "miss"
        assert headers["x-smartflow-request-id"].startswith("req_")
        assert float(headers["x-smartflow-overhead-ms"]) >= 0
        await settle()
        status, headers, body = await modern_call(url, key, "add", {"a": 1, "b": 1})
        assert headers["x-smartflow-cache"] == "hit-exact"
        assert body["result"]["structuredContent"] == {"result": 2}
        _, headers, _ = await modern_call(url, key, "increment", {})
        assert headers["x-smartflow-cache"] == "bypass"
        status, _, body = await modern_call(url, key, "nope", {})
        assert status == 400 and body["error"]["message"] == "Unknown tool: nope"
        ping = await raw_call(url, key, modern_body("ping"), modern_headers("ping"))
        assert ping[0] == 404 and ping[2]["error"]["code"] == METHOD_NOT_FOUND
        assert alpha.calls["add"] == 1


async def test_modern_ladder_refusals(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        key = await create_key(gw)
        url = gw.url + "/api/mcp/alpha"
        headers = {**modern_headers("tools/list"), "MCP-Protocol-Version": "2099-01-01"}
        status, _, body = await raw_call(url, key, modern_body("tools/list"), headers)
        assert status == 400 and body["error"]["code"] == HEADER_MISMATCH
        body_v = modern_body("tools/list")
        body_v["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
        status, _, body = await raw_call(url, key, body_v, headers)
        assert status == 400 and body["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION
        assert body["error"]["data"] == {"supported": ["2026-07-28"], "requested": "2099-01-01"}
        status, _, body = await modern_call(url, key, "echo", {"text": "x"}, **{"Mcp-Name": "add"})
        assert status == 400 and body["error"]["code"] == HEADER_MISMATCH
        twice = CIMultiDict({"Authorization": f"Bearer {key}", **modern_headers("tools/list")})
        twice.add("Mcp-Method", "tools/list")
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json=modern_body("tools/list"), headers=twice) as response,
        ):
            assert response.status == 400
            error = (await response.json())["error"]
            assert error["code"] == HEADER_MISMATCH and "more than once" in error["message"]
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {}}
        assert (await raw_call(url, key, note, modern_headers("x")))[0] == 202
        assert alpha.calls["echo"] == 0


async def test_handshake_sessions(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        key, other = await create_key(gw), await create_key(gw)
        url = gw.url + "/api/mcp/alpha"
        status, headers, body = await raw_call(url, key, INIT)
        assert status == 200 and body["result"]["protocolVersion"] == "2025-06-18"
        assert body["result"]["serverInfo"]["name"] == "smartflow/alpha"
        session = {
            "Mcp-Session-Id": headers["Mcp-Session-Id"],
            "MCP-Protocol-Version": "2025-06-18",
        }
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await raw_call(url, key, note, session))[0] == 202
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert (await raw_call(url, key, ping, session))[2] == {
            "jsonrpc": "2.0",
            "id": 1,
            "result": {},
        }
        listed = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        status, _, body = await raw_call(url, key, listed, session)
        assert status == 200 and "resultType" not in body["result"]
        assert (await raw_call(url, other, listed, session))[0] == 404  # not its session
        assert (await raw_call(gw.url + "/api/mcp", key, listed, session))[0] == 404
        unknown = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope"}}
        status, _, body = await raw_call(url, key, unknown, session)
        assert status == 200 and body["error"]["code"] == -32602  # inside a 200, as the SDK
        async with aiohttp.ClientSession() as http:
            auth = {"Authorization": f"Bearer {key}", **session}
            async with http.delete(url, headers=auth) as response:
                assert response.status == 200
        assert (await raw_call(url, key, listed, session))[0] == 404  # ended
        assert (await raw_call(url, key, listed))[0] == 200  # no session: stateless, lenient


async def test_what_is_not_served(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        key = await create_key(gw)
        async with (
            aiohttp.ClientSession() as http,
            http.get(gw.url + "/api/mcp", headers={"Authorization": f"Bearer {key}"}) as response,
        ):
            assert response.status == 405 and "POST" in response.headers["Allow"]
        batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}]
        status, _, body = await raw_call(gw.url + "/api/mcp", key, batch)
        assert status == 400 and body["error"]["code"] == INVALID_REQUEST
        assert "batches are not supported" in body["error"]["message"]
        status, _, body = await raw_call(gw.url + "/api/mcp/nothere", key, INIT)
        assert status == 404 and "nothere" in body["error"]["message"]
        status, _, _ = await raw_call(
            gw.url + "/api/mcp", key, INIT, {"Accept": "text/event-stream"}
        )
        assert status == 406
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                gw.url + "/api/mcp",
                data=b"{oops",
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            ) as response,
        ):
            assert response.status == 400
            assert (await response.json())["error"]["code"] == -32700
        assert alpha.calls.total() == 0


def _routed_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(name="routed", log_level="WARNING")

    @server.tool()
    def where(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
        size: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Size"})] = 1,
    ) -> str:
        """A tool whose arguments are mirrored in Mcp-Param-* headers (x-mcp-header)."""
        return f"{region}:{size}"

    return server


async def test_mcp_param_headers_are_checked_as_the_sdk_does(tmp_path: Path) -> None:
    async with serve_mcp(_routed_server()) as routed, mcp_gateway(tmp_path) as gw:
        await register(gw, "routed", routed.url)
        key = await create_key(gw)
        async with sdk_client(gw.url + "/api/mcp", key, "auto") as client:  # sends the headers
            result = await client.call_tool("routed__where", {"region": "eu-west", "size": 3})
            assert result.content[0].text == "eu-west:3"  # type: ignore[union-attr]
        cases = [
            ({"Mcp-Param-Region": "eu-west", "Mcp-Param-Size": "3"}, 200),
            ({"Mcp-Param-Region": "eu-west", "Mcp-Param-Size": "3.0"}, 200),
            ({"Mcp-Param-Region": "=?base64?ZXUtd2VzdA==?=", "Mcp-Param-Size": "3"}, 200),
            ({"Mcp-Param-Size": "3"}, 400),
            ({"Mcp-Param-Region": "us-east", "Mcp-Param-Size": "3"}, 400),
            ({"Mcp-Param-Region": "=?base64?!!?=", "Mcp-Param-Size": "3"}, 400),
        ]
        arguments = {"region": "eu-west", "size": 3}
        for headers, expected in cases:
            through = await modern_call(
                gw.url + "/api/mcp/routed", key, "where", arguments, **headers
            )
            direct = await modern_call(routed.url, None, "where", arguments, **headers)
            assert through[0] == direct[0] == expected, (headers, through[2], direct[2])
            if expected == 400:
                assert through[2]["error"] == direct[2]["error"], headers
