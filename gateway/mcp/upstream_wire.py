"""MCP wire details only the upstream client needs, shared across its transports: the error
classes, the `_meta` envelope it sends in the modern era, and an incremental SSE decoder. The
versions, envelope keys, header names and error codes are gateway.core.mcp_protocol's, the header
values and `x-mcp-header` walk gateway.core.mcp_headers' (the server side uses the same ones).
Pure functions and small classes: no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway import __version__
from gateway.core.mcp_protocol import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    INTERNAL_ERROR,
    PROTOCOL_VERSION_META_KEY,
)

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
        PROTOCOL_VERSION_META_KEY: version,
        CLIENT_INFO_META_KEY: CLIENT_INFO,
        CLIENT_CAPABILITIES_META_KEY: CLIENT_CAPABILITIES,
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
