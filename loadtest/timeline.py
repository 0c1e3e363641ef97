"""Per level and arm, the run over time in a few dozen buckets: what the HTML report plots.

A bucket holds the requests *due* in it (by intended send time), so a stall shows where users
arrived, not where the generator caught up. Each bucket keeps only counts and two percentiles of
latency and of send lag (milliseconds), which keeps the JSON report small whatever the duration.
In mixed mode, hits and misses get their own percentiles: a median of a two-peaked mix says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

__all__ = ["MAX_BUCKETS", "MIN_PER_BUCKET", "Timeline", "bucket_width", "timeline"]

MAX_BUCKETS = 60
MIN_PER_BUCKET = 5  # on average: fewer makes percentiles of single requests, and gaps
_STEPS = (1.0, 2.0, 5.0, 10.0)


class _Sample(Protocol):
    """What a timeline reads from loadtest.runner.Sample."""

    @property
    def intended(self) -> float: ...
    @property
    def ok(self) -> bool: ...
    @property
    def latency(self) -> float | None: ...
    @property
    def send_lag(self) -> float | None: ...
    @property
    def cache(self) -> str | None: ...


Series = list[float | None]


@dataclass(frozen=True)
class Timeline:
    """Column lists, one entry per bucket; t is the bucket's start in seconds from the level's."""

    bucket_s: float
    t: list[float]
    n: list[int]  # requests due in the bucket
    errors: list[int]  # of those, the ones that did not succeed
    p50: Series  # latency from the intended time, successes only; None: no success
    p99: Series
    lag_p50: Series  # send lag; None: nothing was sent
    lag_p99: Series
    hit_p50: Series | None = None  # None when no response said it was a cache hit
    hit_p99: Series | None = None
    miss_p50: Series | None = None  # None when no response said it was a cache miss
    miss_p99: Series | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bucket_width(span_s: float, max_buckets: int = MAX_BUCKETS) -> float:
    """The smallest 1-2-5 step (at least 10 ms) that cuts `span_s` into <= max_buckets buckets."""
    target = max(span_s / max_buckets, 0.01)
    power = 10.0 ** math.floor(math.log10(target))
    width = next(step * power for step in _STEPS if step * power >= target * (1 - 1e-9))
    return round(width, 6)


def _rank(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile in ms, rounded to the microsecond; None for no values."""
    if not values:
        return None
    values.sort()
    index = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
    return round(values[index] * 1000.0, 3)


def _pair(groups: Sequence[list[float]]) -> tuple[Series, Series]:
    return [_rank(g, 0.50) for g in groups], [_rank(g, 0.99) for g in groups]


def timeline(samples: Sequence[_Sample], duration_s: float) -> Timeline | None:
    """Bucket the samples of one level and arm; None when there are none."""
    if not samples:
        return None
    span = max(duration_s, *(s.intended for s in samples))
    width = bucket_width(span, max(1, min(MAX_BUCKETS, len(samples) // MIN_PER_BUCKET)))
    count = max(1, math.ceil(span / width - 1e-9))
    latency: list[list[float]] = [[] for _ in range(count)]
    lag: list[list[float]] = [[] for _ in range(count)]
    hits: list[list[float]] = [[] for _ in range(count)]
    misses: list[list[float]] = [[] for _ in range(count)]
    n, errors = [0] * count, [0] * count
    for s in samples:
        i = min(count - 1, max(0, int(s.intended / width)))
        n[i] += 1
        if s.send_lag is not None:
            lag[i].append(max(0.0, s.send_lag))
        if not s.ok:
            errors[i] += 1
            continue
        if s.latency is None:
            continue
        latency[i].append(s.latency)
        if s.cache is not None and s.cache.startswith("hit"):
            hits[i].append(s.latency)
        elif s.cache == "miss":
            misses[i].append(s.latency)
    p50, p99 = _pair(latency)
    lag50, lag99 = _pair(lag)
    hit50, hit99 = _pair(hits) if any(hits) else (None, None)
    miss50, miss99 = _pair(misses) if any(misses) else (None, None)
    return Timeline(
        bucket_s=width,
        t=[round(i * width, 6) for i in range(count)],
        n=n,
        errors=errors,
        p50=p50,
        p99=p99,
        lag_p50=lag50,
        lag_p99=lag99,
        hit_p50=hit50,
        hit_p99=hit99,
        miss_p50=miss50,
        miss_p99=miss99,
    )
