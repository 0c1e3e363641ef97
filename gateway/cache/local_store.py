"""The in-process cache: phases 1 (exact key) and 3 (normalized key), and phase 4's candidates.

Every replica holds one. Entries are bounded twice, least recently used first: per namespace
(`max_entries_per_namespace`, the operator's capacity) and overall (`max_entries`, the memory
bound of the process). Expired entries are dropped when read and by `sweep`.

Semantic entries' question vectors live in one VectorIndex per (namespace, scope key, embedder):
a candidate must share all three with the request (same system prompt, tools and parameters;
vectors of one model are never compared with another's), so searching only that group is exact
and its cost follows the group's size, not the namespace's: a namespace with many scopes stays
fast (benchmarks/bench_vector_index.py).

Single-threaded: one LocalCache belongs to one event loop; nothing here blocks or awaits.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy.typing as npt

from gateway.cache.entry import CacheEntry
from gateway.cache.vector_index import VectorIndex

GroupKey = tuple[str, str, str]  # namespace, scope key, embedder


@dataclass(slots=True)
class _Namespace:
    lru: OrderedDict[str, None]  # keys, least recently used first
    size: int = 0  # bytes, as CacheEntry.size counts them


class LocalCache:
    """`clock` returns unix time (the same clock that set the entries' expires_at)."""

    def __init__(
        self,
        *,
        max_entries_per_namespace: int,
        max_entries: int,
        clock: Callable[[], float],
        ann_threshold: int = 20_000,
    ) -> None:
        if max_entries_per_namespace < 1 or max_entries < 1:
            raise ValueError("capacities must be at least 1")
        self.max_entries_per_namespace = max_entries_per_namespace
        self.max_entries = max_entries
        self._clock = clock
        self._ann_threshold = ann_threshold
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()  # overall LRU order
        self._namespaces: dict[str, _Namespace] = {}
        self._normalized: dict[str, str] = {}  # normalized key -> the latest exact key
        self._groups: dict[GroupKey, VectorIndex] = {}
        self._expiry: list[tuple[float, str]] = []  # heap; stale items skipped when popped

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    # reads

    def get(self, key: str) -> CacheEntry | None:
        """Phase 1: the entry stored under the exact key, if live; a hit becomes most recent."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expired(self._clock()):
            self._drop(key)
            return None
        self._touch(entry)
        return entry

    def get_normalized(self, nkey: str) -> CacheEntry | None:
        """Phase 3: the latest live entry stored under this normalized key."""
        key = self._normalized.get(nkey)
        return None if key is None else self.get(key)

    def peek(self, key: str) -> CacheEntry | None:
        """The entry without touching its recency or checking expiry (stats, replication)."""
        return self._entries.get(key)

    def candidates(
        self,
        namespace: str,
        scope_key: str,
        embedder: str,
        vector: npt.ArrayLike,
        k: int,
    ) -> list[tuple[CacheEntry, float]]:
        """Phase 4: up to k live semantic entries of the same namespace, scope and embedder,
        with their question cosine, best first. Candidates are not touched: only a served hit
        (the caller's `get` of the chosen key) counts as a use."""
        index = self._groups.get((namespace, scope_key, embedder))
        if index is None:
            return []
        now = self._clock()
        found: list[tuple[CacheEntry, float]] = []
        expired: list[str] = []
        for key, score in index.search(vector, k):
            entry = self._entries[key]
            if entry.expired(now):
                expired.append(key)
            else:
                found.append((entry, score))
        for key in expired:
            self._drop(key)
        return found

    def namespaces(self) -> dict[str, tuple[int, int]]:
        """namespace -> (entries, bytes), expired entries not yet swept included."""
        return {name: (len(ns.lru), ns.size) for name, ns in self._namespaces.items()}

    # writes

    def put(self, entry: CacheEntry) -> list[CacheEntry]:
        """Stores (or replaces) the entry as most recent; returns the entries evicted to make
        room, so a persistent store can forget them too. An expired entry is not stored."""
        if entry.expired(self._clock()):
            return []
        old = self._entries.get(entry.key)
        if old is not None:
            self._drop(entry.key)
        self._entries[entry.key] = entry
        namespace = self._namespaces.get(entry.namespace)
        if namespace is None:
            namespace = self._namespaces[entry.namespace] = _Namespace(OrderedDict())
        namespace.lru[entry.key] = None
        namespace.size += entry.size()
        self._normalized[entry.normalized_key] = entry.key
        semantic = entry.semantic
        if semantic is not None:
            group = (entry.namespace, semantic.scope_key, semantic.embedder)
            index = self._groups.get(group)
            dim = len(semantic.question_vector) // 4
            if index is None or index.dim != dim:
                index = self._groups[group] = VectorIndex(dim, ann_threshold=self._ann_threshold)
            index.add(entry.key, semantic.question_vector)
        heapq.heappush(self._expiry, (entry.expires_at, entry.key))
        return self._evict(namespace)

    def remove(self, key: str) -> CacheEntry | None:
        return self._drop(key) if key in self._entries else None

    def purge(self, namespace: str | None = None, model: str | None = None) -> list[CacheEntry]:
        """Removes every entry of `namespace` and/or `model` (both None: everything)."""
        if namespace is None:
            keys = [key for key, e in self._entries.items() if model is None or e.model == model]
        else:
            ns = self._namespaces.get(namespace)
            candidates = list(ns.lru) if ns is not None else []
            keys = [k for k in candidates if model is None or self._entries[k].model == model]
        return [self._drop(key) for key in keys]

    def sweep(self, now: float) -> list[CacheEntry]:
        """Removes the entries expired at `now`; cost follows what expired, not the size."""
        dropped: list[CacheEntry] = []
        heap = self._expiry
        while heap and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at == expires_at:
                dropped.append(self._drop(key))
        if len(heap) > 2 * len(self._entries) + 1024:  # replaced entries left stale items
            self._expiry = [(e.expires_at, k) for k, e in self._entries.items()]
            heapq.heapify(self._expiry)
        return dropped

    # internals

    def _touch(self, entry: CacheEntry) -> None:
        self._entries.move_to_end(entry.key)
        self._namespaces[entry.namespace].lru.move_to_end(entry.key)

    def _evict(self, namespace: _Namespace) -> list[CacheEntry]:
        evicted: list[CacheEntry] = []
        while len(namespace.lru) > self.max_entries_per_namespace:
            evicted.append(self._drop(next(iter(namespace.lru))))
        while len(self._entries) > self.max_entries:
            evicted.append(self._drop(next(iter(self._entries))))
        return evicted

    def _drop(self, key: str) -> CacheEntry:
        entry = self._entries.pop(key)
        namespace = self._namespaces[entry.namespace]
        del namespace.lru[key]
        namespace.size -= entry.size()
        if not namespace.lru:
            del self._namespaces[entry.namespace]
        if self._normalized.get(entry.normalized_key) == key:
            del self._normalized[entry.normalized_key]
        semantic = entry.semantic
        if semantic is not None:
            group = (entry.namespace, semantic.scope_key, semantic.embedder)
            index = self._groups.get(group)
            if index is not None:
                index.remove(key)
                if not len(index):
                    del self._groups[group]
        return entry
