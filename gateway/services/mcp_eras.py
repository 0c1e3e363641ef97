"""One MCP POST answered in its protocol era, as the official SDK server answers it.

Modern (2026-07-28; routed here by an `MCP-Protocol-Version` header that is not a handshake
version): a notification is 202 (or -32022 for a version we do not serve); a request passes the
ladder (no duplicated routing header, the `params._meta` envelope, headers agreeing with the
body, a supported version), then its method; errors carry the SDK's HTTP status table.

Handshake era: `initialize` negotiates the version and opens a session (an HMAC token any replica
verifies); later requests may carry it (an unknown or foreign one is 404, so the client opens a
new session) or, leniently, none (stateless, like the SDK's stateless mode); notifications and
responses are 202; errors travel inside a 200, as the SDK's handshake transport sends them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.core.mcp_negotiate import (
    ROUTING_HEADERS,
    SESSION_HEADER,
    classify,
    discover_result,
    initialize_result,
    negotiate_initialize,
    shape_result,
    unsupported_version,
)
from gateway.core.mcp_protocol import (
    FORBIDDEN,
    HEADER_MISMATCH,
    INVALID_REQUEST,
    SINGLE_MESSAGE,
    Message,
    RpcError,
    method_not_found,
    result_body,
)
from gateway.mcp.aggregate import may_use_server
from gateway.mcp.dispatch import McpDispatcher, McpExchange, registry_of
from gateway.mcp.session_token import SessionTokens
from gateway.pipeline.state import GatewayState

Answer = tuple[int, bytes | None]


def server_info(state: GatewayState, scope: str | None) -> dict[str, Any]:
    name = "smartflow" if scope is None else f"smartflow/{scope}"
    return {"name": name, "version": state.settings.build.version}


def check_scope(state: GatewayState, ex: McpExchange) -> str | None:
    """The description of /api/mcp/NAME's server (its instructions); 404 for an unknown server,
    403 when the key may not use it. None for the aggregate."""
    if ex.scope is None:
        return None
    live = registry_of(state).server(ex.scope)
    if live is None:
        raise RpcError(INVALID_REQUEST, f"no MCP server named {ex.scope!r}", status=404)
    if not may_use_server(ex.key, live):
        message = f"this API key may not use MCP server {ex.scope!r}"
        raise RpcError(FORBIDDEN, message, {"server": ex.scope}, status=403)
    return live.spec.description


async def dispatch(
    state: GatewayState,
    dispatcher: McpDispatcher,
    ex: McpExchange,
    message: Message,
    instructions: str | None,
) -> dict[str, Any]:
    """The methods this gateway serves, in either era."""
    method = message.method
    info = server_info(state, ex.scope)
    if method == "tools/call":
        result = await dispatcher.tools_call(ex, message.params)
        return shape_result(result, modern=ex.modern, server_info=info)
    if method == "tools/list":
        result = await dispatcher.tools_list(ex)
        return shape_result(result, modern=ex.modern, server_info=info, cacheable=True)
    if method == "server/discover" and ex.modern:
        return discover_result(info, instructions)
    if method == "ping" and not ex.modern:  # the modern era has no ping
        return {}
    raise method_not_found(method)


async def modern(
    request: web.Request,
    state: GatewayState,
    dispatcher: McpDispatcher,
    ex: McpExchange,
    message: Message,
) -> Answer:
    if message.kind == "notification":
        refusal = unsupported_version(request.headers.get("MCP-Protocol-Version", ""))
        if refusal is not None:
            raise refusal
        return 202, None
    if message.kind == "response":
        raise RpcError(INVALID_REQUEST, SINGLE_MESSAGE, status=400)
    assert message.id is not None
    headers = request.headers  # case-insensitive: the ladder reads it as lower-case names
    for name in ROUTING_HEADERS:
        if len(headers.getall(name, ())) > 1:  # first- and last-copy readers would disagree
            raise RpcError(HEADER_MISMATCH, f"{name} header appears more than once")
    classify(message.raw, headers)
    ex.request_headers = headers
    instructions = check_scope(state, ex)
    result = await dispatch(state, dispatcher, ex, message, instructions)
    return 200, result_body(message.id, result)


def _session_scope(ex: McpExchange) -> str:
    return ex.scope or "*"


async def legacy(
    request: web.Request,
    state: GatewayState,
    dispatcher: McpDispatcher,
    ex: McpExchange,
    message: Message,
    *,
    sessions: SessionTokens,
) -> Answer:
    content_type = request.headers.get("Content-Type", "application/json").lower()
    if not content_type.startswith("application/json"):
        raise RpcError(
            INVALID_REQUEST,
            "Unsupported Media Type: Content-Type must be application/json",
            status=415,
        )
    key_id = ex.key.id if ex.key is not None else None
    if message.method == "initialize" and message.kind == "request":
        assert message.id is not None
        instructions = check_scope(state, ex)
        version = negotiate_initialize(message.params)
        minted = sessions.mint(scope=_session_scope(ex), key_id=key_id, version=version)
        ex.headers["Mcp-Session-Id"] = minted
        info = server_info(state, ex.scope)
        return 200, result_body(message.id, initialize_result(version, info, instructions))
    token = request.headers.get(SESSION_HEADER)
    if token is not None:
        if sessions.verify(token, scope=_session_scope(ex), key_id=key_id) is None:
            raise RpcError(INVALID_REQUEST, "Session not found", status=404)
        ex.headers["Mcp-Session-Id"] = token
    if message.kind != "request":
        return 202, None
    assert message.id is not None
    instructions = check_scope(state, ex)
    result = await dispatch(state, dispatcher, ex, message, instructions)
    return 200, result_body(message.id, result)


def end_session(request: web.Request, sessions: SessionTokens, ex: McpExchange) -> Answer:
    """DELETE: end the caller's handshake-era session."""
    token = request.headers.get(SESSION_HEADER)
    if token is None:
        raise RpcError(INVALID_REQUEST, "Bad Request: Missing session ID", status=400)
    key_id = ex.key.id if ex.key is not None else None
    if sessions.verify(token, scope=_session_scope(ex), key_id=key_id) is None:
        raise RpcError(INVALID_REQUEST, "Session not found", status=404)
    sessions.end(token)
    return 200, None
