"""What the management API asks of the response cache: its statistics and purges.

In `all` (one process) the figures are this process's cache's. In shared mode every proxy
replica publishes its snapshot to a Redis board and the management API sums them; a purge goes
to every replica through the shared store's event stream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.exceptions import RedisError

from gateway.cache.metacache import MetaCache
from gateway.cache.stats import PHASES, PhaseStats, rate
from gateway.core.cache_shadow import ShadowStats
from gateway.core.errors import ServiceUnavailable

log = logging.getLogger("smartflow.metacache")

Purge = Callable[[str | None, str | None], Awaitable[int | None]]
_COUNTERS = ("lookups", "hits", "misses", "bypassed", "stored", "evicted", "tokens_saved")


class Board(Protocol):
    async def snapshots(self) -> list[dict[str, Any]]: ...


class CacheAdmin:
    def __init__(
        self,
        *,
        local: MetaCache | None,
        board: Board | None = None,
        shared_purge: Purge | None = None,
    ) -> None:
        self._local = local
        self._board = board
        self._shared_purge = shared_purge

    async def stats(self) -> dict[str, Any]:
        """Every replica's figures summed; while Redis is down, this replica's own (marked
        `degraded`); an api-server with no replica of its own then has none to give."""
        mode = "shared" if self._board is not None else "embedded"
        degraded = False
        replicas: list[dict[str, Any]] = []
        if self._board is not None:
            try:
                replicas = [s["cache"] for s in await self._board.snapshots() if "cache" in s]
            except (RedisError, OSError) as exc:
                log.warning("cache statistics board unreachable", extra={"error": str(exc)})
                degraded = True
                if self._local is None:
                    raise ServiceUnavailable(
                        "the shared cache's statistics are in Redis, which does not answer"
                    ) from None
        if self._local is not None and (self._board is None or degraded):
            replicas = [self._local.snapshot()]
        return {"mode": mode, "degraded": degraded, **merge(replicas)}

    async def purge(self, namespace: str | None, model: str | None) -> int:
        if self._shared_purge is not None:
            return await self._shared_purge(namespace, model) or 0
        if self._local is not None:
            return await self._local.purge(namespace, model)
        return 0


def merge(replicas: list[dict[str, Any]]) -> dict[str, Any]:
    """Counters summed over replicas; entries per namespace from the replica holding the most
    (in shared mode every replica holds the same entries)."""
    total: dict[str, Any] = {name: 0 for name in _COUNTERS}
    total["usd_saved"] = 0.0
    total["replicas"] = len(replicas)
    total["embedder"] = next((r.get("embedder") for r in replicas if r.get("embedder")), None)
    total["threshold"] = next((r["threshold"] for r in replicas if "threshold" in r), None)
    not_stored: dict[str, int] = {}
    phases = {phase: PhaseStats() for phase in PHASES}
    namespaces: dict[str, dict[str, Any]] = {}
    for replica in replicas:
        for name in _COUNTERS:
            total[name] += replica.get(name, 0)
        total["usd_saved"] += replica.get("usd_saved", 0.0)
        for reason, count in replica.get("not_stored", {}).items():
            not_stored[reason] = not_stored.get(reason, 0) + count
        for phase, figures in replica.get("phases", {}).items():
            if phase in phases:
                summed = phases[phase]
                summed.lookups += figures["lookups"]
                summed.hits += figures["hits"]
                summed.seconds += figures["mean_ms"] * figures["lookups"] / 1000
        for row in replica.get("namespaces", []):
            _merge_namespace(namespaces, row)
    total["usd_saved"] = round(total["usd_saved"], 6)
    total["hit_rate"] = rate(total["hits"], total["lookups"])
    total["not_stored"] = dict(sorted(not_stored.items()))
    total["phases"] = {phase: summed.as_dict() for phase, summed in phases.items()}
    rows = sorted(namespaces.values(), key=lambda row: row["namespace"])
    for row in rows:
        row["hit_rate"] = rate(row["hits"], row["hits"] + row["misses"])
        row["usd_saved"] = round(row["usd_saved"], 6)
        row["shadow"] = row["shadow"].as_dict()
    total["entries"] = sum(row["entries"] for row in rows)
    total["bytes"] = sum(row["bytes"] for row in rows)
    total["namespaces"] = rows
    return total


def _merge_namespace(namespaces: dict[str, dict[str, Any]], row: dict[str, Any]) -> None:
    name = row["namespace"]
    merged = namespaces.get(name)
    shadow = ShadowStats.from_dict(row.get("shadow") or {})
    if merged is None:
        namespaces[name] = {**row, "shadow": shadow}
        return
    for counter in ("hits", "misses", "tokens_saved"):
        merged[counter] += row[counter]
    merged["usd_saved"] += row["usd_saved"]
    merged["entries"] = max(merged["entries"], row["entries"])
    merged["bytes"] = max(merged["bytes"], row["bytes"])
    merged["shadow"] = merged["shadow"].merged(shadow)
