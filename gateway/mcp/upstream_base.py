"""Version negotiation and the tool calls, shared by the HTTP and stdio upstream transports.

The negotiation follows the official `mcp` 2.3 client in `mode='auto'` (mcp/client/_probe.py):
probe `server/discover` at the newest modern version with the per-request `_meta` envelope; a
result naming a modern version we speak adopts it (every later request carries the envelope and,
over HTTP, the routing headers); anything else that is not a transport failure falls back to the
`initialize` handshake. It runs once, on first use, under a lock, so the hot path is one request
and a few dict operations; it runs again only when a handshake-era session is lost (HTTP 404 on
our session id), once, and then the request is retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.core.mcp_headers import HeaderMap, encode_header_value, header_map, param_headers
from gateway.core.mcp_protocol import (
    HANDSHAKE_VERSIONS,
    HEADER_MISMATCH,
    LATEST_HANDSHAKE_VERSION,
    LATEST_MODERN_VERSION,
    METHOD_HEADER,
    MODERN_VERSIONS,
    NAME_HEADER,
    PROTOCOL_VERSION_HEADER,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from gateway.mcp.upstream_wire import (
    CLIENT_CAPABILITIES,
    CLIENT_INFO,
    McpUnavailable,
    McpUpstreamError,
    error_of,
    modern_meta,
)

MAX_PAGES = 1000  # a paginator that never ends cannot hang a listing


class SessionLost(Exception):
    """The server no longer knows our handshake-era session (HTTP 404 on a known session id)."""


def _supported(data: Any) -> list[str] | None:
    """`data.supported` of an unsupported-protocol-version error, if well formed."""
    if isinstance(data, Mapping):
        supported = data.get("supported")
        if isinstance(supported, list) and all(isinstance(v, str) for v in supported):
            return supported
    return None


class UpstreamBase:
    """An MCP client over some transport. Subclasses implement `_connect` (credentials, process),
    `_roundtrip` (one request -> its response message), `_notify` and `_disconnect`."""

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.protocol_version: str | None = None
        self._modern = False
        self._meta: dict[str, Any] = {}
        self._maps: dict[str, HeaderMap] = {}
        self._next_id = 0
        self._generation = 0
        self._lock = asyncio.Lock()
        self._closed = False

    # --- transport hooks ---------------------------------------------------------------------

    async def _connect(self) -> None:
        """Get ready for a fresh negotiation (resolve credentials, start the process)."""

    def _connected(self) -> bool:
        """False when the transport is gone and a new negotiation must reconnect it."""
        return True

    async def _roundtrip(
        self, request_id: int, method: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, Any]:
        """Send one request; return the response message (with `result` or `error`)."""
        raise NotImplementedError

    async def _notify(self, method: str, body: bytes, headers: dict[str, str]) -> None:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        """Release the transport's resources (end the session, stop the process)."""

    # --- the public interface ----------------------------------------------------------------

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every page of tools/list. In the modern era a tool whose `x-mcp-header` annotations
        are invalid is dropped, as the spec requires of clients (and the SDK client does)."""
        tools: list[dict[str, Any]] = []
        cursor: Any = None
        for _ in range(MAX_PAGES):
            result = await self._request("tools/list", {} if cursor is None else {"cursor": cursor})
            page = result.get("tools")
            if not isinstance(page, list):
                raise McpUnavailable(f"MCP server {self.name!r} sent a malformed tools/list result")
            tools.extend(tool for tool in page if isinstance(tool, dict))
            cursor = result.get("nextCursor")
            if cursor is None or cursor == "":
                break
        if not self._modern:
            return tools
        kept, maps = [], {}
        for tool in tools:
            mapping = header_map(tool.get("inputSchema"))
            if mapping is not None:
                kept.append(tool)
                if mapping:
                    maps[str(tool.get("name"))] = mapping
        self._maps = maps
        return kept

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The CallToolResult as sent. A modern server that finds our `Mcp-Param-*` headers wrong
        (the tool's schema changed since we listed it) is re-listed once, then retried."""
        params = {"name": name, "arguments": arguments}
        try:
            return await self._request("tools/call", params)
        except McpUpstreamError as exc:
            if exc.code != HEADER_MISMATCH or not self._modern:
                raise
        await self.list_tools()
        return await self._request("tools/call", params)

    async def close(self) -> None:
        """Idempotent; later calls fail with McpUnavailable."""
        self._closed = True
        async with self._lock:
            await self._disconnect()
            self.protocol_version = None

    # --- requests ----------------------------------------------------------------------------

    async def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """One request in the negotiated era; a lost session is re-initialised once."""
        for attempt in range(2):
            generation = await self._ready()
            try:
                headers = self._headers(method, params)
                return await self._raw(method, self._envelope(params), headers)
            except SessionLost:
                if attempt:
                    raise McpUnavailable(
                        f"MCP server {self.name!r} lost the session again after re-initialising"
                    ) from None
                async with self._lock:
                    if self._generation == generation:  # nobody re-negotiated meanwhile
                        self.protocol_version = None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _ready(self) -> int:
        if self._closed:
            raise McpUnavailable(f"MCP server {self.name!r}: the client was closed")
        if self.protocol_version is None or not self._connected():
            async with self._lock:
                if self.protocol_version is None or not self._connected():
                    self.protocol_version = None
                    await self._connect()
                    await self._negotiate()
                    self._generation += 1
        return self._generation

    def _envelope(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "_meta": self._meta} if self._modern else params

    def _headers(self, method: str, params: dict[str, Any]) -> dict[str, str]:
        version = self.protocol_version or LATEST_HANDSHAKE_VERSION
        if not self._modern:
            return {PROTOCOL_VERSION_HEADER: version}
        headers = {PROTOCOL_VERSION_HEADER: version, METHOD_HEADER: method}
        if method == "tools/call":
            name = params["name"]
            headers[NAME_HEADER] = encode_header_value(name)
            mapping = self._maps.get(name)
            if mapping:
                headers.update(param_headers(mapping, params.get("arguments") or {}))
        return headers

    async def _raw(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        frame = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        body = orjson.dumps(frame)
        message = await self._roundtrip(request_id, method, body, headers)
        if "error" in message:
            raise error_of(message)
        result = message.get("result")
        if not isinstance(result, dict):
            raise McpUnavailable(f"MCP server {self.name!r} sent a malformed {method} result")
        return result

    # --- negotiation -------------------------------------------------------------------------

    async def _negotiate(self) -> None:
        """mode='auto' of the SDK client: discover, else initialize (one corrective re-probe)."""
        version = LATEST_MODERN_VERSION
        for attempt in range(2):
            meta = modern_meta(version)
            headers = {PROTOCOL_VERSION_HEADER: version, METHOD_HEADER: "server/discover"}
            try:
                result = await self._raw("server/discover", {"_meta": meta}, headers)
            except McpUpstreamError as exc:
                if exc.code == UNSUPPORTED_PROTOCOL_VERSION:
                    supported = _supported(exc.data)
                    mutual = [v for v in MODERN_VERSIONS if v in (supported or ())]
                    if mutual and attempt == 0:
                        version = mutual[-1]
                        continue
                    if supported is not None and not set(supported) & set(HANDSHAKE_VERSIONS):
                        raise self._incompatible(supported) from None
                reprobe = await self._initialize(attempt)
                if reprobe is None:
                    return
                version = reprobe
                continue
            offered = result.get("supportedVersions")
            mutual = [v for v in MODERN_VERSIONS if isinstance(offered, list) and v in offered]
            if not mutual:  # discover answered, but only handshake versions: a legacy server
                await self._initialize(1)
                return
            self._adopt(mutual[-1], modern=True)
            return
        raise McpUnavailable(f"MCP server {self.name!r}: protocol version negotiation failed")

    async def _initialize(self, attempt: int) -> str | None:
        """The handshake; None when done, or a modern version to re-probe at (a server that
        answers the handshake with -32022 naming modern versions is modern after all)."""
        params = {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": CLIENT_CAPABILITIES,
            "clientInfo": CLIENT_INFO,
        }
        try:
            result = await self._raw("initialize", params, {})
        except McpUpstreamError as exc:
            mutual = [v for v in MODERN_VERSIONS if v in (_supported(exc.data) or ())]
            if exc.code == UNSUPPORTED_PROTOCOL_VERSION and mutual and attempt == 0:
                return mutual[-1]
            raise McpUnavailable(
                f"MCP server {self.name!r} refused the initialize handshake: {exc.message}"
            ) from None
        version = result.get("protocolVersion")
        if not isinstance(version, str) or version not in HANDSHAKE_VERSIONS:
            raise self._incompatible([str(version)])
        self._adopt(version, modern=False)
        await self._notify(
            "notifications/initialized",
            orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            {PROTOCOL_VERSION_HEADER: version},
        )
        return None

    def _adopt(self, version: str, *, modern: bool) -> None:
        self._modern = modern
        self._meta = modern_meta(version) if modern else {}
        self.protocol_version = version

    def _incompatible(self, supported: list[str]) -> McpUnavailable:
        return McpUnavailable(
            f"MCP server {self.name!r} speaks no protocol version the gateway supports "
            f"(server: {', '.join(supported)})"
        )
