"""MCP wire details the upstream client shares across transports: the error classes, the protocol
versions and envelope keys (as `mcp_types` 2.3 names them; the gateway may not import the SDK),
`Mcp-Param-*` header mirroring from `x-mcp-header` schema annotations, and an incremental SSE
decoder. Pure functions and small classes: no I/O here."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from gateway import __version__

HANDSHAKE_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS: Final = ("2026-07-28",)
LATEST_HANDSHAKE: Final = HANDSHAKE_VERSIONS[-1]
LATEST_MODERN: Final = MODERN_VERSIONS[-1]

PROTOCOL_VERSION_META: Final = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META: Final = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META: Final = "io.modelcontextprotocol/clientCapabilities"

H_PROTOCOL_VERSION: Final = "MCP-Protocol-Version"
H_SESSION_ID: Final = "Mcp-Session-Id"
H_METHOD: Final = "Mcp-Method"
H_NAME: Final = "Mcp-Name"
H_PARAM_PREFIX: Final = "Mcp-Param-"

METHOD_NOT_FOUND: Final = -32601
INVALID_REQUEST: Final = -32600
INTERNAL_ERROR: Final = -32603
HEADER_MISMATCH: Final = -32020
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022

CLIENT_INFO: Final[dict[str, Any]] = {"name": "smartflow-gateway", "version": __version__}
# the gateway handles no server-initiated requests (sampling, elicitation, roots)
CLIENT_CAPABILITIES: Final[dict[str, Any]] = {}


class McpUnavailable(Exception):
    """Transport failure: refused, timed out, HTTP 5xx, bad framing, missing credential."""


class McpUpstreamError(Exception):
    """The upstream answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def modern_meta(version: str) -> dict[str, Any]:
    """The per-request `_meta` envelope of the modern era (built once per negotiation)."""
    return {
        PROTOCOL_VERSION_META: version,
        CLIENT_INFO_META: CLIENT_INFO,
        CLIENT_CAPABILITIES_META: CLIENT_CAPABILITIES,
    }


def error_of(message: Mapping[str, Any]) -> McpUpstreamError:
    """The JSON-RPC error in a response, as the exception callers see."""
    error = message.get("error")
    if not isinstance(error, Mapping):
        return McpUpstreamError(INTERNAL_ERROR, "malformed JSON-RPC error")
    code = error.get("code")
    text = error.get("message")
    return McpUpstreamError(
        code if isinstance(code, int) else INTERNAL_ERROR,
        text if isinstance(text, str) else "",
        error.get("data"),
    )


def is_response(message: Any, request_id: int | None) -> bool:
    """A response (result or error) to `request_id`; None accepts any id (a server that rejected
    the request before reading its id answers with `id: null`)."""
    if not isinstance(message, dict) or "method" in message:
        return False
    if "result" not in message and "error" not in message:
        return False
    return request_id is None or message.get("id") in (request_id, None)


# --- Mcp-Param-* headers -------------------------------------------------------------------------

_HEADER_SAFE = re.compile(r"^[\x20-\x7E]*$")
_B64_SENTINEL = re.compile(r"^=\?base64\?.*\?=$")
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
X_MCP_HEADER: Final = "x-mcp-header"
HeaderMap = dict[tuple[str, ...], str]


def encode_header_value(value: str) -> str:
    """Printable ASCII passes as is; anything else in the `=?base64?...?=` sentinel."""
    if _HEADER_SAFE.fullmatch(value) and value == value.strip() and not _B64_SENTINEL.match(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def _positions(root: Any) -> Iterator[tuple[tuple[str, ...] | None, dict[str, Any]]]:
    """Every schema position with its pure `properties` path (None once another applicator is
    crossed), without dereferencing `$ref`: the walk the SDK does, so both ends agree."""
    stack: list[tuple[tuple[str, ...] | None, Any]] = [((), root)]
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


def header_map(input_schema: Any) -> HeaderMap | None:
    """Property path -> header token for each `x-mcp-header` annotation; None when any annotation
    is invalid (the modern spec says a client MUST then drop the tool)."""
    found: HeaderMap = {}
    seen: set[str] = set()
    for path, schema in _positions(input_schema):
        if X_MCP_HEADER not in schema:
            continue
        token = schema[X_MCP_HEADER]
        if not path or not isinstance(token, str) or not _TOKEN.fullmatch(token):
            return None
        if schema.get("type") not in _HEADER_TYPES or token.lower() in seen:
            return None
        seen.add(token.lower())
        found[path] = token
    return found


def param_headers(mapping: HeaderMap, arguments: Mapping[str, Any]) -> dict[str, str]:
    """The `Mcp-Param-*` headers a tools/call mirrors from its arguments (absent values skipped)."""
    headers: dict[str, str] = {}
    for path, token in mapping.items():
        node: Any = arguments
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, bool):
            rendered = "true" if node else "false"
        elif isinstance(node, str | int | float):
            rendered = str(node)
        else:
            continue
        headers[H_PARAM_PREFIX + token] = encode_header_value(rendered)
    return headers


# --- Server-Sent Events --------------------------------------------------------------------------


class SseDecoder:
    """Incremental `text/event-stream` decoder yielding each message event's data. Buffers bytes
    itself (no line-length limit of the HTTP library) but caps one event at `max_event` bytes."""

    def __init__(self, max_event: int = 64 * 1024 * 1024) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._size = 0
        self._event = b"message"
        self._max = max_event

    def feed(self, chunk: bytes) -> list[bytes]:
        """Data of every event completed by `chunk`. Raises ValueError on an oversized event."""
        self._buffer += chunk
        events: list[bytes] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = self._buffer[:end].rstrip(b"\r")
            self._buffer = self._buffer[end + 1 :]
            if not line:
                if self._data and self._event == b"message":
                    events.append(b"\n".join(self._data))
                self._data, self._size, self._event = [], 0, b"message"
                continue
            field, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if field == b"data":
                self._size += len(value)
                self._data.append(value)
            elif field == b"event":
                self._event = value
        if self._size + len(self._buffer) > self._max:
            raise ValueError("server-sent event too large")
        return events
