"""Arrival offsets for one load level, computed before the run starts (open loop).

The runner awaits each offset as an absolute time from the start, so a slow response never delays
the next arrival: that is what keeps coordinated omission out of the measurement.
"""

from __future__ import annotations

import math
import random
from typing import Literal

__all__ = ["Arrival", "arrivals", "constant", "poisson"]

Arrival = Literal["constant", "poisson"]


def _check(rps: float, duration_s: float) -> None:
    if not (math.isfinite(rps) and rps > 0):
        raise ValueError(f"rps must be a finite number > 0, got {rps}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration must be a finite number > 0, got {duration_s}")


def constant(rps: float, duration_s: float) -> list[float]:
    """Evenly spaced offsets (seconds from the start): round(rps * duration) of them."""
    _check(rps, duration_s)
    n = max(1, round(rps * duration_s))
    return [i / rps for i in range(n)]


def poisson(rps: float, duration_s: float, rng: random.Random) -> list[float]:
    """A Poisson process: exponential gaps of mean 1/rps, the first arrival at 0, all < duration."""
    _check(rps, duration_s)
    offsets = [0.0]
    t = rng.expovariate(rps)
    while t < duration_s:
        offsets.append(t)
        t += rng.expovariate(rps)
    return offsets


def arrivals(kind: Arrival, rps: float, duration_s: float, seed: int) -> list[float]:
    """The offsets for one level; Poisson draws from its own `random.Random(seed)`."""
    if kind == "constant":
        return constant(rps, duration_s)
    if kind == "poisson":
        return poisson(rps, duration_s, random.Random(seed))  # noqa: S311 (reproducible, not secret)
    raise ValueError(f"unknown arrival process {kind!r} (constant or poisson)")
