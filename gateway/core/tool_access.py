"""Which MCP servers, MCP tools and A2A agents a virtual key may reach.

Two gates, both must pass. The operator's: a server or agent registered with `teams` serves
keys of those teams only (a key without a team cannot reach it). The key's: `key.tools` names the
servers, tool patterns and agents it may use (None: every one). Tool patterns are fnmatch
patterns over the aggregated name "server__tool", matched case-sensitively, so `github__*`
allows one server's tools and `*__read_*` a kind of tool across servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from gateway.core.keys import VirtualKey

TOOL_SEPARATOR = "__"


def tool_name(server: str, tool: str) -> str:
    """The name a tool has on the aggregated endpoint and in key patterns."""
    return f"{server}{TOOL_SEPARATOR}{tool}"


def team_allowed(key: VirtualKey, teams: Sequence[str] | None) -> bool:
    """The operator's gate: None lets every key through, else the key's team must be listed."""
    return teams is None or (key.team is not None and key.team in teams)


def server_allowed(key: VirtualKey, server: str, teams: Sequence[str] | None) -> bool:
    """May this key use the MCP server at all (list its tools, call any of them)?"""
    allowed = key.tools.mcp_servers
    return team_allowed(key, teams) and (allowed is None or server in allowed)


def tool_allowed(key: VirtualKey, server: str, tool: str) -> bool:
    """May this key see and call `tool` on `server`? Checks the key's server list and tool
    patterns; the server's team restriction is `server_allowed`'s (call both)."""
    servers = key.tools.mcp_servers
    if servers is not None and server not in servers:
        return False
    patterns = key.tools.mcp_tools
    if patterns is None:
        return True
    name = tool_name(server, tool)
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def agent_allowed(key: VirtualKey, agent: str, teams: Sequence[str] | None) -> bool:
    """May this key reach the A2A agent (its card, its tasks)?"""
    allowed = key.tools.a2a_agents
    return team_allowed(key, teams) and (allowed is None or agent in allowed)
