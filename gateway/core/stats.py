"""Per-deployment latency and error statistics, kept in a bounded window.

The management API reports these as /api/providers/perf; /health summarises them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

WINDOW = 1024


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass(slots=True)
class DeploymentStats:
    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_success_at: float | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def record_success(self, latency_s: float, now: float) -> None:
        self.requests += 1
        self.latencies.append(latency_s)
        self.outcomes.append(True)
        self.last_success_at = now

    def record_error(self, reason: str, now: float, *, timeout: bool = False) -> None:
        self.requests += 1
        self.errors += 1
        if timeout:
            self.timeouts += 1
        self.outcomes.append(False)
        self.last_error = reason
        self.last_error_at = now

    def snapshot(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        recent = len(self.outcomes)
        recent_errors = recent - sum(self.outcomes)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "error_rate": round(recent_errors / recent, 4) if recent else 0.0,
            "latency_ms": {
                "p50": round(percentile(ordered, 50) * 1000, 3),
                "p90": round(percentile(ordered, 90) * 1000, 3),
                "p99": round(percentile(ordered, 99) * 1000, 3),
            },
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_success_at": self.last_success_at,
        }
