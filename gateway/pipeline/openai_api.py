"""The OpenAI-compatible data plane: /v1/chat/completions, /v1/completions, /v1/embeddings,
/v1/models. A request is passed through untouched to an OpenAI-speaking upstream (the model name
aside) and translated for an Anthropic one."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

import orjson
from aiohttp import web

from gateway.cache.entry import CachedRoute
from gateway.core import translate
from gateway.core.errors import InvalidRequest
from gateway.pipeline import cache_stage, gate, guard_stage
from gateway.pipeline.body import require_list
from gateway.pipeline.context import RequestContext
from gateway.pipeline.endpoint import endpoint
from gateway.pipeline.relay import JsonTranslate, StreamTranslator, relay_stream, relay_whole
from gateway.pipeline.respond import json_response
from gateway.pipeline.router import Deployment, Router
from gateway.pipeline.state import GatewayState
from gateway.providers.base import Endpoint, UpstreamRequest


def _router(state: GatewayState) -> Router:
    assert state.router is not None  # the proxy service always builds one
    return state.router


async def _start(
    request: web.Request, ctx: RequestContext, state: GatewayState, list_field: str | None
) -> dict[str, Any]:
    def check(body: dict[str, Any]) -> None:
        if list_field is not None:
            require_list(body, list_field)

    caller, body = await gate.open_request(request, ctx, state, check)
    await gate.admit(ctx, state, caller, body)
    return body


def _openai_request(body: dict[str, Any], endpoint_name: Endpoint, ctx: RequestContext) -> Any:
    def build(deployment: Deployment, upstream_model: str) -> UpstreamRequest:
        provider = deployment.provider
        if provider.speaks("openai"):
            upstream_body = (
                body if body["model"] == upstream_model else {**body, "model": upstream_model}
            )
            accounted = ctx.key is not None or ctx.cache_ticket is not None
            if ctx.stream and accounted and not _include_usage(body):
                # spend is settled (and a cached answer's savings known) from usage: ask the
                # upstream for it, keep it from the client
                upstream_body = _with_usage(upstream_body)
                ctx.strip_usage = True
            endpoint: Endpoint = endpoint_name
        elif endpoint_name == "chat":
            upstream_body = translate.openai_request_to_anthropic(body)
            upstream_body["model"] = upstream_model
            endpoint = "messages"
        elif endpoint_name == "completions":
            upstream_body = translate.openai_completion_request_to_anthropic(body)
            upstream_body["model"] = upstream_model
            endpoint = "messages"
        else:
            raise InvalidRequest(
                f"model {ctx.model!r} is served by provider {provider.name} ({provider.kind}), "
                f"which has no {endpoint_name} endpoint",
                param="model",
            )
        return UpstreamRequest(
            endpoint=endpoint,
            body=upstream_body,
            stream=ctx.stream,
            timeout_s=deployment.timeout_s(),
            request_id=ctx.request_id,
            deployment_model=upstream_model,
        )

    return build


def _with_usage(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("stream_options")
    return {
        **body,
        "stream_options": {**(options if isinstance(options, dict) else {}), "include_usage": True},
    }


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


async def _generate(
    request: web.Request, ctx: RequestContext, state: GatewayState, endpoint_name: Endpoint
) -> web.StreamResponse:
    body = await _start(request, ctx, state, "messages" if endpoint_name == "chat" else None)
    if endpoint_name == "completions" and "prompt" not in body:
        raise InvalidRequest("'prompt' is required", param="prompt")
    route: CachedRoute = "chat" if endpoint_name == "chat" else "completions"
    body = await guard_stage.check_request(ctx, state, body, route)
    hit = await cache_stage.look_up(request, ctx, state, body, route)
    if hit is not None:
        await guard_stage.request_verdict(ctx)

        def reask(
            fresh: RequestContext, fresh_body: dict[str, Any]
        ) -> Awaitable[web.StreamResponse]:
            return _upstream(None, fresh, state, fresh_body, endpoint_name)

        refetch = cache_stage.refetcher(ctx, body, reask)
        return await cache_stage.answer_hit(request, ctx, state, hit, body=body, refetch=refetch)
    return await _upstream(request, ctx, state, body, endpoint_name)


async def _upstream(
    request: web.Request | None,
    ctx: RequestContext,
    state: GatewayState,
    body: dict[str, Any],
    endpoint_name: Endpoint,
) -> web.StreamResponse:
    """Route the request and relay the answer (`request` is None for a shadow re-ask, which is
    never streamed)."""
    with state.tracer.span("route", model=ctx.model):
        sent = await guard_stage.alongside(
            ctx, _router(state).send(ctx, ctx.model, _openai_request(body, endpoint_name, ctx))
        )
    provider = sent.deployment.provider
    native = provider.speaks("openai")
    created = int(time.time())
    if ctx.stream and request is not None and sent.response.status < 400:
        translator: StreamTranslator | None = None
        if not native:
            stream_cls = (
                translate.AnthropicToOpenAIStream
                if endpoint_name == "chat"
                else translate.AnthropicToOpenAICompletionStream
            )
            translator = stream_cls(
                model=sent.upstream_model,
                created=created,
                response_id=("chatcmpl-" if endpoint_name == "chat" else "cmpl-")
                + ctx.request_id[4:],
                include_usage=_include_usage(body),
            )
        with state.tracer.span("stream"):
            return await relay_stream(request, ctx, state, sent, translator)
    to_openai: JsonTranslate | None = None
    if not native:
        convert = (
            translate.anthropic_response_to_openai
            if endpoint_name == "chat"
            else translate.anthropic_response_to_openai_completion
        )

        def to_openai(parsed: dict[str, Any]) -> dict[str, Any]:
            return convert(parsed, model=sent.upstream_model, created=created)

    with state.tracer.span("respond"):
        return await relay_whole(
            ctx, state, sent, to_openai, None if native else translate.anthropic_error_to_openai
        )


@endpoint("chat", "openai")
async def chat_completions(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    return await _generate(request, ctx, state, "chat")


@endpoint("completions", "openai")
async def completions(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    return await _generate(request, ctx, state, "completions")


@endpoint("embeddings", "openai")
async def embeddings(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    body = await _start(request, ctx, state, None)
    if "input" not in body:
        raise InvalidRequest("'input' is required", param="input")
    if ctx.stream:
        raise InvalidRequest("embeddings cannot be streamed", param="stream")
    sent = await _router(state).send(ctx, ctx.model, _openai_request(body, "embeddings", ctx))
    return await relay_whole(ctx, state, sent, None, None)


@endpoint("models", "openai")
async def list_models(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    await gate.authenticate(request, state)
    created = int(time.time())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "smartflow"}
        for name in _router(state).model_names()
    ]
    return json_response(ctx, 200, orjson.dumps({"object": "list", "data": data}))


@endpoint("models", "openai")
async def get_model(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    await gate.authenticate(request, state)
    name = request.match_info["model"]
    router = _router(state)
    router.resolve(name)
    return json_response(
        ctx,
        200,
        orjson.dumps(
            {"id": name, "object": "model", "created": int(time.time()), "owned_by": "smartflow"}
        ),
    )


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/chat/completions", chat_completions)
    app.router.add_post(f"{prefix}/completions", completions)
    app.router.add_post(f"{prefix}/embeddings", embeddings)
    app.router.add_get(f"{prefix}/models", list_models)
    app.router.add_get(prefix + "/models/{model:.+}", get_model)
