"""Judging text for the guardrail stage: scan it (bounded by COMPLIANCE_TIMEOUT_SECS), evaluate
the bound policies on the findings, and record the verdict, the finding counts and the deciding
rule on the request for the audit log and metrics. Shared by whole answers (`guard_stage`) and
streams (`guard_stream`)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.compliance.baseline import Baseline
from gateway.compliance.config import Profile
from gateway.compliance.engine import scan_bounded
from gateway.compliance.findings import Direction, Finding
from gateway.core.cache_key import Wire
from gateway.core.errors import ComplianceTimeout
from gateway.core.scan_text import ScanText
from gateway.pipeline.context import RequestContext
from gateway.pipeline.state import GatewayState
from gateway.policy.combine import SEVERITY, Verdict, action_label, combine, label, severity
from gateway.policy.compile import CompiledPolicy
from gateway.policy.evaluate import evaluate
from gateway.policy.model import Deny, PolicyContext, summarize_findings

log = logging.getLogger("smartflow.guard")

DEFAULT_ORG = "default"


@dataclass(slots=True)
class Guard:
    """One request's guardrail state, from the prompt's check to the audit record."""

    policies: tuple[CompiledPolicy, ...]  # the bound ones
    enforcing: bool  # at least one bound policy is enforced (not shadow)
    profile: Profile
    baseline: Baseline | None
    base: PolicyContext  # what conditions see, findings and direction aside
    wire: Wire
    route: str
    fail_closed: bool  # a timed-out scan refuses the request
    buffer_stream: bool  # a streamed answer is held whole and judged once
    body: dict[str, Any]
    prompt: ScanText | None = None
    verdict_pending: Callable[[], Awaitable[None]] | None = None  # judged beside the call
    answer: bytes | None = None  # a whole answer to scan after the response (audit only)


def org_of(ctx: RequestContext) -> str:
    key = ctx.key
    if key is None:
        return DEFAULT_ORG
    return key.metadata.get("org") or key.team or DEFAULT_ORG


async def scan(
    ctx: RequestContext,
    state: GatewayState,
    guard: Guard,
    text: str,
    direction: Direction,
    *,
    seen_before: int = 0,
) -> list[Finding] | None:
    """The findings in `text`; None when the scan timed out and the policies fail open.
    `seen_before`: a stream window's leading context, scanned already with the window before
    (findings ending inside it were counted then)."""
    assert state.policies is not None
    started = time.perf_counter()
    try:
        findings = await scan_bounded(
            state.policies.engine,
            text,
            timeout_s=state.settings.compliance_timeout_secs,
            direction=direction,
            profile=guard.profile,
            baseline=guard.baseline,
            executor=state.scan_pool,
        )
    except TimeoutError:
        _timed_out(ctx, state, guard)
        return None
    state.metrics.compliance_scan.labels(direction).observe(time.perf_counter() - started)
    if seen_before:
        findings = [f for f in findings if f.end > seen_before]
    count_findings(ctx, state, findings, direction)
    return findings


def _timed_out(ctx: RequestContext, state: GatewayState, guard: Guard) -> None:
    outcome = "closed" if guard.fail_closed else "open"
    state.metrics.compliance_timeouts.labels(outcome).inc()
    ctx.policy_action = f"timeout:{outcome}"
    limit = state.settings.compliance_timeout_secs
    log.warning(
        "compliance scan timed out",
        extra={"request_id": ctx.request_id, "timeout_s": limit, "outcome": outcome},
    )
    if guard.fail_closed:
        ctx.compliance = "block"
        raise ComplianceTimeout(
            f"the compliance scan took longer than {limit:g}s and the policy fails closed"
        )
    ctx.compliance = "timeout"


def count_findings(
    ctx: RequestContext, state: GatewayState, findings: list[Finding], direction: Direction
) -> None:
    counts = ctx.findings
    for finding in findings:
        counts[finding.type] = counts.get(finding.type, 0) + 1
        state.metrics.compliance_findings.labels(finding.type, direction).inc()
    if ctx.compliance is None or ctx.compliance == "pass":
        ctx.compliance = "flag" if counts else "pass"


def judge(
    ctx: RequestContext,
    state: GatewayState,
    guard: Guard,
    findings: list[Finding],
    direction: Direction,
) -> Verdict:
    """Evaluate every bound policy on the findings and record what matched."""
    context = dataclasses.replace(
        guard.base, direction=direction, findings=summarize_findings(findings)
    )
    verdict = combine(evaluate(policy, context) for policy in guard.policies)
    for decision in verdict.matched:
        mode = "shadow" if decision.shadow else "enforce"
        state.metrics.policy_decisions.labels(decision.policy, decision.action.type, mode).inc()
    deciding = verdict.deciding()
    if deciding is not None and _more_severe(ctx, deciding):
        ctx.policy = label(deciding)
        ctx.policy_action = action_label(deciding)
    if verdict.deny is not None:
        ctx.compliance = "block"
    return verdict


def _more_severe(ctx: RequestContext, decision: Any) -> bool:
    """A later decision (the answer's) replaces the prompt's only when it weighs more."""
    if ctx.policy_action is None:
        return True
    current = ctx.policy_action.removeprefix("shadow:")
    now_shadow = ctx.policy_action.startswith("shadow:")
    if now_shadow and not decision.shadow:
        return True
    if decision.shadow and not now_shadow:
        return False
    return severity(decision) > SEVERITY.get(current, 0)


def deny_message(verdict: Verdict) -> str:
    assert verdict.deny is not None
    action = verdict.deny.action
    return action.message if isinstance(action, Deny) else "refused by policy"


def spans_of(findings: list[Finding], types: frozenset[str] | None) -> list[tuple[int, int, str]]:
    return [(f.start, f.end, f.type) for f in findings if types is None or f.type in types]
