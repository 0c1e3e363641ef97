"""MCP header values and the `x-mcp-header` schema walk, shared by both ends of the gateway (as the
official SDK shares mcp.shared.inbound): the upstream client emits `Mcp-Name` / `Mcp-Param-*`
headers with them, the server side checks the headers it receives against the body with them.

Header values: printable ASCII travels as is, anything else inside a `=?base64?...?=` sentinel.
Schema walk: every `x-mcp-header` annotation on a pure `properties` path of a tool's input schema
maps that argument to a header token; one invalid annotation invalidates the whole map (the spec
says a client MUST then drop the tool). Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

from gateway.core.mcp_protocol import PARAM_HEADER_PREFIX

X_MCP_HEADER: Final = "x-mcp-header"

_HEADER_SAFE = re.compile(r"^[\x20-\x7E]*$")
_B64_SENTINEL = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_TYPES = frozenset({"string", "integer", "boolean"})
_SUB_ONE = frozenset(
    {
        "items",
        "contains",
        "unevaluatedItems",
        "additionalProperties",
        "propertyNames",
        "unevaluatedProperties",
        "not",
        "if",
        "then",
        "else",
        "contentSchema",
    }
)
_SUB_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUB_MAP = frozenset({"patternProperties", "dependentSchemas", "$defs", "definitions"})

Path = tuple[str, ...]
HeaderMap = dict[Path, str]


class HeaderField(NamedTuple):
    """One annotated argument: its header token and its schema type."""

    token: str
    type: str


# --- header values -------------------------------------------------------------------------------


def encode_header_value(value: str) -> str:
    """Printable ASCII passes as is; anything else in the `=?base64?...?=` sentinel."""
    if _HEADER_SAFE.fullmatch(value) and value == value.strip() and not _B64_SENTINEL.match(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def decode_header_value(value: str | None) -> str | None:
    """A header value, or the UTF-8 text inside its `=?base64?...?=` sentinel (None if corrupt)."""
    if value is None:
        return None
    match = _B64_SENTINEL.fullmatch(value)
    if match is None:
        return value
    payload = match.group("payload")
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def render(value: Any) -> str | None:
    """An argument as a header carries it (before encoding); None for one no header can carry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        return None
    try:
        return str(value)
    except ValueError:  # an int beyond the int-to-str digit limit
        return None


# --- the x-mcp-header schema walk ----------------------------------------------------------------


def _positions(root: Any) -> Iterator[tuple[Path | None, dict[str, Any]]]:
    """Every schema position with its pure `properties` path (None once another applicator is
    crossed), without dereferencing `$ref`: the walk the SDK does, so both ends agree."""
    stack: list[tuple[Path | None, Any]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield path, node
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    stack.append(((*path, name) if path is not None else None, sub))
            elif key in _SUB_ONE:
                stack.append((None, value))
            elif key in _SUB_LIST and isinstance(value, list):
                stack.extend((None, sub) for sub in value)
            elif key in _SUB_MAP and isinstance(value, dict):
                stack.extend((None, sub) for sub in value.values())


def header_fields(input_schema: Any) -> dict[Path, HeaderField] | None:
    """Property path -> (header token, schema type) for each `x-mcp-header` annotation; None when
    any annotation is invalid."""
    found: dict[Path, HeaderField] = {}
    seen: set[str] = set()
    for path, schema in _positions(input_schema):
        if X_MCP_HEADER not in schema:
            continue
        token = schema[X_MCP_HEADER]
        if not path or not isinstance(token, str) or not _TOKEN.fullmatch(token):
            return None
        schema_type = schema.get("type")
        if schema_type not in _HEADER_TYPES or token.lower() in seen:
            return None
        seen.add(token.lower())
        found[path] = HeaderField(token, schema_type)
    return found


def header_map(input_schema: Any) -> HeaderMap | None:
    """Property path -> header token for each `x-mcp-header` annotation; None when any annotation
    is invalid (the modern spec says a client MUST then drop the tool)."""
    fields = header_fields(input_schema)
    return None if fields is None else {path: field.token for path, field in fields.items()}


def value_at(arguments: Mapping[str, Any], path: Path) -> Any:
    """The argument at a property path, or None when absent."""
    node: Any = arguments
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def param_headers(mapping: HeaderMap, arguments: Mapping[str, Any]) -> dict[str, str]:
    """The `Mcp-Param-*` headers a tools/call mirrors from its arguments (absent values skipped)."""
    headers: dict[str, str] = {}
    for path, token in mapping.items():
        rendered = render(value_at(arguments, path))
        if rendered is not None:
            headers[PARAM_HEADER_PREFIX + token] = encode_header_value(rendered)
    return headers
