"""The MCP endpoint clients connect to (issue 15): `/api/mcp/NAME` speaks MCP for one registered
server, `/api/mcp` for every server the caller's key may use (tools named `NAME__tool`).

Streamable HTTP answered with application/json, one response per POST. There is no
server-initiated stream, so GET is 405, as the transport spec allows. Both protocol eras are
negotiated as the official SDK server does (gateway.services.mcp_eras). The caller is a virtual
key (`Authorization: Bearer` or `x-api-key`); a missing or bad key is 401 with
`WWW-Authenticate: Bearer`. Mounted on proxy and all when MCP_GATEWAY_ENABLED=true, with
`GET /api/mcp/cache/stats` (admin key) for the tool-result cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.core.errors import AuthenticationFailed, GatewayError
from gateway.core.mcp_negotiate import is_modern
from gateway.core.mcp_protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    UNAUTHORIZED,
    RpcError,
    parse_message,
)
from gateway.core.toolspecs import RESERVED_NAMES
from gateway.mcp.dispatch import McpDispatcher, McpExchange
from gateway.mcp.session_token import SessionTokens, derive_secret
from gateway.mcp.tool_cache import ToolCache
from gateway.pipeline.state import STATE, GatewayState
from gateway.services import mcp_eras
from gateway.services.keys_api import json_response

log = logging.getLogger("smartflow.mcp")

JSON = "application/json"
SERVER_PATTERN = "(?!(?:" + "|".join(sorted(RESERVED_NAMES)) + ")$)[a-z0-9][a-z0-9-]{0,62}"
BEARER = 'Bearer realm="smartflow"'
DATA_PLANE = ("proxy", "all")


@dataclass(slots=True)
class McpEndpoint:
    """The endpoint's per-application parts. The dispatcher (and its cache) is built on first
    use, once the backends context has opened the shared Redis client (when there is one)."""

    app: web.Application
    sessions: SessionTokens
    _dispatcher: McpDispatcher | None = None

    def dispatcher(self) -> McpDispatcher:
        if self._dispatcher is None:
            from gateway.app import REDIS  # gateway.app imports this module

            state = self.app[STATE]
            redis = self.app.get(REDIS)
            cache = ToolCache(max_entries=state.settings.mcp.cache_max_entries, redis=redis)
            self._dispatcher = McpDispatcher(state, cache)
        return self._dispatcher


MCP = web.AppKey("smartflow_mcp", McpEndpoint)


def _respond(ex: McpExchange, status: int, body: bytes | None) -> web.Response:
    overhead_s = max(0.0, time.perf_counter() - ex.started - ex.upstream_s)
    headers = {
        "x-smartflow-request-id": ex.request_id,
        "x-smartflow-overhead-ms": f"{overhead_s * 1000:.3f}",
        **ex.headers,
    }
    if ex.cache is not None:
        headers["x-smartflow-cache"] = ex.cache
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, body=body, content_type=JSON, headers=headers)


def _error(ex: McpExchange, error: RpcError) -> web.Response:
    return _respond(ex, error.http_status(modern=ex.modern), error.body())


async def _authenticate(request: web.Request, state: GatewayState, ex: McpExchange) -> None:
    try:
        if state.key_auth is not None:
            ex.key = (await state.key_auth.authenticate(request, None)).key
        elif state.auth is not None:  # no key store: the admin key only
            state.auth.check(request)
        else:
            raise AuthenticationFailed("no API keys are configured on this gateway")
    except AuthenticationFailed as exc:
        ex.headers["WWW-Authenticate"] = BEARER
        raise RpcError(UNAUTHORIZED, exc.message, status=401) from None


def _accepts_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept")
    if accept is None:
        return True  # lenient: a bare client that sends no Accept gets JSON
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"application/json", "application/*", "*/*"})


def _exchange(request: web.Request, state: GatewayState) -> McpExchange:
    return McpExchange(
        request_id=state.request_ids(),
        key=None,
        scope=request.match_info.get("server"),
        modern=is_modern(request.headers.get("MCP-Protocol-Version")),
        no_cache="no-cache" in request.headers.get("Cache-Control", "").lower(),
        client_ip=request.remote,
    )


async def _post(request: web.Request, state: GatewayState, ex: McpExchange) -> mcp_eras.Answer:
    await _authenticate(request, state, ex)
    if not _accepts_json(request):
        raise RpcError(
            INVALID_REQUEST, "Not Acceptable: Client must accept application/json", status=406
        )
    message = parse_message(await request.read())
    endpoint = request.app[MCP]
    try:
        if ex.modern:
            return await mcp_eras.modern(request, state, endpoint.dispatcher(), ex, message)
        return await mcp_eras.legacy(
            request, state, endpoint.dispatcher(), ex, message, sessions=endpoint.sessions
        )
    except RpcError as exc:
        raise exc.with_id(message.id) if exc.request_id is None else exc from None


async def handle_post(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ex = _exchange(request, state)
    state.lifecycle.inflight += 1
    try:
        status, body = await _post(request, state, ex)
        response = _respond(ex, status, body)
    except RpcError as exc:
        response = _error(ex, exc)
    except GatewayError as exc:  # a store outage surfacing from auth, say
        response = _error(ex, RpcError(INTERNAL_ERROR, exc.message))
    except Exception:
        log.exception("unhandled MCP error", extra={"request_id": ex.request_id})
        text = f"internal error in the gateway; quote request id {ex.request_id}"
        response = _error(ex, RpcError(INTERNAL_ERROR, text))
    finally:
        state.lifecycle.inflight -= 1
    _observe_later(state, ex, response.status)
    return response


async def handle_delete(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ex = _exchange(request, state)
    try:
        await _authenticate(request, state, ex)
        status, body = mcp_eras.end_session(request, request.app[MCP].sessions, ex)
        return _respond(ex, status, body)
    except RpcError as exc:
        return _error(ex, exc)


async def handle_get(request: web.Request) -> web.Response:
    """No server-initiated stream: 405, which the transport spec allows and clients expect."""
    state = request.app[STATE]
    ex = _exchange(request, state)
    ex.headers["Allow"] = "POST, DELETE"
    error = RpcError(
        INVALID_REQUEST,
        "Method Not Allowed: this gateway sends no server-initiated stream",
        status=405,
    )
    return _error(ex, error)


def _observe_later(state: GatewayState, ex: McpExchange, status: int) -> None:
    elapsed = time.perf_counter() - ex.started
    overhead = max(0.0, elapsed - ex.upstream_s)
    asyncio.get_running_loop().call_soon(
        state.metrics.observe_request, "mcp", "other", status, elapsed, overhead
    )


async def cache_stats(request: web.Request, state: GatewayState) -> web.Response:
    """GET /api/mcp/cache/stats: this process's tool-result cache figures."""
    endpoint = request.app[MCP]
    payload: dict[str, Any] = endpoint.dispatcher().cache.snapshot()
    return json_response(payload)


def setup(app: web.Application) -> None:
    """Mount /api/mcp* on a data-plane service when the MCP gateway is enabled."""
    settings = app[STATE].settings
    if not settings.mcp.enabled or settings.service_type not in DATA_PLANE:
        return
    from gateway.services.api_server import admin_endpoint

    admin_key = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
    app[MCP] = McpEndpoint(app, SessionTokens(derive_secret(admin_key)))
    app.router.add_route("GET", "/api/mcp/cache/stats", admin_endpoint(cache_stats))
    for path in ("/api/mcp", "/api/mcp/{server:" + SERVER_PATTERN + "}"):
        app.router.add_route("POST", path, handle_post)
        app.router.add_route("GET", path, handle_get, name=None)
        app.router.add_route("DELETE", path, handle_delete)
