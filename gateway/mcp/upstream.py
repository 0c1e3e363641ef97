"""The gateway's client for one upstream MCP server: the interface the registry and the MCP
endpoint use, whatever the transport (Streamable HTTP or a stdio child process).

Two failures are kept apart because callers treat them differently: `McpUnavailable` means the
server could not be reached or did not speak MCP (it is marked unhealthy, other servers keep
working), `McpUpstreamError` means it answered with a JSON-RPC error, which is relayed to the
client as that error. Neither ever carries a credential: messages name the server and, for
configuration problems, the environment variable, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from gateway.core.toolspecs import McpServerSpec
from gateway.mcp.upstream_http import HttpUpstream
from gateway.mcp.upstream_stdio import StdioUpstream
from gateway.mcp.upstream_wire import McpUnavailable, McpUpstreamError

__all__ = ["McpUnavailable", "McpUpstream", "McpUpstreamError", "open_upstream"]


class McpUpstream(Protocol):
    """One connection-like handle on an upstream; negotiates lazily on first use."""

    @property
    def protocol_version(self) -> str | None:
        """The negotiated protocol version, None before the first exchange."""
        ...

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every tool the server lists, all pages (nextCursor) followed."""
        ...

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The CallToolResult JSON as the server sent it (an isError result included)."""
        ...

    async def close(self) -> None:
        """End the session (and the child process for stdio); idempotent."""
        ...


def open_upstream(
    spec: McpServerSpec,
    *,
    session: aiohttp.ClientSession,
    env: Mapping[str, str],
    allow_stdio: bool,
) -> McpUpstream:
    """A client for `spec`. Nothing is sent until the first call, so opening never fails on the
    network; a stdio spec when stdio is not allowed fails here, as configuration."""
    if spec.transport == "stdio":
        if not allow_stdio:
            raise McpUnavailable(
                f"MCP server {spec.name!r} is a stdio server and stdio servers are disabled "
                "(set SMARTFLOW_MCP_STDIO=true to allow the gateway to start them)"
            )
        return StdioUpstream(spec, env=env)
    return HttpUpstream(spec, session=session, env=env)
