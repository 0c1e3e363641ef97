"""A virtual key's response-cache settings for `sfctl keys create|update|show`: the options, the
`cache` object they become, and the one line the key's table shows.

The management API replaces a key's whole `cache` object on update, so `sfctl keys update`
merges the options given into the key's current object. A key without a namespace shares
entries the gateway's way: with its team (team:<team>), else only with itself (key:<id>).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import typer

from sfctl.errors import UsageError

MODES = ("on", "exact", "off")
MAX_NAMESPACE = 200
BARE = re.compile(r"[^\s,'\"]+")  # a namespace shown unquoted in the one-line summary

CACHE = typer.Option(
    None,
    "--cache",
    metavar="on|exact|off",
    help="Response cache: on (every phase), exact (no semantic matches) or off. Default on.",
)
CACHE_NAMESPACE = typer.Option(
    None,
    "--cache-namespace",
    metavar="NAME",
    help="Share cached answers only with keys naming it (default: the team, else the key).",
)
CACHE_NAMESPACE_DEFAULT = typer.Option(
    False,
    "--cache-namespace-default",
    help="Forget the key's namespace: back to the team's, else the key's own.",
)
CACHE_TOOL_CALLS = typer.Option(
    None,
    "--cache-tool-calls/--no-cache-tool-calls",
    help="Cache answers that call tools (read-only tools only). Default no.",
)
CACHE_ANY_TEMPERATURE = typer.Option(
    None,
    "--cache-any-temperature/--no-cache-any-temperature",
    help="Cache requests above the gateway's temperature bound too. Default no.",
)


def cache_options(
    mode: str | None,
    namespace: str | None,
    tool_calls: bool | None,
    any_temperature: bool | None,
    *,
    namespace_default: bool = False,
) -> dict[str, Any]:
    """The `cache` fields the options set (namespace None: back to the default); {} for none."""
    if namespace is not None and namespace_default:
        raise UsageError("--cache-namespace cannot be combined with --cache-namespace-default")
    fields: dict[str, Any] = {}
    if mode is not None:
        if mode.strip().lower() not in MODES:
            raise UsageError(f"--cache {mode!r}: use on, exact or off")
        fields["mode"] = mode.strip().lower()
    if namespace is not None:
        if not namespace.strip():
            raise UsageError("--cache-namespace: name a namespace (or --cache-namespace-default)")
        if len(namespace) > MAX_NAMESPACE:
            raise UsageError(f"--cache-namespace: at most {MAX_NAMESPACE} characters")
        fields["namespace"] = namespace
    if namespace_default:
        fields["namespace"] = None
    if tool_calls is not None:
        fields["cache_tool_calls"] = tool_calls
    if any_temperature is not None:
        fields["any_temperature"] = any_temperature
    return fields


def default_namespace(record: Mapping[str, Any]) -> str:
    """The gateway's choice for a key without a namespace: its team's, else its own."""
    team = record.get("team")
    return f"team:{team}" if team is not None else f"key:{record['id']}"


def cache_text(record: Mapping[str, Any]) -> str:
    """One line: "on, namespace team:ml (default)", then the non-default choices."""
    cache = record.get("cache") or {}
    namespace = cache.get("namespace")
    if namespace is None:
        shown = f"{default_namespace(record)} (default)"
    else:
        shown = namespace if BARE.fullmatch(namespace) else repr(namespace)
    parts = [str(cache.get("mode", "on")), f"namespace {shown}"]
    if cache.get("cache_tool_calls"):
        parts.append("tool calls cached")
    if cache.get("any_temperature"):
        parts.append("any temperature")
    return ", ".join(parts)
