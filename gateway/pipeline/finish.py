"""After the response: what the request cost, settled against its key's reservation."""

from __future__ import annotations

from gateway.core.audit import AuditRecord
from gateway.core.pricing import cost_usd, estimate_prompt_tokens
from gateway.pipeline import admission
from gateway.pipeline.context import RequestContext
from gateway.pipeline.state import GatewayState


def usage_of(ctx: RequestContext) -> tuple[int, int]:
    """(prompt, completion) tokens as reported; when usage is missing (a stream cut short, an
    upstream that reports none) the prompt estimate and one token per relayed stream frame: the
    output the client actually received. Nothing when the upstream produced nothing."""
    produced = ctx.prompt_tokens is not None or ctx.relayed_frames > 0
    if not produced and ctx.status >= 400:
        return 0, 0
    prompt = ctx.prompt_tokens
    if prompt is None:
        if ctx.ticket is not None:
            prompt = ctx.ticket.prompt_estimate
        else:
            prompt = estimate_prompt_tokens(ctx.body) if ctx.body is not None else 0
    completion = ctx.completion_tokens
    if completion is None:
        completion = ctx.relayed_frames if ctx.stream else 0
    return prompt, completion


def settle(state: GatewayState, ctx: RequestContext) -> float:
    """Schedule the settlement (off the hot path) and return the request's cost in USD."""
    prompt, completion = usage_of(ctx)
    price = state.prices.price(ctx.served_model or ctx.model)
    cost = cost_usd(price, prompt, completion, ctx.cached_tokens or 0, ctx.cache_write_tokens or 0)
    if ctx.ticket is not None and state.counters is not None:
        record = admission.settlement(
            ctx.ticket, actual_usd=cost, actual_tokens=prompt + completion
        )
        state.background.spawn(state.counters.settle(record), name=f"settle {ctx.request_id}")
    return cost


def audit_record(ctx: RequestContext, cost: float) -> AuditRecord:
    elapsed_ms = ctx.elapsed_s() * 1000
    upstream_ms = ctx.upstream_s * 1000
    return AuditRecord(
        ts=ctx.started_at,
        request_id=ctx.request_id,
        key_id=ctx.key.id if ctx.key is not None else None,
        model_requested=ctx.model,
        model_served=ctx.served_model,
        provider=ctx.provider,
        route=ctx.route,
        status=ctx.status,
        stream=ctx.stream,
        prompt_tokens=ctx.prompt_tokens,
        completion_tokens=ctx.completion_tokens,
        cached_tokens=ctx.cached_tokens,
        cost_usd=cost,
        latency_ms=round(elapsed_ms, 3),
        upstream_ms=round(upstream_ms, 3),
        overhead_ms=round(max(0.0, elapsed_ms - upstream_ms), 3),
        cache=ctx.cache,
        compliance=ctx.compliance,
        client_ip=ctx.client_ip,
        error_code=ctx.error_code,
        prompt=ctx.prompt_text,
        tokens_saved=ctx.tokens_saved,
        usd_saved=round(ctx.usd_saved, 8),
        findings=audit_findings(ctx.findings),
        policy=ctx.policy,
        policy_action=ctx.policy_action,
    )


def audit_findings(counts: dict[str, int]) -> str | None:
    """Finding types and counts as the audit log keeps them (`email=2,us_ssn=1`): never text."""
    if not counts:
        return None
    return ",".join(f"{name}={count}" for name, count in sorted(counts.items()))
