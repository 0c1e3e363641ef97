"""MetaCache counters: per phase, per namespace, savings, and why answers were not stored.

One `CacheStats` per process. `snapshot()` is what `/api/metacache/stats` shows for one replica;
`merge()` adds replicas' snapshots up (shared mode: each proxy publishes its own).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gateway.core.cache_shadow import ShadowStats

Phase = Literal["exact_local", "exact_shared", "normalized", "semantic"]
PHASES: Final[tuple[Phase, ...]] = ("exact_local", "exact_shared", "normalized", "semantic")
HIT_HEADER: Final[dict[Phase, str]] = {
    "exact_local": "hit-exact",
    "exact_shared": "hit-exact",
    "normalized": "hit-exact",
    "semantic": "hit-semantic",
}


def rate(hits: float, lookups: float) -> float:
    """A hit rate as the stats show it (0 when nothing was looked up)."""
    return round(hits / lookups, 4) if lookups else 0.0


@dataclass(slots=True)
class PhaseStats:
    lookups: int = 0
    hits: int = 0
    seconds: float = 0.0  # time spent in this phase's lookups, hits and misses

    def as_dict(self) -> dict[str, Any]:
        return {
            "lookups": self.lookups,
            "hits": self.hits,
            "hit_rate": rate(self.hits, self.lookups),
            "mean_ms": round(self.seconds * 1000 / self.lookups, 4) if self.lookups else 0.0,
        }


@dataclass(slots=True)
class NamespaceStats:
    hits: int = 0
    misses: int = 0
    tokens_saved: int = 0
    usd_saved: float = 0.0
    shadow: ShadowStats = field(default_factory=ShadowStats)


@dataclass(slots=True)
class CacheStats:
    phases: dict[Phase, PhaseStats] = field(
        default_factory=lambda: {phase: PhaseStats() for phase in PHASES}
    )
    lookups: int = 0
    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    stored: int = 0
    not_stored: Counter[str] = field(default_factory=Counter)
    evicted: int = 0
    tokens_saved: int = 0
    usd_saved: float = 0.0
    namespaces: dict[str, NamespaceStats] = field(default_factory=dict)

    def namespace(self, name: str) -> NamespaceStats:
        found = self.namespaces.get(name)
        if found is None:
            found = self.namespaces[name] = NamespaceStats()
        return found

    def phase(self, phase: Phase, seconds: float, hit: bool) -> None:
        stats = self.phases[phase]
        stats.lookups += 1
        stats.seconds += seconds
        stats.hits += hit

    def hit(self, namespace: str, tokens: int, usd: float) -> None:
        self.lookups += 1
        self.hits += 1
        self.tokens_saved += tokens
        self.usd_saved += usd
        ns = self.namespace(namespace)
        ns.hits += 1
        ns.tokens_saved += tokens
        ns.usd_saved += usd

    def miss(self, namespace: str) -> None:
        self.lookups += 1
        self.misses += 1
        self.namespace(namespace).misses += 1

    def snapshot(self, sizes: dict[str, tuple[int, int]]) -> dict[str, Any]:
        """The replica's figures; `sizes` maps namespace -> (entries, bytes) held here."""
        names = sorted(set(self.namespaces) | set(sizes))
        return {
            "lookups": self.lookups,
            "hits": self.hits,
            "misses": self.misses,
            "bypassed": self.bypassed,
            "hit_rate": rate(self.hits, self.lookups),
            "stored": self.stored,
            "not_stored": dict(sorted(self.not_stored.items())),
            "evicted": self.evicted,
            "tokens_saved": self.tokens_saved,
            "usd_saved": round(self.usd_saved, 6),
            "phases": {phase: stats.as_dict() for phase, stats in self.phases.items()},
            "entries": sum(entries for entries, _ in sizes.values()),
            "bytes": sum(size for _, size in sizes.values()),
            "namespaces": [
                _namespace_row(name, self.namespaces.get(name), sizes) for name in names
            ],
        }


def _namespace_row(
    name: str, stats: NamespaceStats | None, sizes: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    stats = stats or NamespaceStats()
    entries, size = sizes.get(name, (0, 0))
    return {
        "namespace": name,
        "entries": entries,
        "bytes": size,
        "hits": stats.hits,
        "misses": stats.misses,
        "hit_rate": rate(stats.hits, stats.hits + stats.misses),
        "tokens_saved": stats.tokens_saved,
        "usd_saved": round(stats.usd_saved, 6),
        "shadow": stats.shadow.as_dict(),
    }
