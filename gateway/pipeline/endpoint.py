"""Wraps every data-plane handler: request context, the one error-to-response mapping, and the
after-response bookkeeping (metrics, access log)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.core.errors import GatewayError, PayloadTooLarge
from gateway.pipeline import cache_stage, guard_stage
from gateway.pipeline.context import ClientWire, RequestContext
from gateway.pipeline.finish import audit_record, settle
from gateway.pipeline.respond import error_response
from gateway.pipeline.state import STATE, GatewayState

log = logging.getLogger("smartflow.access")

Handler = Callable[[web.Request, RequestContext, GatewayState], Awaitable[web.StreamResponse]]


def endpoint(
    route: str, wire: ClientWire
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            ctx = RequestContext(state.request_ids(), route, wire, request.remote)
            lifecycle = state.lifecycle
            lifecycle.inflight += 1
            try:
                if state.tracer.enabled:
                    with state.tracer.span(
                        f"smartflow {route}", request_id=ctx.request_id, wire=wire
                    ):
                        return await handler(request, ctx, state)
                return await handler(request, ctx, state)
            except GatewayError as exc:
                return error_response(ctx, exc)
            except web.HTTPRequestEntityTooLarge:
                limit = state.settings.max_body_bytes
                return error_response(
                    ctx, PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
                )
            except (asyncio.CancelledError, ConnectionResetError):
                ctx.client_disconnected = True
                ctx.status = ctx.status or 499
                raise
            except Exception:
                log.exception("unhandled error", extra={"request_id": ctx.request_id})
                return error_response(
                    ctx,
                    GatewayError(
                        f"internal error in the gateway; quote request id {ctx.request_id}"
                    ),
                )
            finally:
                lifecycle.inflight -= 1
                # bookkeeping runs after aiohttp has written the response, off the latency path
                asyncio.get_running_loop().call_soon(_observe, state, ctx)

        return run

    return wrap


def _observe(state: GatewayState, ctx: RequestContext) -> None:
    elapsed = ctx.elapsed_s()
    overhead = max(0.0, elapsed - ctx.upstream_s)
    state.metrics.observe_request(ctx.route, ctx.metric_model, ctx.status, elapsed, overhead)
    if ctx.client_disconnected:
        state.metrics.client_disconnects.labels(ctx.route).inc()
    state.metrics.observe_tokens(ctx.metric_model, ctx.prompt_tokens, ctx.completion_tokens)
    if state.tracer.enabled:
        state.tracer.record_request(ctx.route, ctx.status, elapsed, overhead)
    guard_stage.after_response(state, ctx)
    guard_stage.observe_verdict(state, ctx)
    cost = settle(state, ctx)
    cache_stage.after_response(state, ctx, cost)
    if state.audit is not None and ctx.route != "models":
        state.audit.submit(audit_record(ctx, cost))
    if state.settings.access_log:
        log.info(
            "request",
            extra={
                "request_id": ctx.request_id,
                "route": ctx.route,
                "model": ctx.model,
                "served_model": ctx.served_model,
                "provider": ctx.provider,
                "stream": ctx.stream,
                "status": ctx.status,
                "attempts": ctx.attempts,
                "duration_ms": round(elapsed * 1000, 3),
                "upstream_ms": round(ctx.upstream_s * 1000, 3),
                "prompt_tokens": ctx.prompt_tokens,
                "completion_tokens": ctx.completion_tokens,
                "client_ip": ctx.client_ip,
                "error_code": ctx.error_code,
                "client_disconnected": ctx.client_disconnected,
            },
        )
