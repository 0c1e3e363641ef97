"""The cache stage of the pipeline: look up before routing, answer a hit, keep a good answer.

A hit is answered in the shape the client asked for: the stored body as JSON, or replayed as SSE
frames when the client streams (both wires, usage included). It reports zero upstream tokens, so
the key is charged nothing, and records what it saved. On a miss, the answer the client receives
is captured (a stream is assembled from the frames it was sent) and, once the response is
complete and the rules allow it, written to the cache in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from gateway.cache.entry import CachedRoute
from gateway.cache.metacache import Hit, MetaCache, Probe
from gateway.core.cache_policy import CachePolicy, request_decision, response_decision
from gateway.core.cache_replay import replay_frames
from gateway.core.stream_assemble import SSECapture, assembler_for
from gateway.pipeline.context import RequestContext, shadow_context, without_stream
from gateway.pipeline.respond import json_response, sse_response
from gateway.pipeline.state import GatewayState

log = logging.getLogger("smartflow.cache")

ADMIN_NAMESPACE = "admin"  # the admin key on the local all-in-one gateway
Refetch = Callable[[], Awaitable[bytes | None]]
Tap = Callable[[bytes], None]
SSE_FRAMING = 64


@dataclass(slots=True)
class CacheTicket:
    """A request whose answer may be stored: the probe, and what the client was sent."""

    probe: Probe
    policy: CachePolicy
    max_bytes: int
    status: int = 0
    upstream_headers: Mapping[str, str] = field(default_factory=dict)
    whole: bytes | None = None  # a whole response's body
    capture: SSECapture | None = None  # a stream: what was sent, assembled back into a body
    stream_failed: bool = False
    oversize: bool = False  # a stream over max_bytes (no longer captured)


def _policy(state: GatewayState, ctx: RequestContext) -> CachePolicy:
    bound = state.settings.cache.max_temperature
    key = ctx.key
    if key is None:
        return CachePolicy(max_temperature=bound)
    return CachePolicy(
        max_temperature=None if key.cache.any_temperature else bound,
        cache_tool_calls=key.cache.cache_tool_calls,
    )


async def look_up(
    request: web.Request,
    ctx: RequestContext,
    state: GatewayState,
    body: Mapping[str, Any],
    route: CachedRoute,
) -> Hit | None:
    """The cached answer for this request, if any; prepares the write when it may be stored."""
    cache = state.cache
    key = ctx.key
    mode = key.cache.mode if key is not None else "on"
    if cache is None or mode == "off" or ctx.cache_bypass:
        return None
    policy = _policy(state, ctx)
    decision = request_decision(body, request.headers, policy=policy)
    if decision.reason is not None and not decision.lookup:
        cache.stats.bypassed += 1
        state.metrics.cache_bypassed.labels(decision.reason.value).inc()
    if not decision.lookup and not decision.store:
        return None
    namespace = ctx.cache_namespace or (
        key.cache_namespace() if key is not None else ADMIN_NAMESPACE
    )
    beta = request.headers.get("anthropic-beta") if ctx.wire == "anthropic" else None
    if beta:  # a beta feature can change the answer: entries are kept apart per beta set
        namespace = f"{namespace}|anthropic-beta={beta}"
    with state.tracer.span("cache"):
        probe = cache.probe(
            body,
            wire="anthropic" if ctx.wire == "anthropic" else "openai",
            route=route,
            namespace=namespace,
            model=ctx.model,
            semantic=mode == "on" and state.settings.cache.semantic,
        )
        hit = await cache.lookup(probe) if decision.lookup else None
    if hit is not None:
        return hit
    if decision.lookup:
        ctx.cache = "miss"
    if decision.store:
        ctx.cache_ticket = CacheTicket(probe, policy, state.settings.cache.max_entry_bytes)
    elif decision.reason is not None:
        cache.not_stored(decision.reason.value)
    return None


async def answer_hit(
    request: web.Request,
    ctx: RequestContext,
    state: GatewayState,
    hit: Hit,
    *,
    body: Mapping[str, Any],
    refetch: Refetch | None,
) -> web.StreamResponse:
    """The stored answer, whole or replayed as a stream."""
    entry = hit.entry
    note_hit(ctx, state, hit, refetch)
    if not ctx.stream:
        return json_response(ctx, 200, entry.response)
    stored = orjson.loads(entry.response)
    options = body.get("stream_options")
    frames = replay_frames(
        stored,
        wire=entry.wire,
        route=entry.route,
        include_usage=isinstance(options, Mapping) and bool(options.get("include_usage")),
    )
    out = sse_response(ctx, 200)
    await out.prepare(request)
    await out.write(b"".join(frames))
    await out.write_eof()
    ctx.relayed_frames = len(frames)
    return out


def note_hit(ctx: RequestContext, state: GatewayState, hit: Hit, refetch: Refetch | None) -> None:
    """A hit's accounting (nothing charged, what it saved) and its shadow check, if sampled."""
    entry = hit.entry
    ctx.cache = "hit-semantic" if hit.phase == "semantic" else "hit-exact"
    ctx.provider = "cache"
    ctx.served_model = entry.model
    ctx.prompt_tokens = 0
    ctx.completion_tokens = 0
    ctx.tokens_saved = entry.prompt_tokens + entry.completion_tokens
    ctx.usd_saved = entry.cost_usd
    if hit.phase == "semantic" and refetch is not None:
        _maybe_shadow(state, hit, refetch)


def refetcher(
    ctx: RequestContext,
    body: dict[str, Any],
    ask: Callable[[RequestContext, dict[str, Any]], Awaitable[web.StreamResponse]],
) -> Refetch:
    """How shadow mode re-asks a request upstream: `ask` routes and relays it, whole."""

    async def refetch() -> bytes | None:
        fresh = shadow_context(ctx)
        answer = await ask(fresh, without_stream(body))
        if fresh.status != 200 or not isinstance(answer, web.Response):
            return None
        return answer.body if isinstance(answer.body, bytes) else None

    return refetch


def _maybe_shadow(state: GatewayState, hit: Hit, refetch: Refetch) -> None:
    shadow = state.cache_shadow
    if shadow is None or not shadow.sample():
        return
    state.background.spawn(
        shadow.check(hit.entry, refetch), name=f"shadow check {hit.entry.namespace}"
    )


def capture_whole(
    ctx: RequestContext, status: int, body: bytes, headers: Mapping[str, str]
) -> None:
    """A whole response as the client gets it (after any translation)."""
    ticket = ctx.cache_ticket
    if ticket is not None:
        ticket.status = status
        ticket.whole = body
        ticket.upstream_headers = headers


def stream_tap(ctx: RequestContext, status: int, headers: Mapping[str, str]) -> Tap | None:
    """Where a stream's outgoing bytes go to be assembled, when its answer may be stored."""
    ticket = ctx.cache_ticket
    if ticket is None or status != 200:
        return None
    ticket.status = status
    ticket.upstream_headers = headers
    ticket.capture = SSECapture(
        assembler_for(ticket.probe.wire, ticket.probe.route),
        # the bound is on the stored body; SSE framing runs 10 to 40 times the content (one
        # chunk object per token), so the raw stream is cut off far later
        max_bytes=ticket.max_bytes * SSE_FRAMING,
    )
    return ticket.capture.feed


def after_response(state: GatewayState, ctx: RequestContext, cost: float) -> None:
    """Once the client has its answer: decide whether to keep it and write it off the hot path."""
    ticket = ctx.cache_ticket
    cache = state.cache
    if ticket is None or cache is None:
        return
    ctx.cache_ticket = None
    parsed, raw, completed = _answer(ticket, ctx)
    if ticket.oversize:  # a stream past the bound stopped being captured: not "incomplete"
        _skip(state, cache, "too_large")
        return
    decision = response_decision(
        ticket.status,
        parsed,
        ticket.upstream_headers,
        policy=ticket.policy,
        stream_error=ticket.stream_failed or ctx.error_code is not None,
        completed=completed and not ctx.client_disconnected,
    )
    if not decision.store or raw is None:
        _skip(state, cache, decision.reason.value if decision.reason is not None else "empty")
        return
    if len(raw) > state.settings.cache.max_entry_bytes:
        _skip(state, cache, "too_large")
        return
    prompt = ctx.prompt_tokens or 0
    completion = ctx.completion_tokens or 0
    state.background.spawn(
        _remember(
            state, cache, ticket.probe, raw=raw, prompt=prompt, completion=completion, cost=cost
        ),
        name=f"cache write {ctx.request_id}",
    )


def _skip(state: GatewayState, cache: MetaCache, reason: str) -> None:
    cache.not_stored(reason)
    state.metrics.cache_not_stored.labels(reason).inc()


def _answer(
    ticket: CacheTicket, ctx: RequestContext
) -> tuple[dict[str, Any] | None, bytes | None, bool]:
    """(parsed body, bytes to store, completed) of what the client was sent."""
    if ticket.whole is not None:
        try:
            parsed = orjson.loads(ticket.whole)
        except orjson.JSONDecodeError:
            return None, None, True
        return (parsed if isinstance(parsed, dict) else None), ticket.whole, True
    if ticket.capture is None:
        return None, None, False
    result = ticket.capture.result()
    if result.error:
        ticket.stream_failed = True
    ticket.oversize = result.oversize
    body = result.body
    if body is None:
        return None, None, result.completed
    if ticket.probe.wire == "openai" and "usage" not in body and ctx.prompt_tokens is not None:
        # the gateway asked the upstream for usage and kept it from the client: store it, so a
        # later replay with include_usage has it
        body = {**body, "usage": _openai_usage(ctx)}
    return body, orjson.dumps(body), result.completed


def _openai_usage(ctx: RequestContext) -> dict[str, int]:
    prompt = ctx.prompt_tokens or 0
    completion = ctx.completion_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _remember(
    state: GatewayState,
    cache: MetaCache,
    probe: Probe,
    *,
    raw: bytes,
    prompt: int,
    completion: int,
    cost: float,
) -> None:
    try:
        await cache.remember(probe, raw, prompt, completion, cost)
        state.metrics.cache_stored.inc()
    except Exception:
        log.exception("cache write failed", extra={"namespace": probe.namespace})
