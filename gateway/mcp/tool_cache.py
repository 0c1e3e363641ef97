"""The tool-result cache: answers of tools that do not change the world, replayed.

What is cached: results of tools the upstream annotates `readOnlyHint` or `idempotentHint`, or
the operator lists in the server's `cache_tools`; never an `isError` result. Keyed by the key's
cache namespace (its own, or its team's), server, tool and the SHA-256 of the canonical JSON
arguments, for the server's `cache_ttl_s`. Embedded mode keeps a bounded LRU in the process;
shared mode keeps entries in Redis (SET PX) so every replica serves them. A Redis failure is a
miss, never a failed call.

Stats are this process's: hits, misses, bypasses (key cache off, `Cache-Control: no-cache`, or a
tool that is not cacheable), entries (LRU) and the upstream time the hits saved.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger("smartflow.mcp.cache")

REDIS_PREFIX = "sf:mcp:"


@dataclass(frozen=True, slots=True)
class CachedResult:
    result: dict[str, Any]
    upstream_s: float  # what the original call took upstream: the time a hit saves


@dataclass(slots=True)
class ToolCacheStats:
    hits: int = 0
    misses: int = 0
    bypasses: int = 0
    stores: int = 0
    errors: int = 0
    saved_s: float = 0.0


def cacheable(tool: Mapping[str, Any] | None, name: str, cache_tools: tuple[str, ...]) -> bool:
    """Whether a tool's results may be cached: annotated read-only or idempotent, or listed."""
    if name in cache_tools:
        return True
    annotations = tool.get("annotations") if tool is not None else None
    if not isinstance(annotations, dict):
        return False
    return bool(annotations.get("readOnlyHint") or annotations.get("idempotentHint"))


def cache_key(scope: str, server: str, tool: str, args_hash: str) -> str:
    material = f"{scope}\x00{server}\x00{tool}\x00{args_hash}".encode()
    return hashlib.sha256(material).hexdigest()


class ToolCache:
    def __init__(
        self,
        *,
        max_entries: int,
        redis: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max(1, max_entries)
        self._redis: Any = redis
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, CachedResult]] = OrderedDict()
        self.stats = ToolCacheStats()

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    async def get(self, key: str) -> CachedResult | None:
        found = self._get_local(key) if self._redis is None else await self._get_redis(key)
        if found is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
            self.stats.saved_s += found.upstream_s
        return found

    def bypass(self) -> None:
        self.stats.bypasses += 1

    async def put(
        self, key: str, result: dict[str, Any], *, ttl_s: float, upstream_s: float
    ) -> None:
        if ttl_s <= 0 or result.get("isError"):
            return
        entry = CachedResult(result, upstream_s)
        if self._redis is None:
            self._put_local(key, entry, ttl_s)
        else:
            await self._put_redis(key, entry, ttl_s)
        self.stats.stores += 1

    def _get_local(self, key: str) -> CachedResult | None:
        item = self._entries.get(key)
        if item is None:
            return None
        expires, entry = item
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _put_local(self, key: str, entry: CachedResult, ttl_s: float) -> None:
        self._entries[key] = (self._clock() + ttl_s, entry)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def _get_redis(self, key: str) -> CachedResult | None:
        try:
            raw = await self._redis.get(REDIS_PREFIX + key)
        except Exception as exc:  # an outage degrades to a miss
            self.stats.errors += 1
            log.warning("tool cache read failed", extra={"error": str(exc)})
            return None
        if raw is None:
            return None
        try:
            stored = orjson.loads(raw)
            return CachedResult(stored["r"], float(stored["u"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    async def _put_redis(self, key: str, entry: CachedResult, ttl_s: float) -> None:
        value = orjson.dumps({"r": entry.result, "u": entry.upstream_s})
        try:
            await self._redis.set(REDIS_PREFIX + key, value, px=max(1, int(ttl_s * 1000)))
        except Exception as exc:
            self.stats.errors += 1
            log.warning("tool cache write failed", extra={"error": str(exc)})

    def snapshot(self) -> dict[str, Any]:
        stats = self.stats
        lookups = stats.hits + stats.misses
        return {
            "backend": self.backend,
            "hits": stats.hits,
            "misses": stats.misses,
            "bypasses": stats.bypasses,
            "stores": stats.stores,
            "errors": stats.errors,
            "hit_rate": round(stats.hits / lookups, 4) if lookups else 0.0,
            "entries": len(self._entries) if self._redis is None else None,
            "max_entries": self._max_entries if self._redis is None else None,
            "time_saved_ms": round(stats.saved_s * 1000, 3),
        }
