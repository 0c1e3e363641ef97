"""Routing decisions: which deployment to try next, how long to wait, when to cool one down.

Pure: the caller passes the current time and random numbers in, so every decision is testable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.core.config import DeploymentConfig, RoutingConfig

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES


@dataclass(slots=True)
class DeploymentHealth:
    """Failure bookkeeping for one deployment; a run of failures cools it down for a while."""

    consecutive_failures: int = 0
    cooldown_until: float = 0.0
    cooldowns: int = 0

    def cooling(self, now: float) -> bool:
        return now < self.cooldown_until

    def record_success(self) -> None:
        self.consecutive_failures = 0

    def record_failure(self, now: float, policy: RoutingConfig, retry_after: float | None) -> bool:
        """Count a failure; return True when this one starts a cooldown."""
        self.consecutive_failures += 1
        if retry_after is not None and retry_after > policy.max_retry_after_s:
            # The upstream told us it is out for longer than we are willing to wait on a request.
            return self._cool(now, retry_after)
        if self.consecutive_failures >= policy.failures_before_cooldown:
            return self._cool(now, policy.cooldown_s)
        return False

    def _cool(self, now: float, seconds: float) -> bool:
        self.cooldown_until = now + seconds
        self.consecutive_failures = 0
        self.cooldowns += 1
        return True


@dataclass(slots=True)
class Candidate:
    index: int
    deployment: DeploymentConfig
    health: DeploymentHealth = field(default_factory=DeploymentHealth)


def pick(
    candidates: Sequence[Candidate], now: float, rand: float, exclude: frozenset[int] = frozenset()
) -> Candidate | None:
    """Weighted choice among deployments not cooling down and not yet tried for this request.

    When every untried deployment is cooling, the one whose cooldown ends first is tried anyway:
    a request is better served by a deployment that may have recovered than refused outright.
    """
    ready = [c for c in candidates if c.index not in exclude and not c.health.cooling(now)]
    if not ready:
        untried = [c for c in candidates if c.index not in exclude]
        if not untried:
            return None
        return min(untried, key=lambda c: c.health.cooldown_until)
    if len(ready) == 1:
        return ready[0]
    total = sum(c.deployment.weight for c in ready)
    point = rand * total
    for candidate in ready:
        point -= candidate.deployment.weight
        if point < 0:
            return candidate
    return ready[-1]


def backoff_delay(
    attempt: int, policy: RoutingConfig, rand: float, retry_after: float | None
) -> float:
    """Exponential backoff with full jitter; a Retry-After within bounds is honoured exactly."""
    if retry_after is not None and retry_after <= policy.max_retry_after_s:
        return max(retry_after, 0.0)
    ceiling: float = min(policy.backoff_max_s, policy.backoff_base_s * 2.0**attempt)
    return ceiling * rand


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header value (LLM APIs send seconds, not HTTP dates)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
