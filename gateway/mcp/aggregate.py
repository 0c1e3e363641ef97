"""Which tools a caller sees, and which server and tool a call names.

`/api/mcp/NAME` shows one server's tools under their own names; `/api/mcp` shows every server the
key may use, each tool named `NAME__tool`. Both are filtered by the key's (and its team's) access
before anyone sees them. A server that is down is left out of the aggregate (the others are
listed); on its own endpoint it is a JSON-RPC error naming it. Tool lists come from the registry,
which refreshes them in the background; a server never listed yet, or a tool missing from the
last list, triggers one refresh before the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.core.keys import VirtualKey
from gateway.core.mcp_protocol import FORBIDDEN, UPSTREAM_UNAVAILABLE, RpcError, unknown_tool
from gateway.core.tool_access import TOOL_SEPARATOR, server_allowed, tool_allowed, tool_name
from gateway.core.toolspecs import McpServerSpec
from gateway.mcp.upstream import McpUpstream


class LiveServerView(Protocol):
    """What the endpoint reads of gateway.mcp.live.LiveServer (and sets: health)."""

    spec: McpServerSpec
    upstream: McpUpstream
    tools: list[dict[str, Any]]
    healthy: bool
    last_error: str | None
    refreshed_at: float | None

    def tool(self, name: str) -> dict[str, Any] | None: ...

    def mark_failed(self, error: str, now: float) -> None: ...

    def mark_ok(self, now: float) -> None: ...


class RegistryView(Protocol):
    """What the endpoint uses of gateway.mcp.live.ToolRegistry (state.registry)."""

    def server(self, name: str) -> LiveServerView | None: ...

    def servers(self) -> Sequence[LiveServerView]: ...

    async def refresh_tools(self, name: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """What a tools/call resolved to."""

    live: LiveServerView
    tool: str  # the upstream's own name
    definition: dict[str, Any] | None  # as listed (annotations: whether it may be cached)

    @property
    def server(self) -> str:
        return self.live.spec.name


def unavailable(server: str, reason: str | None) -> RpcError:
    """The error for a server that is down; names it once (the client's reasons often do)."""
    reason = reason or "unavailable"
    message = (
        reason if repr(server) in reason else f"MCP server {server!r} is unavailable: {reason}"
    )
    return RpcError(UPSTREAM_UNAVAILABLE, message, {"server": server})


def may_use_server(key: VirtualKey | None, live: LiveServerView) -> bool:
    return key is None or server_allowed(key, live.spec.name, live.spec.teams)


def _may_use_tool(key: VirtualKey | None, server: str, tool: str) -> bool:
    return key is None or tool_allowed(key, server, tool)


async def _ensure_listed(registry: RegistryView, live: LiveServerView) -> None:
    """Refresh a server's tools when it has never been listed, or was down at the last look."""
    if live.refreshed_at is None or not live.healthy:
        await registry.refresh_tools(live.spec.name)


async def list_one(
    registry: RegistryView, live: LiveServerView, key: VirtualKey | None
) -> list[dict[str, Any]]:
    await _ensure_listed(registry, live)
    if not live.healthy:
        raise unavailable(live.spec.name, live.last_error)
    server = live.spec.name
    return [t for t in live.tools if _may_use_tool(key, server, str(t.get("name")))]


async def list_all(registry: RegistryView, key: VirtualKey | None) -> list[dict[str, Any]]:
    visible = [live for live in registry.servers() if may_use_server(key, live)]
    stale = [live for live in visible if live.refreshed_at is None]
    if stale:  # first sight of a server: list it now (the background loop keeps it fresh)
        await asyncio.gather(*(registry.refresh_tools(live.spec.name) for live in stale))
    tools: list[dict[str, Any]] = []
    for live in visible:
        if not live.healthy:
            continue  # down: left out, the others are still listed
        server = live.spec.name
        for tool in live.tools:
            name = str(tool.get("name"))
            if _may_use_tool(key, server, name):
                tools.append({**tool, "name": tool_name(server, name)})
    return tools


def split_name(scope: str | None, name: str) -> tuple[str, str]:
    """(server, tool) a call names: its endpoint's server, or the `NAME__` prefix (empty parts
    when the aggregate name has none)."""
    if scope is not None:
        return scope, name
    server, sep, tool = name.partition(TOOL_SEPARATOR)
    return (server, tool) if sep else ("", "")


async def resolve(
    registry: RegistryView, scope: str | None, name: str, key: VirtualKey | None
) -> Target:
    """The server and tool a tools/call names; raises the MCP error a client should see."""
    server, tool = split_name(scope, name)
    if not server or not tool:
        raise unknown_tool(name)
    live = registry.server(server)
    if live is None or (not may_use_server(key, live) and scope is None):
        raise unknown_tool(name)  # an aggregate never reveals servers the key cannot see
    if not may_use_server(key, live) or not _may_use_tool(key, server, tool):
        raise RpcError(
            FORBIDDEN,
            f"this API key may not call tool {tool!r} on MCP server {server!r}",
            {"server": server, "tool": tool},
        )
    definition = live.tool(tool)
    if definition is None:
        await registry.refresh_tools(server)
        if not live.healthy:
            raise unavailable(live.spec.name, live.last_error)
        definition = live.tool(tool)
        if definition is None:
            raise unknown_tool(name)
    return Target(live, tool, definition)
