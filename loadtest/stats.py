"""Per level and arm figures, and the gateway's overhead over the direct arm.

Latency percentiles come from an HDR histogram (microsecond resolution, 3 significant digits),
over the successful requests; failures are counted in the error taxonomy and in the success rate,
which is over every scheduled request (a request that never finished did not succeed).
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtest.runner import LevelRun, Sample
from loadtest.timeline import Timeline, timeline

__all__ = [
    "LAG_LIMIT_MS",
    "RATE_FLOOR",
    "ArmStats",
    "Distribution",
    "LevelStats",
    "Overhead",
    "arm_stats",
    "bootstrap_diff",
    "distribution",
    "level_stats",
]

RATE_FLOOR = 0.97  # achieved / scheduled rate below this: the generator could not keep up
LAG_LIMIT_MS = 5.0  # p99 send lag above this: arrivals were late, the level is invalid
_MAX_US = 3_600_000_000  # one hour


@dataclass(frozen=True)
class Distribution:
    """Milliseconds."""

    n: int
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    mean: float


def distribution(seconds: Iterable[float]) -> Distribution | None:
    """Percentiles of durations in seconds, through an HDR histogram; None when empty."""
    hist = HdrHistogram(1, _MAX_US, 3)
    total = 0.0
    n = 0
    for value in seconds:
        hist.record_value(min(_MAX_US, max(1, round(value * 1e6))))
        total += value
        n += 1
    if n == 0:
        return None

    def ms(percentile: float) -> float:
        return float(hist.get_value_at_percentile(percentile)) / 1000.0

    return Distribution(
        n=n,
        p50=ms(50),
        p90=ms(90),
        p95=ms(95),
        p99=ms(99),
        max=float(hist.get_max_value()) / 1000.0,
        mean=total / n * 1000.0,
    )


@dataclass(frozen=True)
class ArmStats:
    arm: str
    target_rps: float
    scheduled_rps: float  # what the arrival schedule itself asked for (Poisson varies)
    achieved_rps: float
    n_scheduled: int
    n_completed: int  # finished with any status (not cancelled, no transport error)
    success_rate: float  # 2xx (and complete) over scheduled
    latency: Distribution | None  # from the intended send time (coordinated omission corrected)
    service: Distribution | None  # from the actual send
    send_lag_p50_ms: float
    send_lag_p99_ms: float
    invalid: bool
    invalid_reason: str | None
    errors: dict[str, int]
    cache: dict[str, int]  # x-smartflow-cache values among successes
    hit_rate: float | None  # None when no response carried the header
    hit_latency: Distribution | None
    miss_latency: Distribution | None
    ttft: Distribution | None  # streaming: first content token, from the intended send time
    itl: Distribution | None  # streaming: gaps between content frames
    server_overhead_ms: float | None  # median x-smartflow-overhead-ms
    timeline: Timeline | None = None  # the level over time, for the HTML report

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rate(times: Sequence[float]) -> float:
    if len(times) < 2:
        return 0.0
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else float("inf")


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank; `sorted_values` must not be empty."""
    rank = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def _is_hit(cache: str | None) -> bool:
    return cache is not None and cache.startswith("hit")


def arm_stats(run: LevelRun) -> ArmStats:
    samples = run.samples
    ok = [s for s in samples if s.ok]
    sent = [s.sent for s in samples if s.sent is not None]
    scheduled_rps = _rate([s.intended for s in samples]) if len(samples) > 1 else run.target_rps
    achieved = _rate(sent)
    lags = sorted(max(0.0, s.sent - s.intended) * 1000.0 for s in samples if s.sent is not None)
    lag50 = _quantile(lags, 0.50) if lags else 0.0
    lag99 = _quantile(lags, 0.99) if lags else 0.0
    reasons = []
    if achieved < RATE_FLOOR * scheduled_rps:
        reasons.append(f"achieved {achieved:.1f} rps < 97% of {scheduled_rps:.1f}")
    if lag99 > LAG_LIMIT_MS:
        reasons.append(f"p99 send lag {lag99:.1f} ms > {LAG_LIMIT_MS:g} ms")
    cache = Counter(s.cache for s in ok if s.cache is not None)
    labelled = sum(cache.values())
    hits = sum(n for value, n in cache.items() if _is_hit(value))
    overheads = [s.overhead_ms for s in samples if s.overhead_ms is not None]
    gaps = [b - a for s in ok for a, b in itertools.pairwise(s.token_times)]
    return ArmStats(
        arm=run.arm,
        target_rps=run.target_rps,
        scheduled_rps=scheduled_rps,
        achieved_rps=achieved,
        n_scheduled=len(samples),
        n_completed=sum(1 for s in samples if s.end is not None),
        success_rate=len(ok) / len(samples) if samples else 0.0,
        latency=distribution(_latencies(ok)),
        service=distribution(s.service for s in ok if s.service is not None),
        send_lag_p50_ms=lag50,
        send_lag_p99_ms=lag99,
        invalid=bool(reasons),
        invalid_reason="; ".join(reasons) or None,
        errors=dict(Counter(s.error for s in samples if s.error is not None)),
        cache=dict(cache),
        hit_rate=hits / labelled if labelled else None,
        hit_latency=distribution(_latencies(s for s in ok if _is_hit(s.cache))),
        miss_latency=distribution(_latencies(s for s in ok if s.cache == "miss")),
        ttft=distribution(s.first_token - s.start for s in ok if s.first_token is not None),
        itl=distribution(gaps),
        server_overhead_ms=statistics.median(overheads) if overheads else None,
        timeline=timeline(samples, run.duration_s),
    )


def _latencies(samples: Iterable[Sample]) -> list[float]:
    return [s.latency for s in samples if s.latency is not None]


@dataclass(frozen=True)
class Overhead:
    """Gateway minus direct, in ms, over the unique-prompt requests the gateway did not serve
    from its cache (a hit is no overhead figure), with a bootstrap 95% interval."""

    p50_ms: float
    p50_ci: tuple[float, float]
    p95_ms: float
    p95_ci: tuple[float, float]
    n_gateway: int
    n_direct: int
    server_median_ms: float | None  # the gateway's own x-smartflow-overhead-ms, for comparison

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_diff(
    a: Sequence[float], b: Sequence[float], q: float, *, seed: int, resamples: int = 500
) -> tuple[float, tuple[float, float]]:
    """quantile(a) - quantile(b) and its percentile-bootstrap 95% interval (seeded resampling)."""
    if not a or not b:
        raise ValueError("both samples must be non-empty")
    rng = random.Random(seed)  # noqa: S311 (reproducible resampling, not secret)
    point = _quantile(sorted(a), q) - _quantile(sorted(b), q)
    diffs = sorted(
        _quantile(sorted(rng.choices(a, k=len(a))), q)
        - _quantile(sorted(rng.choices(b, k=len(b))), q)
        for _ in range(resamples)
    )
    return point, (_quantile(diffs, 0.025), _quantile(diffs, 0.975))


def overhead(gateway: LevelRun, direct: LevelRun, *, seed: int) -> Overhead | None:
    g = [s.latency * 1000.0 for s in gateway.samples if _uncached(s) and s.latency is not None]
    d = [
        s.latency * 1000.0
        for s in direct.samples
        if s.ok and not s.repeated and s.latency is not None
    ]
    if not g or not d:
        return None
    p50, p50_ci = bootstrap_diff(g, d, 0.50, seed=seed)
    p95, p95_ci = bootstrap_diff(g, d, 0.95, seed=seed + 1)
    reported = [s.overhead_ms for s in gateway.samples if s.overhead_ms is not None]
    return Overhead(
        p50_ms=p50,
        p50_ci=p50_ci,
        p95_ms=p95,
        p95_ci=p95_ci,
        n_gateway=len(g),
        n_direct=len(d),
        server_median_ms=statistics.median(reported) if reported else None,
    )


def _unique_ok(sample: Sample) -> bool:
    return sample.ok and not sample.repeated


def _uncached(sample: Sample) -> bool:
    return sample.ok and not sample.repeated and not _is_hit(sample.cache)


@dataclass(frozen=True)
class LevelStats:
    target_rps: float
    arms: dict[str, ArmStats]
    overhead: Overhead | None  # when both a `smartflow` and a `direct` arm ran

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_rps": self.target_rps,
            "arms": {name: arm.to_dict() for name, arm in self.arms.items()},
            "overhead": None if self.overhead is None else self.overhead.to_dict(),
        }


def level_stats(runs: Sequence[LevelRun], *, seed: int = 0) -> LevelStats:
    by_arm = {run.arm: run for run in runs}
    gateway, direct = by_arm.get("smartflow"), by_arm.get("direct")
    return LevelStats(
        target_rps=runs[0].target_rps if runs else 0.0,
        arms={run.arm: arm_stats(run) for run in runs},
        overhead=overhead(gateway, direct, seed=seed) if gateway and direct else None,
    )
