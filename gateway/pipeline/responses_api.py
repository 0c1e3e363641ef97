"""The OpenAI Responses API: POST /v1/responses, GET and DELETE /v1/responses/{id}, and
GET /v1/responses/{id}/input_items.

Forwarded untouched to an upstream that speaks it (OpenAI, Azure OpenAI), translated to Chat
Completions (OpenAI-compatible servers, the mock) or Anthropic Messages otherwise, streams
included. The gateway keeps the conversation state itself, per virtual key: a native upstream
is sent `store: false` with the whole conversation as input, so `previous_response_id` works the
same on every provider, survives a fallback from one to another, and no response is stored at a
provider the operator did not choose to keep data at.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import orjson
from aiohttp import web

from gateway.core import translate
from gateway.core.errors import NotFound
from gateway.core.responses_items import (
    list_page,
)
from gateway.core.responses_translate import (
    AnthropicToResponsesStream,
    ChatToResponsesStream,
    anthropic_response_to_responses,
    chat_response_to_responses,
    responses_request_to_anthropic,
)
from gateway.pipeline import cache_stage, gate, guard_stage, responses_cache
from gateway.pipeline.context import RequestContext
from gateway.pipeline.endpoint import endpoint
from gateway.pipeline.relay import JsonTranslate, relay_stream, relay_whole
from gateway.pipeline.respond import json_response, smartflow_headers
from gateway.pipeline.responses_relay import (
    EventSource,
    NativeEvents,
    ResponsesStreamRelay,
    final_response,
)
from gateway.pipeline.responses_turn import ResponsesTurn, owner_of, validate
from gateway.pipeline.router import Deployment, Sent
from gateway.pipeline.state import GatewayState
from gateway.providers.base import Endpoint, UpstreamRequest
from gateway.store.responses_base import ResponseStore, StoredResponse


@endpoint("responses", "openai")
async def create_response(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    caller, body = await gate.open_request(request, ctx, state, validate)
    await gate.admit(ctx, state, caller, body)
    body = await guard_stage.check_request(ctx, state, body, "responses")
    # after the guardrails: what is stored is what was sent
    turn = ResponsesTurn(ctx, state, caller, body)
    await turn.load_previous(state)
    hit = await responses_cache.look_up(request, ctx, state, turn)
    if hit is not None:
        await guard_stage.request_verdict(ctx)

        def reask(fresh: RequestContext, _: dict[str, Any]) -> Awaitable[web.StreamResponse]:
            return _upstream(None, fresh, state, turn.for_shadow(fresh))

        refetch = cache_stage.refetcher(ctx, turn.body, reask)
        return await responses_cache.answer_hit(request, ctx, state, turn, hit, refetch=refetch)
    return await _upstream(request, ctx, state, turn)


def _build(ctx: RequestContext, turn: ResponsesTurn) -> Any:
    def build(deployment: Deployment, upstream_model: str) -> UpstreamRequest:
        provider = deployment.provider
        endpoint_name: Endpoint
        if provider.native_responses:
            upstream = turn.native_body(upstream_model)
            endpoint_name = "responses"
        elif provider.speaks("openai"):
            upstream = dict(turn.chat_request())
            endpoint_name = "chat"
        else:
            upstream = responses_request_to_anthropic(turn.body, previous=turn.previous)
            if ctx.stream:
                upstream["stream"] = True
            endpoint_name = "messages"
        upstream["model"] = upstream_model
        return UpstreamRequest(
            endpoint=endpoint_name,
            body=upstream,
            stream=ctx.stream,
            timeout_s=deployment.timeout_s(),
            request_id=ctx.request_id,
            deployment_model=upstream_model,
        )

    return build


async def _upstream(
    request: web.Request | None, ctx: RequestContext, state: GatewayState, turn: ResponsesTurn
) -> web.StreamResponse:
    router = state.router
    assert router is not None
    with state.tracer.span("route", model=ctx.model):
        sent = await guard_stage.alongside(ctx, router.send(ctx, ctx.model, _build(ctx, turn)))
    provider = sent.deployment.provider
    if ctx.stream and request is not None and sent.response.status < 400:
        source: EventSource
        ids = turn.ids()
        if provider.native_responses:
            source = NativeEvents()
        elif provider.speaks("openai"):
            source = ChatToResponsesStream(turn.body, model=sent.upstream_model, **ids)
        else:
            source = AnthropicToResponsesStream(turn.body, model=sent.upstream_model, **ids)

        async def keep(tail: bytes) -> None:
            await turn.keep(final_response(tail))

        relay = ResponsesStreamRelay(source, turn.finalise)
        with state.tracer.span("stream"):
            return await relay_stream(request, ctx, state, sent, relay, on_end=keep)
    with state.tracer.span("respond"):
        answer = await relay_whole(
            ctx,
            state,
            sent,
            _whole_translation(turn, sent),
            None if provider.speaks("openai") else translate.anthropic_error_to_openai,
        )
    if answer.status < 400 and isinstance(answer.body, bytes):
        parsed = orjson.loads(answer.body)
        await turn.keep(parsed if isinstance(parsed, dict) else None)
        answer.headers.update(smartflow_headers(ctx))  # the store write is the gateway's time
    return answer


def _whole_translation(turn: ResponsesTurn, sent: Sent) -> JsonTranslate:
    provider = sent.deployment.provider
    ids = turn.ids()

    def to_responses(parsed: dict[str, Any]) -> dict[str, Any]:
        if provider.native_responses:
            response = parsed
        elif provider.speaks("openai"):
            response = chat_response_to_responses(parsed, turn.body, **ids)
        else:
            response = anthropic_response_to_responses(parsed, turn.body, **ids)
        turn.finalise(response)
        return response

    return to_responses


async def _stored(
    request: web.Request, state: GatewayState
) -> tuple[ResponseStore, StoredResponse]:
    caller = await gate.authenticate(request, state)
    response_id = request.match_info["response_id"]
    store = state.responses
    found = await store.get(owner_of(caller), response_id) if store is not None else None
    if store is None or found is None:
        raise NotFound(f"Response with id {response_id!r} not found.", param="response_id")
    return store, found


@endpoint("responses", "openai")
async def get_response(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    _, found = await _stored(request, state)
    ctx.model = str(found.response.get("model") or "-")
    return json_response(ctx, 200, orjson.dumps(found.response))


@endpoint("responses", "openai")
async def delete_response(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    store, found = await _stored(request, state)
    await store.delete(found.owner, found.id)
    return json_response(
        ctx, 200, orjson.dumps({"id": found.id, "object": "response", "deleted": True})
    )


@endpoint("responses", "openai")
async def list_input_items(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    _, found = await _stored(request, state)
    return json_response(ctx, 200, orjson.dumps(list_page(found.input_items, request.query)))


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/responses", create_response)
    app.router.add_get(prefix + "/responses/{response_id}", get_response)
    app.router.add_delete(prefix + "/responses/{response_id}", delete_response)
    app.router.add_get(prefix + "/responses/{response_id}/input_items", list_input_items)
