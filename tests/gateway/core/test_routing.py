"""Routing decisions are pure: time and randomness are passed in."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.core.config import DeploymentConfig, RoutingConfig
from gateway.core.routing import (
    Candidate,
    DeploymentHealth,
    backoff_delay,
    is_retryable_status,
    parse_retry_after,
    pick,
)
from gateway.core.stats import DeploymentStats, percentile

POLICY = RoutingConfig(
    backoff_base_s=0.5, backoff_max_s=4, failures_before_cooldown=2, cooldown_s=30
)


def candidates(*weights: float) -> list[Candidate]:
    return [
        Candidate(i, DeploymentConfig(provider=f"p{i}", weight=w)) for i, w in enumerate(weights)
    ]


def test_weighted_pick_follows_weights() -> None:
    pool = candidates(3, 1)
    counts = Counter(pick(pool, 0.0, r / 1000).index for r in range(1000))  # type: ignore[union-attr]
    assert counts == {0: 750, 1: 250}


def test_pick_skips_cooling_and_tried() -> None:
    pool = candidates(1, 1, 1)
    pool[0].health.cooldown_until = 100.0
    chosen = {pick(pool, 50.0, r / 10, frozenset({1})).index for r in range(10)}  # type: ignore[union-attr]
    assert chosen == {2}


def test_all_cooling_tries_the_one_recovering_first() -> None:
    pool = candidates(1, 1)
    pool[0].health.cooldown_until = 90.0
    pool[1].health.cooldown_until = 80.0
    assert pick(pool, 10.0, 0.0).index == 1  # type: ignore[union-attr]
    assert pick(pool, 10.0, 0.0, frozenset({0, 1})) is None


def test_cooldown_after_consecutive_failures() -> None:
    health = DeploymentHealth()
    assert health.record_failure(0.0, POLICY, None) is False
    assert health.record_failure(1.0, POLICY, None) is True
    assert health.cooling(30.9) and not health.cooling(31.0)
    health.record_success()
    assert health.consecutive_failures == 0


def test_success_resets_the_failure_run() -> None:
    health = DeploymentHealth()
    health.record_failure(0.0, POLICY, None)
    health.record_success()
    assert health.record_failure(1.0, POLICY, None) is False


def test_long_retry_after_cools_down_at_once() -> None:
    health = DeploymentHealth()
    assert health.record_failure(0.0, POLICY, retry_after=120.0) is True
    assert health.cooldown_until == 120.0


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    assert backoff_delay(0, POLICY, 1.0, None) == 0.5
    assert backoff_delay(2, POLICY, 1.0, None) == 2.0
    assert backoff_delay(10, POLICY, 1.0, None) == 4.0
    assert backoff_delay(3, POLICY, 0.25, None) == 1.0
    assert backoff_delay(3, POLICY, 0.0, None) == 0.0


def test_retry_after_within_bounds_is_honoured_exactly() -> None:
    assert backoff_delay(0, POLICY, 0.5, retry_after=3.0) == 3.0
    assert backoff_delay(0, POLICY, 0.5, retry_after=60.0) == 0.25  # too long: jitter instead


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("0.5", 0.5), (None, None), ("", None), ("soon", None), ("-1", None)],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retryable_statuses() -> None:
    assert all(is_retryable_status(s) for s in (408, 429, 500, 502, 503, 504, 529))
    assert not any(is_retryable_status(s) for s in (200, 400, 401, 403, 404, 422))


def test_stats_percentiles_and_error_rate() -> None:
    stats = DeploymentStats()
    for ms in range(1, 101):
        stats.record_success(ms / 1000, now=float(ms))
    stats.record_error("boom", now=200.0, timeout=True)
    snap = stats.snapshot()
    assert snap["latency_ms"] == {"p50": 50.0, "p90": 90.0, "p99": 99.0}
    assert snap["requests"] == 101 and snap["errors"] == 1 and snap["timeouts"] == 1
    assert snap["error_rate"] == round(1 / 101, 4)
    assert snap["last_error"] == "boom"
    assert percentile([], 50) == 0.0
