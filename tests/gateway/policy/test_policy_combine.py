"""Folding several bound policies' decisions into the one verdict the proxy acts on."""

from __future__ import annotations

from gateway.policy.combine import ALLOW, action_label, combine, label
from gateway.policy.model import Allow, Cache, Decision, Deny, Log, Redact, Route


def _decision(action: object, rule: str | None = "r", *, shadow: bool = False) -> Decision:
    return Decision(action, rule, "why", shadow, "p", 2)  # type: ignore[arg-type]


DENY = _decision(Deny(message="no"), "deny-rule")
REDACT_EMAIL = _decision(Redact(types=("email",)), "emails")
REDACT_CARD = _decision(Redact(types=("payment_card",), replacement="mask"), "cards")
ROUTE = _decision(Route(model="gpt-4o"), "route")
CACHE = _decision(Cache(bypass=True), "fresh")
LOG = _decision(Log(), "log")


def test_no_matched_rule_is_the_shared_allow() -> None:
    assert combine([_decision(Allow(), None), _decision(Allow(), None)]) is ALLOW
    assert ALLOW.deciding() is None


def test_a_deny_outweighs_everything_else() -> None:
    verdict = combine([LOG, ROUTE, REDACT_EMAIL, DENY, CACHE])
    assert verdict.deny is DENY
    assert verdict.deciding() is DENY


def test_redactions_add_up_and_keep_the_first_replacement() -> None:
    verdict = combine([REDACT_EMAIL, REDACT_CARD])
    assert verdict.redact_types() == frozenset({"email", "payment_card"})
    assert verdict.replacement() == "placeholder"
    assert verdict.deciding() is REDACT_EMAIL


def test_a_redaction_without_types_means_every_type() -> None:
    everything = _decision(Redact(), "all")
    assert combine([REDACT_EMAIL, everything]).redact_types() is None


def test_the_first_route_and_cache_apply() -> None:
    other = _decision(Route(model="claude"), "second")
    verdict = combine([ROUTE, other, CACHE])
    assert verdict.route is ROUTE
    assert verdict.cache is CACHE
    assert verdict.deciding() is ROUTE


def test_shadow_decisions_are_kept_apart_and_never_enforced() -> None:
    shadow_deny = _decision(Deny(message="trial"), "trial", shadow=True)
    verdict = combine([shadow_deny, LOG])
    assert verdict.deny is None
    assert verdict.shadow == (shadow_deny,)
    assert verdict.deciding() is LOG, "an enforced decision is named before a shadow one"
    alone = combine([shadow_deny])
    assert alone.deciding() is shadow_deny
    assert action_label(shadow_deny) == "shadow:deny"
    assert action_label(DENY) == "deny"


def test_labels_name_policy_version_and_rule() -> None:
    assert label(DENY) == "p@2:deny-rule"
