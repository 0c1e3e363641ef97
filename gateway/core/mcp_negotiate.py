"""MCP protocol versions and their negotiation, as the official `mcp` 2.3 SDK server does it.

Two eras. The handshake era (2024-11-05 .. 2025-11-25): `initialize` picks a version (the
client's when it is one we speak, else our latest handshake version) and later requests carry
`MCP-Protocol-Version` and `Mcp-Session-Id`. The modern era (2026-07-28): no handshake, every
request carries its protocol version and client capabilities in `params._meta` and mirrors them
in headers; `server/discover` tells a probing client what we speak. A request is routed to the
modern path when its `MCP-Protocol-Version` header is present and not a handshake version (the
SDK's header-only era routing), so an unknown version gets the modern ladder's -32022 answer.

Pure: the headers are passed in as a lower-case-keyed mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.core import mcp_protocol
from gateway.core.mcp_headers import decode_header_value
from gateway.core.mcp_protocol import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HANDSHAKE_VERSIONS,
    HEADER_MISMATCH,
    INVALID_PARAMS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_VERSIONS,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
    RpcError,
)

DEFAULT_NEGOTIATED_VERSION: Final = "2025-03-26"  # a handshake-era request without the header

# the headers as this side reads them: from a lower-case-keyed mapping
PROTOCOL_VERSION_HEADER: Final = mcp_protocol.PROTOCOL_VERSION_HEADER.lower()
METHOD_HEADER: Final = mcp_protocol.METHOD_HEADER.lower()
NAME_HEADER: Final = mcp_protocol.NAME_HEADER.lower()
SESSION_HEADER: Final = mcp_protocol.SESSION_HEADER.lower()
ROUTING_HEADERS: Final = frozenset({PROTOCOL_VERSION_HEADER, METHOD_HEADER, NAME_HEADER})
NAME_BEARING_METHODS: Final = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

CAPABILITIES: Final = {"tools": {"listChanged": False}}  # tools only; no list-change stream


@dataclass(frozen=True, slots=True)
class Envelope:
    """A modern request's per-request envelope, once every rung of the ladder passed."""

    protocol_version: str
    client_info: Any
    client_capabilities: Any


def is_modern(header_version: str | None) -> bool:
    """Era routing: the modern path owns every request whose version header is not a
    handshake version (an unknown version included, so it is told what we support)."""
    return header_version is not None and header_version not in HANDSHAKE_VERSIONS


def unsupported_version(requested: str) -> RpcError | None:
    if requested in MODERN_VERSIONS:
        return None
    data = {"supported": list(MODERN_VERSIONS), "requested": requested}
    return RpcError(UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version", data)


def duplicated_routing_header(pairs: Iterable[tuple[str, str]]) -> str | None:
    """A routing header sent twice (raw header lines): first- and last-copy readers disagree."""
    seen: set[str] = set()
    for name, _ in pairs:
        key = name.lower()
        if key in ROUTING_HEADERS:
            if key in seen:
                return key
            seen.add(key)
    return None


def classify(body: Mapping[str, Any], headers: Mapping[str, str]) -> Envelope:
    """The modern validation ladder (the SDK's classify_inbound_request); raises the first
    failing rung's RpcError: envelope keys, then header agreement, then the version."""
    params = body.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        raise RpcError(
            INVALID_PARAMS,
            "params._meta must be an object carrying the required "
            f"{PROTOCOL_VERSION_META_KEY!r} and {CLIENT_CAPABILITIES_META_KEY!r} envelope keys",
        )
    required = (PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY)
    missing = [key for key in required if key not in meta]
    if missing:
        raise RpcError(
            INVALID_PARAMS,
            f"params._meta is missing the required envelope key(s): {', '.join(missing)}",
        )
    version = meta[PROTOCOL_VERSION_META_KEY]
    _check_headers(body, headers, version)
    if not isinstance(version, str):
        raise RpcError(INVALID_PARAMS, "the protocol-version envelope value must be a string")
    refusal = unsupported_version(version)
    if refusal is not None:
        raise refusal
    return Envelope(version, meta.get(CLIENT_INFO_META_KEY), meta[CLIENT_CAPABILITIES_META_KEY])


def _check_headers(body: Mapping[str, Any], headers: Mapping[str, str], version: Any) -> None:
    header = headers.get(PROTOCOL_VERSION_HEADER)
    if header is None or header != version:
        raise RpcError(
            HEADER_MISMATCH,
            f"{PROTOCOL_VERSION_HEADER} header does not match the request envelope's "
            "protocol version",
        )
    method = body.get("method")
    if headers.get(METHOD_HEADER) != method:
        raise RpcError(
            HEADER_MISMATCH, f"{METHOD_HEADER} header does not match the request body's method"
        )
    name_key = NAME_BEARING_METHODS.get(method) if isinstance(method, str) else None
    if name_key is not None:
        value = body["params"].get(name_key)
        if value is not None and decode_header_value(headers.get(NAME_HEADER)) != value:
            raise RpcError(
                HEADER_MISMATCH,
                f"{NAME_HEADER} header does not match the request body's {name_key!r} parameter",
            )


def negotiate_initialize(params: Mapping[str, Any] | None) -> str:
    """The version an `initialize` settles on: the client's if we speak it, else our latest
    handshake version. Raises INVALID_PARAMS for params that are not InitializeRequestParams."""
    params = params or {}
    requested = params.get("protocolVersion")
    info = params.get("clientInfo")
    valid = (
        isinstance(requested, str)
        and isinstance(params.get("capabilities"), dict)
        and isinstance(info, dict)
        and isinstance(info.get("name"), str)
        and isinstance(info.get("version"), str)
    )
    if not valid:
        raise RpcError(
            INVALID_PARAMS,
            "Invalid request parameters: initialize needs protocolVersion, capabilities and "
            "clientInfo {name, version}",
        )
    assert isinstance(requested, str)
    return requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE_VERSION


def initialize_result(
    version: str, server_info: Mapping[str, Any], instructions: str | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "protocolVersion": version,
        "capabilities": CAPABILITIES,
        "serverInfo": dict(server_info),
    }
    if instructions:
        result["instructions"] = instructions
    return result


def discover_result(server_info: Mapping[str, Any], instructions: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "supportedVersions": list(MODERN_VERSIONS),
        "capabilities": CAPABILITIES,
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": {SERVER_INFO_META_KEY: dict(server_info)},
    }
    if instructions:
        result["instructions"] = instructions
    return result


def shape_result(
    result: Mapping[str, Any],
    *,
    modern: bool,
    server_info: Mapping[str, Any],
    cacheable: bool = False,
) -> dict[str, Any]:
    """A result as this gateway sends it in the caller's era: the upstream's server-info stamp
    replaced by ours (modern) or dropped (handshake era, which has no such stamp), the modern
    `resultType` (and, for the cacheable list results, `ttlMs`/`cacheScope`) added or removed."""
    shaped = dict(result)
    meta = shaped.get("_meta")
    if isinstance(meta, dict) and SERVER_INFO_META_KEY in meta:
        meta = {k: v for k, v in meta.items() if k != SERVER_INFO_META_KEY}
        if meta:
            shaped["_meta"] = meta
        else:
            del shaped["_meta"]
    if modern:
        shaped.setdefault("resultType", "complete")
        shaped["_meta"] = {**shaped.get("_meta", {}), SERVER_INFO_META_KEY: dict(server_info)}
        if cacheable:
            shaped.setdefault("ttlMs", 0)
            shaped.setdefault("cacheScope", "private")
    else:
        if shaped.get("resultType") == "complete":
            del shaped["resultType"]
        shaped.pop("ttlMs", None)
        shaped.pop("cacheScope", None)
    return shaped
