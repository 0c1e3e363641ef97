"""A virtual key's MCP servers, MCP tools and A2A agents for `sfctl keys create|update|show`:
the options, the `tools` object they become, and the rows the key's table shows.

Each option is repeatable and names the whole list for its field: `--mcp-server github
--mcp-server jira`. `'*'` alone means every one (the default, null in the API) and `'-'` alone
none (an empty list); neither is a valid server or agent name. The management API replaces a
key's whole `tools` object on update, so `sfctl keys update` merges the fields given into the
key's current object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import typer

from sfctl.errors import UsageError

EVERY = "*"
NONE = "-"

MCP_SERVER = typer.Option(
    None,
    "--mcp-server",
    metavar="NAME",
    help="An MCP server the key may use (repeatable; '*': every one, the default; '-': none).",
)
MCP_TOOL = typer.Option(
    None,
    "--mcp-tool",
    metavar="PATTERN",
    help="Tools the key may call, as server__tool patterns (repeatable; github__*, *__read_*; "
    "'*': every tool, the default; '-': none).",
)
A2A_AGENT = typer.Option(
    None,
    "--a2a-agent",
    metavar="NAME",
    help="An A2A agent the key may reach (repeatable; '*': every one, the default; '-': none).",
)
_OPTIONS = {"mcp_servers": "--mcp-server", "mcp_tools": "--mcp-tool", "a2a_agents": "--a2a-agent"}
_LABELS = {"mcp_servers": "mcp servers", "mcp_tools": "mcp tools", "a2a_agents": "a2a agents"}


def parse_names(values: Sequence[str], option: str) -> list[str] | None:
    """One option's values as the API's list: None for every one, [] for none."""
    names = [value.strip() for value in values]
    if EVERY in names or NONE in names:
        if len(names) > 1:
            raise UsageError(f"{option} '{EVERY}' or '{NONE}' stands alone")
        return None if names[0] == EVERY else []
    if any(not name for name in names):
        raise UsageError(f"{option}: a value must not be empty")
    return list(dict.fromkeys(names))  # in order, each once


def tools_options(
    servers: Sequence[str] | None, tools: Sequence[str] | None, agents: Sequence[str] | None
) -> dict[str, Any]:
    """The `tools` fields the options set; {} when none was given."""
    given = {"mcp_servers": servers, "mcp_tools": tools, "a2a_agents": agents}
    return {
        field: parse_names(values, _OPTIONS[field])
        for field, values in given.items()
        if values  # typer gives None or [] for an option not used
    }


def _names_text(names: Sequence[str] | None) -> str:
    return "all" if names is None else ", ".join(names) or "none"


def tools_rows(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The key table's rows: "all" (every one), "none", or the names and patterns."""
    tools = record.get("tools") or {}
    return [(label, _names_text(tools.get(field))) for field, label in _LABELS.items()]
