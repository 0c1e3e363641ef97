"""The A2A routes on the proxy (on with the tool gateway: MCP_GATEWAY_ENABLED=true).

    POST /a2a/{name}                               JSON-RPC to the agent (JSON or an SSE stream)
    GET  /a2a/{name}/.well-known/agent-card.json   the agent's card, pointing at the gateway
    GET  /.well-known/agent-card.json              the gateway's card: the agents a key may reach

Every request to an agent carries a virtual key, which must be allowed to reach the agent (the key's
`tools.a2a_agents` and the agent's teams); it counts against the key's rate limits, reserves the
agent's price per task against its budget, and leaves one audit record (route a2a, provider the
agent, tool the method, the task id). An agent the key may not reach is answered exactly as one
that does not exist (404), so keys cannot probe the registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp
import orjson
from aiohttp import web

from gateway.a2a import card as cards
from gateway.a2a import jsonrpc
from gateway.a2a.call import A2aCall, finish
from gateway.a2a.jsonrpc import RpcError, RpcRequest
from gateway.a2a.proxy import AgentClient, AgentUnavailable
from gateway.a2a.relay import is_stream, relay_stream, relay_whole
from gateway.core.errors import AuthenticationFailed, PermissionDenied, RateLimited
from gateway.core.keys import VirtualKey
from gateway.core.tool_access import agent_allowed
from gateway.core.toolspecs import A2aAgentSpec
from gateway.pipeline import admission
from gateway.pipeline.state import STATE, GatewayState

CLIENT = web.AppKey("smartflow_a2a_client", AgentClient)
CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")  # 1.0, and 0.3's alias
NOT_FOUND = "no such agent: it is not registered, or this key may not reach it"


def _environment(state: GatewayState) -> Mapping[str, str]:
    """Where the agents' credentials are read from (names in the spec, values in the gateway's
    environment)."""
    return state.settings.mcp.environ


async def _client_context(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=60)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[CLIENT] = AgentClient(session, _environment(state))
        yield


def setup(app: web.Application) -> None:
    """Mount /a2a/* and /.well-known/agent-card.json when the tool gateway is enabled."""
    settings = app[STATE].settings
    if not (settings.mcp.enabled or settings.mcp_gateway_enabled):
        return
    app.cleanup_ctx.append(_client_context)
    app.router.add_post("/a2a/{name}", handle_rpc)
    for path in CARD_PATHS:
        app.router.add_get("/a2a/{name}" + path, handle_agent_card)
        app.router.add_get(path, handle_gateway_card)


# --- who is calling, and may they reach this agent --------------------------------------------


async def _caller(state: GatewayState, request: web.Request) -> VirtualKey | None:
    """The caller's key (None: the administrator, where the app accepts it); raises RpcError."""
    if state.key_auth is None:
        raise RpcError(
            503, jsonrpc.INTERNAL_ERROR, "the key store is not open yet", word="starting"
        )
    try:
        caller = await state.key_auth.authenticate(request, None)
    except (AuthenticationFailed, PermissionDenied) as exc:
        raise RpcError(
            401,
            jsonrpc.UNAUTHENTICATED,
            exc.message,
            word="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer realm="smartflow"'},
        ) from None
    return caller.key


def _reachable(state: GatewayState, key: VirtualKey | None) -> list[A2aAgentSpec]:
    registry = state.registry
    if registry is None:
        return []
    agents = registry.agents()
    if key is None:
        return list(agents)
    return [a for a in agents if agent_allowed(key, a.name, a.teams)]


def _agent(state: GatewayState, key: VirtualKey | None, name: str) -> A2aAgentSpec:
    spec = state.registry.agent(name) if state.registry is not None else None
    if spec is None or (key is not None and not agent_allowed(key, spec.name, spec.teams)):
        raise RpcError(404, jsonrpc.AGENT_NOT_FOUND, NOT_FOUND, word="agent_not_found")
    return spec


def base_url(state: GatewayState, request: web.Request) -> str:
    """The gateway's address as clients reach it: SMARTFLOW_PUBLIC_URL, else this request's."""
    public = state.settings.mcp.public_url
    return public if public else f"{request.scheme}://{request.host}"


# --- POST /a2a/{name} --------------------------------------------------------------------------


def _error_response(call: A2aCall, rpc_id: object, error: RpcError) -> web.Response:
    call.fail(error.status, error.word)
    headers = {"x-smartflow-request-id": call.request_id, **error.headers}
    return web.Response(
        body=jsonrpc.error_body(rpc_id, error.code, error.message),
        status=error.status,
        content_type="application/json",
        headers=headers,
    )


async def _admit(state: GatewayState, call: A2aCall, rpc: RpcRequest, spec: A2aAgentSpec) -> None:
    call.price_usd = spec.price_per_task_usd if rpc.starts_task else 0.0
    if call.key is None or state.counters is None:
        return
    try:
        call.ticket = await admission.admit_call(
            counters=state.counters, key=call.key, price_usd=call.price_usd
        )
    except RateLimited as exc:
        raise RpcError(
            429,
            jsonrpc.RATE_LIMITED,
            exc.message,
            word=exc.code or "rate_limited",
            headers=exc.headers,
        ) from None


async def _forward(
    request: web.Request, call: A2aCall, rpc: RpcRequest, spec: A2aAgentSpec, body: bytes
) -> web.StreamResponse:
    client = request.app[CLIENT]
    call.upstream_start()
    try:
        upstream = await client.send(spec, body, request.headers)
    except AgentUnavailable as exc:
        call.upstream_done()
        raise RpcError(exc.status, jsonrpc.AGENT_UNAVAILABLE, exc.message, word=exc.word) from None
    headers = {"x-smartflow-request-id": call.request_id, "x-smartflow-cache": "bypass"}
    if upstream.status == 401:
        client.refused(spec)
    if is_stream(upstream):
        return await relay_stream(request, call, rpc, upstream, headers)
    return await relay_whole(call, rpc, upstream, headers)


async def handle_rpc(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    call = A2aCall(state.request_ids(), request.remote)
    rpc_id: object = None
    try:
        body = await request.read()
        data = jsonrpc.load(body)
        rpc_id = jsonrpc.peek_id(data)
        call.key = await _caller(state, request)
        rpc = jsonrpc.parse_request(data)
        rpc_id, call.method, call.method_label = rpc.id, rpc.method, rpc.label
        call.stream = rpc.streaming
        spec = _agent(state, call.key, request.match_info["name"])
        call.agent = spec.name
        call.task_id = rpc.task_id()
        await _admit(state, call, rpc, spec)
        return await _forward(request, call, rpc, spec, body)
    except RpcError as error:
        return _error_response(call, rpc_id, error)
    except asyncio.CancelledError:
        call.fail(499, "client_disconnected")  # the record says who ended it
        raise
    except Exception:
        call.fail(500, "internal_error")
        raise
    finally:
        finish(state, call)


# --- the cards ---------------------------------------------------------------------------------


def _card_response(request: web.Request, card: dict[str, object]) -> web.Response:
    tag = cards.etag(card)
    headers = {"ETag": tag, "Cache-Control": "private, max-age=30", "Vary": "Authorization"}
    if request.headers.get("If-None-Match") in (tag, tag.removeprefix("W/")):
        return web.Response(status=304, headers=headers)
    return web.Response(body=orjson.dumps(card), content_type="application/json", headers=headers)


def _json_error(error: RpcError) -> web.Response:
    body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
    return web.Response(
        body=body, status=error.status, content_type="application/json", headers=error.headers
    )


async def handle_agent_card(request: web.Request) -> web.Response:
    """The agent's card with the gateway as its JSON-RPC endpoint and the virtual key as its
    credentials. Needs a key that may reach the agent (else 401 / 404)."""
    state = request.app[STATE]
    try:
        key = await _caller(state, request)
        spec = _agent(state, key, request.match_info["name"])
        upstream = await request.app[CLIENT].card(spec)
    except RpcError as error:
        return _json_error(error)
    except AgentUnavailable as exc:
        return _json_error(
            RpcError(exc.status, jsonrpc.AGENT_UNAVAILABLE, exc.message, word=exc.word)
        )
    endpoint = f"{base_url(state, request)}/a2a/{spec.name}"
    return _card_response(request, cards.rewrite_card(upstream, endpoint))


async def _entry(client: AgentClient, spec: A2aAgentSpec) -> cards.AgentEntry:
    try:
        upstream: dict[str, object] | None = await client.card(spec)
    except AgentUnavailable:
        upstream = None
    return cards.AgentEntry(spec.name, spec.description, upstream)


async def handle_gateway_card(request: web.Request) -> web.Response:
    """The gateway's card; its skills are the agents the presented key may reach (none without a
    valid key: the card itself is public, as discovery needs)."""
    state = request.app[STATE]
    try:
        key = await _caller(state, request)
        agents = _reachable(state, key)
    except RpcError:
        agents = []
    client = request.app[CLIENT]
    ordered = sorted(agents, key=lambda a: a.name)
    entries = await asyncio.gather(*(_entry(client, spec) for spec in ordered))
    card = cards.gateway_card(base_url(state, request), state.settings.build.version, entries)
    return _card_response(request, card)
