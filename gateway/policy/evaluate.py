"""Evaluate a compiled policy for one request: the first rule whose condition holds decides.

Pure and total: no I/O, no clock (the hour and weekday are in the context), no exceptions from a
condition, and no allocation (every decision was built when the policy was compiled). A shadow
policy decides exactly like an enforced one; its decisions carry `shadow=True`, and the caller
records them instead of acting on them.
"""

from __future__ import annotations

from typing import Literal

from gateway.policy.compile import CompiledPolicy
from gateway.policy.model import Decision, Inspect, PolicyContext


def evaluate(policy: CompiledPolicy, context: PolicyContext) -> Decision:
    """Decide for one request; a policy not bound to it, or with no matching rule, allows.

    `inspect` rules never decide: they choose the scan profile before the scan (`profile`),
    so a matching one does not hide the rules after it."""
    if not policy.binds(context):
        return policy.unbound
    for rule in policy.deciding:
        if rule.condition(context):
            return rule.decision
    return policy.default


def profile(policy: CompiledPolicy, context: PolicyContext) -> Literal["full", "reduced"] | None:
    """The inspection profile the first matching `inspect` rule asks for, if any (evaluated on
    the request before its text is scanned: conditions on findings see none)."""
    if not policy.inspects or not policy.binds(context):
        return None
    for rule in policy.inspects:
        if rule.condition(context):
            action = rule.decision.action
            assert isinstance(action, Inspect)
            return action.profile
    return None


def explain(policy: CompiledPolicy, context: PolicyContext) -> list[tuple[str, bool]]:
    """For the dry run: every rule's name and whether its condition holds (not just the first)."""
    return [(rule.name, rule.condition(context)) for rule in policy.rules]
