"""MCP's JSON-RPC 2.0 layer: one message per POST parsed and checked, error codes, the bodies the
gateway answers with, and the HTTP status each error travels with. Also the wire names both ends of
the gateway share (its server side and its upstream client): protocol versions, `_meta` envelope
keys and header names, as `mcp_types` 2.3 spells them.

Pure (no I/O). The rules are those of the official `mcp` SDK's Streamable HTTP server (mcp 2.3),
reimplemented because the gateway must not depend on the SDK: a body is exactly one request,
notification or response (a batch is refused, as the SDK does), and on the modern era an error's
HTTP status comes from the SDK's `ERROR_CODE_HTTP_STATUS` table. The gateway's own refusals
(a key's access, limits, an upstream that is down) use codes in JSON-RPC's server-error range.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

import orjson

# JSON-RPC 2.0 and MCP (mcp_types.jsonrpc)
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
HEADER_MISMATCH: Final = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY: Final = -32021
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022
# the gateway's own, in the implementation-defined server-error range (-32000..-32099)
UNAUTHORIZED: Final = -32030  # no, unknown or revoked virtual key
FORBIDDEN: Final = -32031  # the key may not use this server or tool (or a policy denied it)
RATE_LIMITED: Final = -32032  # a rate limit or the budget (data.code says which)
UPSTREAM_UNAVAILABLE: Final = -32033  # the server is down, timed out or answered garbage

# The SDK's table (mcp.shared.inbound.ERROR_CODE_HTTP_STATUS) plus the gateway's codes that have
# an HTTP meaning in both eras. Unmapped codes travel with 200.
MODERN_HTTP_STATUS: Final = MappingProxyType(
    {
        PARSE_ERROR: 400,
        INVALID_REQUEST: 400,
        INVALID_PARAMS: 400,
        HEADER_MISMATCH: 400,
        MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
        UNSUPPORTED_PROTOCOL_VERSION: 400,
        METHOD_NOT_FOUND: 404,
        UNAUTHORIZED: 401,
        RATE_LIMITED: 429,
    }
)
# Handshake-era servers answer handler errors inside a 200; only the gateway's own HTTP-level
# refusals keep their status there.
LEGACY_HTTP_STATUS: Final = MappingProxyType({UNAUTHORIZED: 401, RATE_LIMITED: 429})

# Protocol versions (mcp_types.version): the handshake era, then the modern (stateless) era
HANDSHAKE_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS: Final = ("2026-07-28",)
LATEST_HANDSHAKE_VERSION: Final = HANDSHAKE_VERSIONS[-1]
LATEST_MODERN_VERSION: Final = MODERN_VERSIONS[-1]

# The modern era's per-request `_meta` envelope keys
PROTOCOL_VERSION_META_KEY: Final = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META_KEY: Final = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META_KEY: Final = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_META_KEY: Final = "io.modelcontextprotocol/serverInfo"

# Header names as sent (HTTP header names are case-insensitive; readers compare lower-cased)
PROTOCOL_VERSION_HEADER: Final = "MCP-Protocol-Version"
SESSION_HEADER: Final = "Mcp-Session-Id"
METHOD_HEADER: Final = "Mcp-Method"
NAME_HEADER: Final = "Mcp-Name"
PARAM_HEADER_PREFIX: Final = "Mcp-Param-"

RequestId = str | int
Kind = Literal["request", "notification", "response"]

SINGLE_MESSAGE = "Body must be a single JSON-RPC request or notification object"
BATCH_REFUSED = SINGLE_MESSAGE + " (JSON-RPC batches are not supported: send one per POST)"


class RpcError(Exception):
    """A JSON-RPC error to answer with. `request_id` None is written as `"id": null`."""

    def __init__(
        self,
        code: int,
        message: str,
        data: Any = None,
        *,
        request_id: RequestId | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.request_id = request_id
        self.status = status  # an explicit HTTP status (transport-level errors), else the table's

    def with_id(self, request_id: RequestId | None) -> RpcError:
        return RpcError(
            self.code, self.message, self.data, request_id=request_id, status=self.status
        )

    def http_status(self, *, modern: bool) -> int:
        if self.status is not None:
            return self.status
        table = MODERN_HTTP_STATUS if modern else LEGACY_HTTP_STATUS
        return table.get(self.code, 200)

    def body(self) -> bytes:
        return error_body(self.request_id, self.code, self.message, self.data)


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded JSON-RPC message: a request (has an id), a notification, or a response."""

    kind: Kind
    method: str
    params: dict[str, Any] | None
    id: RequestId | None
    raw: dict[str, Any]


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def parse_message(body: bytes) -> Message:
    """Decode one POST body; raises RpcError (parse error, or not a single valid message)."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RpcError(PARSE_ERROR, "Parse error", status=400) from None
    if isinstance(decoded, list):
        raise RpcError(INVALID_REQUEST, BATCH_REFUSED, status=400)
    if not isinstance(decoded, dict) or decoded.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, SINGLE_MESSAGE, status=400)
    method = decoded.get("method")
    if method is None and "id" in decoded and ("result" in decoded or "error" in decoded):
        return Message("response", "", None, None, decoded)
    params = decoded.get("params")
    if not isinstance(method, str) or not (params is None or isinstance(params, dict)):
        raise RpcError(INVALID_REQUEST, SINGLE_MESSAGE, status=400)
    if "id" not in decoded:
        return Message("notification", method, params, None, decoded)
    request_id = decoded["id"]
    if not _valid_id(request_id):
        raise RpcError(INVALID_REQUEST, SINGLE_MESSAGE, status=400)
    return Message("request", method, params, request_id, decoded)


def error_body(request_id: RequestId | None, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


def result_body(request_id: RequestId, result: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def args_hash(arguments: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of a call's arguments (keys sorted): the cache key's and
    the audit record's fingerprint of a call, never the arguments themselves."""
    try:
        canonical = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: rare; still canonical
        canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def tool_call_params(params: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(name, arguments) of a tools/call; raises INVALID_PARAMS on another shape."""
    if params is None or not isinstance(params.get("name"), str) or not params["name"]:
        raise RpcError(INVALID_PARAMS, "tools/call needs params.name (the tool's name)")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "tools/call params.arguments must be an object")
    return params["name"], arguments


def unknown_tool(name: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Unknown tool: {name}")


def method_not_found(method: str) -> RpcError:
    return RpcError(METHOD_NOT_FOUND, "Method not found", method)
