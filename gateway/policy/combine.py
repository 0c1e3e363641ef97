"""Several policies can bind one request (its key's, its team's, its model's): fold their
decisions into one verdict the proxy acts on.

Enforced decisions combine by severity: any deny refuses the request; redactions add up (the
union of their types, the first one's replacement); the first route and the first cache action
apply. Shadow decisions are kept apart: recorded, never acted on. What the audit log names as
the deciding rule is the most severe one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gateway.policy.model import Cache, Decision, Deny, Log, Redact, Route

SEVERITY: dict[str, int] = {"deny": 5, "redact": 4, "route": 3, "cache": 2, "log": 1}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What every bound policy decided for one direction of one request."""

    deny: Decision | None = None
    redact: tuple[Decision, ...] = ()
    route: Decision | None = None
    cache: Decision | None = None
    logged: tuple[Decision, ...] = ()
    shadow: tuple[Decision, ...] = ()  # matched a rule of a shadow policy: recorded only

    @property
    def matched(self) -> tuple[Decision, ...]:
        """Every decision that matched a rule, enforced ones first."""
        enforced = [d for d in (self.deny, self.route, self.cache) if d is not None]
        return (*enforced, *self.redact, *self.logged, *self.shadow)

    def deciding(self) -> Decision | None:
        """The most severe enforced decision, else the most severe shadow one."""
        enforced = [d for d in (self.deny, *self.redact, self.route, self.cache) if d is not None]
        return _most_severe(enforced + list(self.logged)) or _most_severe(list(self.shadow))

    def redact_types(self) -> frozenset[str] | None:
        """The finding types to redact; None means every type (a redact action with no list)."""
        types: set[str] = set()
        for decision in self.redact:
            action = decision.action
            assert isinstance(action, Redact)
            if not action.types:
                return None
            types.update(action.types)
        return frozenset(types)

    def replacement(self) -> Literal["mask", "placeholder"]:
        action = self.redact[0].action if self.redact else None
        return action.replacement if isinstance(action, Redact) else "placeholder"


ALLOW = Verdict()


def combine(decisions: Iterable[Decision]) -> Verdict:
    """One verdict from each bound policy's decision (unmatched ones are ignored)."""
    deny: Decision | None = None
    route: Decision | None = None
    cache: Decision | None = None
    redact: list[Decision] = []
    logged: list[Decision] = []
    shadow: list[Decision] = []
    for decision in decisions:
        if decision.rule is None:
            continue
        action = decision.action
        if decision.shadow:
            shadow.append(decision)
        elif isinstance(action, Deny):
            deny = deny or decision
        elif isinstance(action, Redact):
            redact.append(decision)
        elif isinstance(action, Route):
            route = route or decision
        elif isinstance(action, Cache):
            cache = cache or decision
        elif isinstance(action, Log):
            logged.append(decision)
    if deny is None and not (redact or logged or shadow) and route is None and cache is None:
        return ALLOW
    return Verdict(deny, tuple(redact), route, cache, tuple(logged), tuple(shadow))


def label(decision: Decision) -> str:
    """How the audit log names a rule: `policy@version:rule`."""
    return f"{decision.policy}@{decision.version}:{decision.rule}"


def action_label(decision: Decision) -> str:
    """`deny`, `redact`, ...; `shadow:deny` for a decision recorded but not enforced."""
    kind = decision.action.type
    return f"shadow:{kind}" if decision.shadow else kind


def severity(decision: Decision) -> int:
    return SEVERITY.get(decision.action.type, 0)


def _most_severe(decisions: list[Decision]) -> Decision | None:
    best: Decision | None = None
    for decision in decisions:
        if best is None or severity(decision) > severity(best):
            best = decision
    return best
