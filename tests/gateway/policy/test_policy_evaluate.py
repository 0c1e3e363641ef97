"""Evaluation: the first matching rule decides, no match allows, shadow is reported, not enforced."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.compliance.findings import Finding
from gateway.policy.compile import compile_policy
from gateway.policy.evaluate import evaluate, explain, profile
from gateway.policy.model import (
    Allow,
    Cache,
    Deny,
    FindingStat,
    Inspect,
    KeyInfo,
    Log,
    PolicyContext,
    Redact,
    Route,
    summarize_findings,
)

GUARD = {
    "name": "finance-guard",
    "version": 3,
    "description": "cards never leave; big prompts go to the small model",
    "rules": [
        {
            "name": "secrets",
            "when": "findings.has('aws_access_key') || findings.has('private_key')",
            "action": {"type": "deny", "message": "secrets are not allowed"},
        },
        {
            "name": "cards",
            "when": "key.team == 'finance' && findings.count('payment_card') > 0 && "
            "request.model.startsWith('gpt-4')",
            "action": {"type": "redact", "types": ["payment_card"], "replacement": "mask"},
        },
        {
            "name": "big",
            "when": "tokens > 32000",
            "action": {"type": "route", "model": "gpt-4o-mini"},
        },
        {
            "name": "fresh",
            "when": "metadata.no_cache == true",
            "action": {"type": "cache", "bypass": True},
        },
        {
            "name": "tenant",
            "when": "metadata.tenant == 'acme'",
            "action": {"type": "cache", "namespace": "acme"},
        },
        {
            "name": "legal",
            "when": "key.team == 'legal'",
            "action": {"type": "inspect", "profile": "full"},
        },
        {"name": "night", "when": "hour < 6 || weekday in ['sat', 'sun']", "action": "log"},
    ],
}
FINANCE = KeyInfo("k1", "finance")


def ctx(**fields: Any) -> PolicyContext:
    base: dict[str, Any] = {"key": FINANCE, "model": "gpt-4o", "hour": 12, "weekday": "wed"}
    return PolicyContext(**{**base, **fields})


CARD = {"payment_card": FindingStat(1, 0.99)}

CASES = [
    (
        ctx(findings={"aws_access_key": FindingStat(1, 1.0)}),
        "secrets",
        Deny(message="secrets are not allowed"),
    ),
    (
        ctx(findings={"private_key": FindingStat(1, 1.0), **CARD}),
        "secrets",
        Deny(message="secrets are not allowed"),
    ),
    (ctx(findings=CARD), "cards", Redact(types=("payment_card",), replacement="mask")),
    (
        ctx(findings=CARD, tokens=50000),
        "cards",
        Redact(types=("payment_card",), replacement="mask"),
    ),
    (ctx(findings=CARD, model="claude-3", tokens=50000), "big", Route(model="gpt-4o-mini")),
    (ctx(key=KeyInfo("k2", "hr"), findings=CARD), None, Allow()),
    (ctx(tokens=32001), "big", Route(model="gpt-4o-mini")),
    (ctx(tokens=32000), None, Allow()),
    (ctx(metadata={"no_cache": True}), "fresh", Cache(bypass=True)),
    (ctx(metadata={"no_cache": "yes"}), None, Allow()),
    (ctx(metadata={"tenant": "acme"}), "tenant", Cache(namespace="acme")),
    (ctx(metadata={"tenant": "other"}), None, Allow()),
    # an inspect rule chooses the scan profile (see below); it never decides
    (ctx(key=KeyInfo("k3", "legal")), None, Allow()),
    (ctx(key=KeyInfo("k3", "legal"), hour=3), "night", Log()),
    (ctx(hour=3), "night", Log()),
    (ctx(weekday="sun"), "night", Log()),
    (ctx(), None, Allow()),
]


@pytest.mark.parametrize(("context", "rule", "action"), CASES)
def test_first_matching_rule_decides(
    context: PolicyContext, rule: str | None, action: object
) -> None:
    decision = evaluate(compile_policy(GUARD), context)
    assert (decision.rule, decision.action) == (rule, action)
    assert decision.policy == "finance-guard"
    assert decision.version == 3
    assert decision.shadow is False
    assert decision.bound is True


def test_inspect_rules_choose_the_profile_before_the_scan() -> None:
    policy = compile_policy(GUARD)
    assert profile(policy, ctx(key=KeyInfo("k3", "legal"))) == "full"
    assert profile(policy, ctx()) is None
    unbound = compile_policy({**GUARD, "bound_to": {"teams": ["nobody"]}})
    assert profile(unbound, ctx(key=KeyInfo("k3", "legal"))) is None
    assert Inspect(profile="full") == policy.inspects[0].decision.action


def test_reasons_say_which_rule_and_why() -> None:
    policy = compile_policy(GUARD)
    assert evaluate(policy, ctx(tokens=40000)).reason == "rule 'big' matched: tokens > 32000"
    assert evaluate(policy, ctx()).reason == "no rule matched: allowed"


def test_shadow_decides_the_same_but_says_so() -> None:
    enforced, shadow = compile_policy(GUARD), compile_policy({**GUARD, "mode": "shadow"})
    for context, _, _ in CASES:
        a, b = evaluate(enforced, context), evaluate(shadow, context)
        assert (a.rule, a.action, a.reason) == (b.rule, b.action, b.reason)
        assert (a.shadow, b.shadow) == (False, True)


@pytest.mark.parametrize(
    ("bound_to", "context", "bound"),
    [
        ({"teams": ["finance"]}, ctx(tokens=40000), True),
        ({"teams": ["legal"]}, ctx(tokens=40000), False),
        ({"models": ["gpt-4*"]}, ctx(tokens=40000), True),
        ({"keys": ["k9"]}, ctx(tokens=40000), False),
    ],
)
def test_unbound_policy_allows_and_says_so(
    bound_to: dict[str, Any], context: PolicyContext, bound: bool
) -> None:
    decision = evaluate(compile_policy({**GUARD, "bound_to": bound_to}), context)
    assert decision.bound is bound
    if bound:
        assert decision.rule == "big"
    else:
        assert (decision.rule, decision.action) == (None, Allow())
        assert decision.reason == "policy not bound to this key, team or model"


def test_rule_order_matters() -> None:
    rules = [
        {"name": "allow-finance", "when": "key.team == 'finance'", "action": "allow"},
        {"name": "deny-all", "action": {"type": "deny", "message": "no"}},
    ]
    forward = compile_policy({"name": "p", "rules": rules})
    backward = compile_policy({"name": "p", "rules": rules[::-1]})
    assert evaluate(forward, ctx()).rule == "allow-finance"
    assert evaluate(backward, ctx()).rule == "deny-all"
    assert evaluate(forward, ctx(key=KeyInfo("k", "hr"))).action == Deny(message="no")


def test_explain_lists_every_rule() -> None:
    context = ctx(findings=CARD, tokens=50000, hour=2)
    assert explain(compile_policy(GUARD), context) == [
        ("secrets", False),
        ("cards", True),
        ("big", True),
        ("fresh", False),
        ("tenant", False),
        ("legal", False),
        ("night", True),
    ]


def test_decisions_are_prebuilt_and_shared() -> None:
    policy = compile_policy(GUARD)
    assert evaluate(policy, ctx(tokens=40000)) is evaluate(policy, ctx(tokens=50000))


def test_summarize_findings_counts_and_keeps_the_best_confidence() -> None:
    findings = [
        Finding("email", 0, 5, 0.6, "email", "pii"),
        Finding("email", 9, 20, 0.9, "email", "pii"),
        Finding("payment_card", 30, 46, 0.99, "luhn", "pii"),
    ]
    assert summarize_findings(findings) == {
        "email": FindingStat(2, 0.9),
        "payment_card": FindingStat(1, 0.99),
    }
    assert summarize_findings([]) == {}
    context = ctx(findings=summarize_findings(findings))
    assert evaluate(compile_policy(GUARD), context).rule == "cards"
