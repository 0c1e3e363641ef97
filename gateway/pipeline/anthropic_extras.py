"""The rest of the Anthropic API an Anthropic client (Claude Code, the SDKs) calls besides
messages: POST /anthropic/v1/messages/count_tokens and GET /anthropic/v1/models[/{id}].

count_tokens goes to the model's Anthropic upstream when every deployment of it speaks Anthropic's
wire; otherwise (an OpenAI-speaking provider, the mock, an upstream that cannot count or is down)
the gateway answers a local estimate. Neither route reserves budget or costs anything."""

from __future__ import annotations

import datetime
import time
from typing import Any

import orjson
from aiohttp import web

from gateway.core.anthropic_tokens import estimate_input_tokens, model_entry, models_page
from gateway.core.errors import (
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.pipeline import gate
from gateway.pipeline.body import read_json, require_list, require_model
from gateway.pipeline.context import RequestContext
from gateway.pipeline.endpoint import endpoint
from gateway.pipeline.keyauth import Caller
from gateway.pipeline.relay import relay_whole
from gateway.pipeline.respond import json_response
from gateway.pipeline.router import Deployment, Router
from gateway.pipeline.state import GatewayState
from gateway.providers.anthropic import AnthropicUpstreamRequest, forwarded_headers
from gateway.providers.base import UpstreamRequest

MAX_PAGE = 1000
# An upstream that has no count_tokens (some Anthropic-compatible servers): estimate instead.
_NOT_COUNTING = (404, 405, 501)


class _NotCountable(Exception):
    """A deployment in the chain does not speak Anthropic's wire: estimate locally."""


def _router(state: GatewayState) -> Router:
    assert state.router is not None
    return state.router


def _check_model(caller: Caller, ctx: RequestContext, model: str) -> None:
    key = caller.key
    if key is None:
        return
    ctx.key = key
    if not key.allows_model(model):
        raise PermissionDenied(
            f"this API key may not use model {model!r}", code="model_not_allowed", param="model"
        )


def _estimate(ctx: RequestContext, body: dict[str, Any]) -> web.Response:
    return json_response(ctx, 200, orjson.dumps({"input_tokens": estimate_input_tokens(body)}))


@endpoint("count_tokens", "anthropic")
async def count_tokens(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    caller = await gate.authenticate(request, state)
    body = await read_json(request, state.settings.max_body_bytes)
    ctx.model = require_model(body)
    require_list(body, "messages")
    router = _router(state)
    ctx.metric_model = router.metric_label(ctx.model)
    _check_model(caller, ctx, ctx.model)
    route = router.resolve(ctx.model)
    if not route.deployments or any(d.provider.wire != "anthropic" for d in route.deployments):
        return _estimate(ctx, body)
    client_headers = forwarded_headers(request.headers)

    def build(deployment: Deployment, upstream_model: str) -> UpstreamRequest:
        if deployment.provider.wire != "anthropic":
            raise _NotCountable
        return AnthropicUpstreamRequest(
            endpoint="messages",
            body=body if body["model"] == upstream_model else {**body, "model": upstream_model},
            stream=False,
            timeout_s=deployment.timeout_s(),
            request_id=ctx.request_id,
            deployment_model=upstream_model,
            operation="count_tokens",
            client_headers=client_headers,
        )

    try:
        sent = await router.send(ctx, ctx.model, build)
    except (_NotCountable, UpstreamUnavailable, UpstreamTimeout, RateLimited):
        return _estimate(ctx, body)
    if sent.response.status in _NOT_COUNTING:
        sent.response.release()
        return _estimate(ctx, body)
    return await relay_whole(ctx, state, sent, None, None)


def _created_at(now: float) -> str:
    moment = datetime.datetime.fromtimestamp(int(now), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_size(value: str | None) -> int:
    if value is None:
        return 20
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE:
        raise InvalidRequest(f"limit: an integer from 1 to {MAX_PAGE}", param="limit")
    return size


@endpoint("models", "anthropic")
async def list_models(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    """The models this key may use in Anthropic's list shape (limit, after_id, before_id)."""
    caller = await gate.authenticate(request, state)
    key = caller.key
    names = [n for n in _router(state).model_names() if key is None or key.allows_model(n)]
    query = request.query
    page = models_page(
        names,
        _created_at(time.time()),
        limit=_page_size(query.get("limit")),
        after_id=query.get("after_id"),
        before_id=query.get("before_id"),
    )
    return json_response(ctx, 200, orjson.dumps(page))


@endpoint("models", "anthropic")
async def get_model(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    caller = await gate.authenticate(request, state)
    name = request.match_info["model"]
    if caller.key is not None and not caller.key.allows_model(name):
        raise ModelNotFound(f"model {name!r} is not available to this API key", param="model")
    _router(state).resolve(name)
    return json_response(ctx, 200, orjson.dumps(model_entry(name, _created_at(time.time()))))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/anthropic/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/anthropic/v1/models", list_models)
    app.router.add_get("/anthropic/v1/models/{model:.+}", get_model)
