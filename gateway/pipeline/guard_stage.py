"""The guardrail stage: compliance scanning and policy enforcement around the upstream call.

Only the policies that bind a request (by key, team, model, or the key's named policy) are
evaluated, and only when one of them is enforced does anything happen on the hot path:

- the prompt is scanned and judged before the call. Only when its scan has to leave the event
  loop (a long prompt, an organisation's own patterns) and the rules can only refuse it does
  the upstream call start at once, beside the scan: a refusal then cancels the call, and
  nothing is relayed before the verdict;
- a whole answer is held until its scan has passed (and redacted when a rule says so); a stream
  is judged window by window as it arrives (`guard_stream`).

With no enforced policy, the prompt and the answer are scanned after the response, off the hot
path, for the audit log and metrics (and for shadow policies). A scan that may be slow (an
organisation's own regex, a long text) runs on a small thread pool under
COMPLIANCE_TIMEOUT_SECS; past it the request fails open or closed as its policies say.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import orjson

from gateway.compliance.config import Profile
from gateway.compliance.engine import ComplianceEngine
from gateway.compliance.findings import Direction
from gateway.core.cache_key import Wire
from gateway.core.errors import PolicyViolation
from gateway.core.pricing import estimate_prompt_tokens, estimated_cost
from gateway.core.scan_text import redact_request, redact_response, request_text
from gateway.core.scan_text import response_text as answer_text
from gateway.pipeline.context import RequestContext
from gateway.pipeline.guard_judge import (
    Guard,
    count_findings,
    deny_message,
    judge,
    org_of,
    scan,
    spans_of,
)
from gateway.pipeline.router import Sent
from gateway.pipeline.state import GatewayState
from gateway.policy.compile import CompiledPolicy
from gateway.policy.evaluate import profile
from gateway.policy.model import KeyInfo, PolicyContext, Redact

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEND_TURNS = 20


def _wire(ctx: RequestContext) -> Wire:
    return "anthropic" if ctx.wire == "anthropic" else "openai"


def _key_info(ctx: RequestContext) -> KeyInfo:
    key = ctx.key
    return KeyInfo(key.id, key.team or "", key.metadata) if key is not None else KeyInfo()


def _base_context(
    ctx: RequestContext, state: GatewayState, body: dict[str, Any], key: KeyInfo
) -> PolicyContext:
    """What conditions read, findings aside; built only for a request some policy binds."""
    tokens = ctx.ticket.prompt_estimate if ctx.ticket is not None else estimate_prompt_tokens(body)
    cost = estimated_cost(state.prices.price(ctx.model), tokens, body)
    now = time.gmtime(ctx.started_at)
    metadata = body.get("metadata")
    return PolicyContext(
        key=key,
        model=ctx.model,
        route=ctx.route,
        tokens=tokens,
        cost=cost,
        hour=now.tm_hour,
        weekday=WEEKDAYS[now.tm_wday],
        metadata=metadata if isinstance(metadata, dict) else {},
    )


async def open_guard(
    ctx: RequestContext, state: GatewayState, body: dict[str, Any], route: str
) -> Guard | None:
    """The request's guardrail state (also left on `ctx.guard`): which policies bind it and how
    its texts are scanned. None when the guardrails are off. Shared by the chat routes and the
    MCP gateway's tool calls."""
    policies = state.policies
    if policies is None:
        return None
    engine = policies.engine
    key = _key_info(ctx)
    # binding reads only the key and the model: the full context is built for bound requests
    bound = policies.applicable(
        PolicyContext(key=key, model=ctx.model), ctx.key.policy if ctx.key is not None else None
    )
    if not bound:
        ctx.guard = Guard(
            policies=(),
            enforcing=False,
            profile=engine.config.profile,
            baseline=None,
            base=PolicyContext(key=key, model=ctx.model, route=ctx.route),
            wire=_wire(ctx),
            route=route,
            fail_closed=False,
            buffer_stream=False,
            body=body,
        )
        return ctx.guard  # scanned after the response, for the record
    base = _base_context(ctx, state, body, key)
    enforced = tuple(p for p in bound if p.policy.mode == "enforce")
    chosen = _profile(bound, base) or engine.config.profile
    baseline = await state.baselines.get(org_of(ctx)) if state.baselines is not None else None
    guard = Guard(
        policies=bound,
        enforcing=bool(enforced),
        profile=chosen,
        baseline=baseline,
        base=base,
        wire=_wire(ctx),
        route=route,
        fail_closed=any(p.policy.on_timeout == "closed" for p in enforced),
        buffer_stream=any(_buffers(p) for p in enforced),
        body=body,
    )
    ctx.guard = guard
    return guard


async def check_request(
    ctx: RequestContext, state: GatewayState, body: dict[str, Any], route: str
) -> dict[str, Any]:
    """Judge the prompt, or arrange for it to be judged beside the call; return the body to
    send (redacted when a policy says so)."""
    guard = await open_guard(ctx, state, body, route)
    if guard is None or not guard.enforcing:
        return body  # judged after the response, for the record
    assert state.policies is not None
    policies, engine = state.policies, state.policies.engine
    guard.prompt = request_text(body, guard.wire, route)
    enforced = tuple(p for p in guard.policies if p.policy.mode == "enforce")
    if policies.needs_prompt_rewrite(enforced) or engine.inline_ok(guard.prompt.text):
        return await _judge_prompt(ctx, state, guard, body)
    # a scan that leaves the loop (a long prompt, custom patterns) under rules that can only
    # refuse: the call starts beside it, and a refusal cancels it

    async def judge() -> None:
        await _judge_prompt(ctx, state, guard, body)

    guard.verdict_pending = judge
    return body


def _profile(bound: tuple[CompiledPolicy, ...], base: PolicyContext) -> Profile | None:
    """`full` if any bound policy asks for it, else `reduced` if one does, else None."""
    asked = {profile(p, base) for p in bound if p.policy.mode == "enforce"}
    if "full" in asked:
        return "full"
    return "reduced" if "reduced" in asked else None


def _buffers(policy: CompiledPolicy) -> bool:
    if policy.policy.stream == "buffer":
        return True
    redacts = any(isinstance(r.decision.action, Redact) for r in policy.deciding)
    return policy.policy.stream == "auto" and redacts


async def _judge_prompt(
    ctx: RequestContext, state: GatewayState, guard: Guard, body: dict[str, Any]
) -> dict[str, Any]:
    assert guard.prompt is not None
    findings = await scan(ctx, state, guard, guard.prompt.text, "prompt")
    if findings is None:
        return body  # timed out, failing open
    verdict = judge(ctx, state, guard, findings, "prompt")
    if verdict.deny is not None:
        raise PolicyViolation(deny_message(verdict))
    if verdict.redact:
        spans = spans_of(findings, verdict.redact_types())
        if spans:
            body = redact_request(
                body, guard.wire, guard.route, guard.prompt, spans, verdict.replacement()
            )
    if verdict.route is not None:
        target = getattr(verdict.route.action, "model", ctx.model)
        ctx.model = target
        if state.router is not None:
            ctx.metric_model = state.router.metric_label(target)
    if verdict.cache is not None:
        action = verdict.cache.action
        ctx.cache_bypass = bool(getattr(action, "bypass", False))
        namespace = getattr(action, "namespace", None)
        ctx.cache_namespace = "policy:" + namespace if namespace else None
    return body


async def request_verdict(ctx: RequestContext) -> None:
    """Wait for the prompt's verdict when it was left to run beside the call; raise if it
    refuses. Called before anything is sent to the client (a cache hit included)."""
    guard = ctx.guard
    if guard is None or guard.verdict_pending is None:
        return
    pending, guard.verdict_pending = guard.verdict_pending, None
    await pending()


async def alongside(ctx: RequestContext, send: Awaitable[Sent]) -> Sent:
    """Run the upstream call and the prompt's pending verdict together. The call starts first
    (so the scan overlaps the upstream's work); a refusal cancels it, or releases its response
    if it already came back; nothing reaches the client before the verdict."""
    guard = ctx.guard
    if guard is None or guard.verdict_pending is None:
        return await send
    call = asyncio.ensure_future(send)
    # let the call go out before the scan starts: the scan thread holds the GIL for long stretches
    # (a regex pass is one C call), and the request needs a few loop turns to reach the wire
    # (an upstream on the same loop had it after 20 turns, not after 4; a turn costs ~30 us)
    for _ in range(SEND_TURNS):
        if call.done():
            break
        await asyncio.sleep(0)
    try:
        await request_verdict(ctx)
    except BaseException:
        if call.done() and not call.cancelled() and call.exception() is None:
            call.result().response.release()
        else:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
        raise
    return await call


async def check_answer(ctx: RequestContext, state: GatewayState, answer: bytes) -> bytes:
    """A whole answer, before a byte of it is sent: held until scanned, refused or redacted as
    the policies say. Without an enforced policy it is kept for the audit scan."""
    guard = ctx.guard
    if guard is None:
        return answer
    if not guard.enforcing:
        guard.answer = answer
        return answer
    try:
        parsed = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return answer
    if not isinstance(parsed, dict):
        return answer
    text = answer_text(parsed, guard.wire, guard.route)
    findings = await scan(ctx, state, guard, text.text, "response")
    if findings is None:
        return answer
    verdict = judge(ctx, state, guard, findings, "response")
    if verdict.deny is not None:
        raise PolicyViolation(deny_message(verdict))
    if verdict.redact:
        spans = spans_of(findings, verdict.redact_types())
        if spans:
            redacted = redact_response(
                parsed, guard.wire, guard.route, text, spans, verdict.replacement()
            )
            return orjson.dumps(redacted)
    return answer


def after_response(state: GatewayState, ctx: RequestContext) -> None:
    """Off the hot path, before the audit record: when nothing was enforced, scan the prompt and
    the answer for the record and judge them under the shadow policies."""
    guard = ctx.guard
    if guard is None or guard.enforcing:
        return
    if state.policies is None or not (guard.policies or state.settings.compliance.audit_scan):
        return
    engine = state.policies.engine
    prompt = request_text(guard.body, guard.wire, guard.route)
    _audit_scan(state, ctx, engine, prompt.text, "prompt")
    if guard.answer is not None and ctx.status < 400:
        try:
            parsed = orjson.loads(guard.answer)
        except orjson.JSONDecodeError:
            return
        if isinstance(parsed, dict):
            text = answer_text(parsed, guard.wire, guard.route).text
            _audit_scan(state, ctx, engine, text, "response")


def _audit_scan(
    state: GatewayState,
    ctx: RequestContext,
    engine: ComplianceEngine,
    text: str,
    direction: Direction,
) -> None:
    guard = ctx.guard
    assert guard is not None
    if not text or not engine.inline_ok(text):
        return  # a long or custom-pattern scan is not worth stalling the loop for a record
    started = time.perf_counter()
    baseline = guard.baseline
    if baseline is None and state.baselines is not None:
        baseline = state.baselines.peek(org_of(ctx))
    findings = engine.scan(text, direction=direction, profile=guard.profile, baseline=baseline)
    state.metrics.compliance_scan.labels(direction).observe(time.perf_counter() - started)
    count_findings(ctx, state, findings, direction)
    if guard.policies:
        judge(ctx, state, guard, findings, direction)


def observe_verdict(state: GatewayState, ctx: RequestContext) -> None:
    if ctx.compliance is not None:
        state.metrics.compliance_verdicts.labels(ctx.compliance).inc()
