"""Shadow mode: a sample of semantic hits is also asked upstream, in the background, and the
fresh answer is compared with the one served. The disagreement rate per namespace estimates how
often the semantic phase serves a wrong answer on real traffic, so an operator can tell whether
SEMANTIC_CACHE_THRESHOLD is safe before trusting it (or tighten it when it is not).

The re-ask is not charged to the caller's key and is never streamed; its answer is not cached.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.cache.entry import CacheEntry
from gateway.cache.stats import CacheStats
from gateway.core.cache_shadow import answer_of, answers_agree
from gateway.observability.metrics import GatewayMetrics

log = logging.getLogger("smartflow.shadow")

Refetch = Callable[[], Awaitable[bytes | None]]


class ShadowChecker:
    def __init__(
        self,
        rate: float,
        stats: CacheStats,
        metrics: GatewayMetrics,
        *,
        rng: Callable[[], float] | None = None,
    ) -> None:
        self._rate = rate
        self._stats = stats
        self._metrics = metrics
        self._random = rng or random.Random().random  # noqa: S311  # sampling, not secrecy

    def sample(self) -> bool:
        return self._rate > 0 and self._random() < self._rate

    async def check(self, served: CacheEntry, refetch: Refetch) -> bool | None:
        """Re-ask and compare; None when the upstream gave no usable answer (counted as
        skipped: it says nothing of the cache, but an operator sees the sample is not working)."""
        shadow = self._stats.namespace(served.namespace).shadow
        try:
            fresh_raw = await refetch()
        except Exception as exc:  # an upstream failure says nothing about the cache
            log.info("shadow re-ask failed", extra={"error": str(exc)})
            fresh_raw = None
        fresh, stored = _parsed(fresh_raw), _parsed(served.response)
        if fresh is None or stored is None or answer_of(fresh) is None:
            # an error or an empty answer says nothing of the cache
            shadow.record(None, "no_answer")
            self._metrics.cache_shadow.labels(served.namespace, "skipped").inc()
            return None
        agreed, reason = answers_agree(stored, fresh)
        shadow.record(agreed, reason)
        if shadow.upper_95 is not None:
            self._metrics.cache_shadow_false_hits.labels(served.namespace).set(shadow.upper_95)
        self._metrics.cache_shadow.labels(
            served.namespace, "agreed" if agreed else "disagreed"
        ).inc()
        if not agreed:
            log.info(
                "shadow check: the served answer disagrees with a fresh one",
                extra={"namespace": served.namespace, "reason": reason},
            )
        return agreed


def _parsed(raw: bytes | None) -> dict[str, Any] | None:
    """A JSON object, or None (no answer, or not an object)."""
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
