"""The Anthropic Messages API: POST /anthropic/v1/messages. Passed through to an Anthropic-speaking
upstream, translated for an OpenAI-speaking one (streamed usage included)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from gateway.core import translate
from gateway.core.errors import InvalidRequest
from gateway.pipeline import anthropic_extras, cache_stage, gate, guard_stage
from gateway.pipeline.body import require_list
from gateway.pipeline.context import RequestContext
from gateway.pipeline.endpoint import endpoint
from gateway.pipeline.relay import JsonTranslate, relay_stream, relay_whole
from gateway.pipeline.router import Deployment
from gateway.pipeline.state import GatewayState
from gateway.providers.anthropic import AnthropicUpstreamRequest, forwarded_headers
from gateway.providers.base import Endpoint, UpstreamRequest


def _validate(body: dict[str, Any]) -> None:
    require_list(body, "messages")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InvalidRequest("max_tokens: field required (a positive integer)", param="max_tokens")


@endpoint("messages", "anthropic")
async def messages(
    request: web.Request, ctx: RequestContext, state: GatewayState
) -> web.StreamResponse:
    caller, body = await gate.open_request(request, ctx, state, _validate)
    await gate.admit(ctx, state, caller, body)
    body = await guard_stage.check_request(ctx, state, body, "messages")
    hit = await cache_stage.look_up(request, ctx, state, body, "messages")
    if hit is not None:
        await guard_stage.request_verdict(ctx)

        def reask(
            fresh: RequestContext, fresh_body: dict[str, Any]
        ) -> Awaitable[web.StreamResponse]:
            return _upstream(None, fresh, state, fresh_body)

        refetch = cache_stage.refetcher(ctx, body, reask)
        return await cache_stage.answer_hit(request, ctx, state, hit, body=body, refetch=refetch)
    return await _upstream(request, ctx, state, body)


async def _upstream(
    request: web.Request | None, ctx: RequestContext, state: GatewayState, body: dict[str, Any]
) -> web.StreamResponse:
    """Route the request and relay the answer (`request` is None for a shadow re-ask, which is
    never streamed)."""
    router = state.router
    assert router is not None
    client_headers = forwarded_headers(request.headers) if request is not None else {}

    def build(deployment: Deployment, upstream_model: str) -> UpstreamRequest:
        provider = deployment.provider
        if provider.speaks("anthropic"):
            upstream = (
                body if body["model"] == upstream_model else {**body, "model": upstream_model}
            )
            if provider.wire == "anthropic":  # thinking, cache_control, server tools: untouched
                return AnthropicUpstreamRequest(
                    endpoint="messages",
                    body=upstream,
                    stream=ctx.stream,
                    timeout_s=deployment.timeout_s(),
                    request_id=ctx.request_id,
                    deployment_model=upstream_model,
                    client_headers=client_headers,
                )
            upstream_endpoint: Endpoint = "messages"
        else:
            upstream = translate.anthropic_request_to_openai(body)
            upstream["model"] = upstream_model
            if ctx.stream:
                upstream["stream_options"] = {"include_usage": True}
            upstream_endpoint = "chat"
        return UpstreamRequest(
            endpoint=upstream_endpoint,
            body=upstream,
            stream=ctx.stream,
            timeout_s=deployment.timeout_s(),
            request_id=ctx.request_id,
            deployment_model=upstream_model,
        )

    with state.tracer.span("route", model=ctx.model):
        sent = await guard_stage.alongside(ctx, router.send(ctx, ctx.model, build))
    native = sent.deployment.provider.speaks("anthropic")
    message_id = "msg_" + ctx.request_id[4:]
    if ctx.stream and request is not None and sent.response.status < 400:
        translator = (
            None
            if native
            else translate.OpenAIToAnthropicStream(model=sent.upstream_model, message_id=message_id)
        )
        with state.tracer.span("stream"):
            return await relay_stream(request, ctx, state, sent, translator)
    to_anthropic: JsonTranslate | None = None
    if not native:

        def to_anthropic(parsed: dict[str, Any]) -> dict[str, Any]:
            return translate.openai_response_to_anthropic(parsed, model=sent.upstream_model)

    with state.tracer.span("respond"):
        return await relay_whole(
            ctx, state, sent, to_anthropic, None if native else translate.openai_error_to_anthropic
        )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/anthropic/v1/messages", messages)
    anthropic_extras.add_routes(app)
