"""The stages before routing: authenticate the caller, check the model is allowed for the key,
then admit the request against the key's limits and budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.core.errors import PermissionDenied
from gateway.core.redact import prompt_text
from gateway.pipeline import admission
from gateway.pipeline.body import read_json, require_model, stream_flag
from gateway.pipeline.context import RequestContext
from gateway.pipeline.keyauth import ADMIN_CALLER, Caller
from gateway.pipeline.state import GatewayState


async def authenticate(request: web.Request, state: GatewayState) -> Caller:
    with state.tracer.span("auth"):
        if state.key_auth is not None:
            return await state.key_auth.authenticate(request, None)
        if state.auth is not None:  # no key store (a bare proxy): the admin key only
            state.auth.check(request)
        return ADMIN_CALLER


async def open_request(
    request: web.Request,
    ctx: RequestContext,
    state: GatewayState,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Caller, dict[str, Any]]:
    """Who is asking, and the body read: its model (and metrics label) and stream flag set.
    `check` validates the route's own fields first (so their errors come before `stream`'s)."""
    caller = await authenticate(request, state)
    with state.tracer.span("parse"):
        body = await read_json(request, state.settings.max_body_bytes)
    ctx.model = require_model(body)
    if check is not None:
        check(body)
    ctx.stream = stream_flag(body)
    if state.router is not None:
        ctx.metric_model = state.router.metric_label(ctx.model)
    return caller, body


async def admit(
    ctx: RequestContext, state: GatewayState, caller: Caller, body: dict[str, Any]
) -> None:
    """Model permission, then rate limits and budget reservation (one counters round trip)."""
    key = caller.key
    if key is None:
        return
    ctx.key = key
    ctx.body = body
    if key.log_prompts:
        ctx.prompt_text = prompt_text(body)
    if not key.allows_model(ctx.model):
        raise PermissionDenied(
            f"this API key may not use model {ctx.model!r}", code="model_not_allowed", param="model"
        )
    if state.counters is None:
        return
    with state.tracer.span("limits"):
        ticket = await admission.admit(
            counters=state.counters, prices=state.prices, key=key, model=ctx.model, body=body
        )
    ctx.ticket = ticket
    if ticket is not None:
        ctx.response_headers.update(admission.rate_limit_headers(ticket.result))
