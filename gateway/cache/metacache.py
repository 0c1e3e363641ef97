"""MetaCache: the four lookup phases and the write after a response.

(1) the in-process exact LRU, (2) the shared exact entry in Redis (written by another replica),
(3) the normalised key (whitespace, case, Unicode), (4) the semantic phase: the last user turn
embedded, candidates from the namespace's index with the same scope (model, parameters, system
prompt, tools), each judged by `semantic_match` (cosine, the guard, the conversation's context).

One embedding call per request: the lookup's vectors are kept on the probe and reused by the
write. Writes happen after the response, off the request path. A shared store that is down only
makes the cache local; it never fails a request.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from gateway.cache.embedder import Embedder
from gateway.cache.entry import CachedRoute, CacheEntry, SemanticRecord
from gateway.cache.local_store import LocalCache
from gateway.cache.redis_store import CacheEvent
from gateway.cache.stats import HIT_HEADER, CacheStats, Phase
from gateway.core.cache_guard import TextFeatures, analyze
from gateway.core.cache_key import ConversationSplit, Wire, request_keys, split_conversation
from gateway.core.semantic_match import DEFAULT_CONTEXT_THRESHOLD, SemanticSide, semantic_match
from gateway.observability.metrics import GatewayMetrics

log = logging.getLogger("smartflow.metacache")

CANDIDATES: Final = 8  # nearest entries judged per semantic lookup
# The embedder reads 256 tokens (~1,000 characters of English); past that it would not see a
# change at the end of a long prompt, so long questions are answered from exact phases only.
MAX_SEMANTIC_CHARS: Final = 1000
MAX_CONTEXT_CHARS: Final = 1000  # the most recent part of the context is what is embedded
FEATURES_REMEMBERED: Final = 4096


class SharedStore(Protocol):
    """Redis in shared mode (gateway.cache.redis_store)."""

    async def get_either(
        self, key: str, nkey: str
    ) -> tuple[CacheEntry | None, CacheEntry | None]: ...

    async def put(self, entry: CacheEntry) -> list[str] | None: ...

    async def purge(self, namespace: str | None, model: str | None) -> int | None: ...


class Persistence(Protocol):
    """The SQLite file in embedded mode (gateway.cache.sqlite_store)."""

    def put(self, entry: CacheEntry) -> None: ...

    def delete(self, keys: list[str]) -> None: ...

    async def purge(self, namespace: str | None, model: str | None) -> int: ...


@dataclass(slots=True)
class Probe:
    """One request as the cache sees it; the semantic fields are filled by the lookup."""

    body: Mapping[str, Any]
    wire: Wire
    route: CachedRoute
    namespace: str
    model: str
    semantic: bool  # the key allows phase 4
    key: str
    normalized_key: str
    split: ConversationSplit | None = None
    question_vector: np.ndarray | None = None
    context_vector: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    entry: CacheEntry
    phase: Phase
    score: float | None = None  # the question's cosine, for a semantic hit

    @property
    def header(self) -> str:
        return HIT_HEADER[self.phase]


def context_text(split: ConversationSplit) -> str:
    """The earlier turns as one text, their most recent part when long."""
    return "\n".join(split.context_turns)[-MAX_CONTEXT_CHARS:]


def _side(
    read: Callable[[str], TextFeatures],
    question: str,
    context: str,
    *,
    context_key: str,
    recent_key: str,
    needs: bool,
) -> SemanticSide:
    return SemanticSide(
        question=read(question),
        context_key=context_key,
        recent_key=recent_key,
        context=read(context) if context else None,
        needs_context=needs,
    )


class MetaCache:
    def __init__(
        self,
        *,
        local: LocalCache,
        embedder: Embedder | None,
        metrics: GatewayMetrics,
        threshold: float,
        ttl_s: float,
        shared: SharedStore | None = None,
        persistence: Persistence | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local
        self.embedder = embedder
        self.shared = shared
        self.persistence = persistence
        self.stats = CacheStats()
        self._metrics = metrics
        self._threshold = threshold
        self._ttl_s = ttl_s
        self._clock = clock
        # the guard's reading of a stored question (and context) is needed again by every
        # lookup that finds it among the candidates: the most recent readings are kept
        self._read_stored = functools.lru_cache(maxsize=FEATURES_REMEMBERED)(analyze)

    # -- lookup ----------------------------------------------------------------------------------

    def probe(
        self,
        body: Mapping[str, Any],
        *,
        wire: Wire,
        route: CachedRoute,
        namespace: str,
        model: str,
        semantic: bool,
    ) -> Probe:
        keys = request_keys(body, wire=wire, namespace=namespace, extra=route)
        return Probe(
            body=body,
            wire=wire,
            route=route,
            namespace=namespace,
            model=model,
            semantic=semantic and self.embedder is not None,
            key=keys.exact,
            normalized_key=keys.normalized,
        )

    async def lookup(self, probe: Probe) -> Hit | None:
        """The first phase that answers, or None (a miss, counted)."""
        hit = await self._exact(probe)
        if hit is None and probe.semantic:
            hit = await self._semantic(probe)
        if hit is None:
            self.stats.miss(probe.namespace)
            self._metrics.cache_misses.inc()
            return None
        entry = hit.entry
        tokens = entry.prompt_tokens + entry.completion_tokens
        self.stats.hit(probe.namespace, tokens, entry.cost_usd)
        self._metrics.observe_cache_hit(hit.phase, tokens, entry.cost_usd)
        return hit

    def _timed(self, phase: Phase, started: float, found: CacheEntry | None) -> Hit | None:
        self.stats.phase(phase, time.perf_counter() - started, found is not None)
        return Hit(found, phase) if found is not None else None

    async def _exact(self, probe: Probe) -> Hit | None:
        """Phase 1 and phase 3 in memory; then Redis for both keys in one round trip (an entry
        another replica wrote that this one has not mirrored yet)."""
        started = time.perf_counter()
        hit = self._timed("exact_local", started, self.local.get(probe.key))
        if hit is not None:
            return hit
        started = time.perf_counter()
        hit = self._timed("normalized", started, self.local.get_normalized(probe.normalized_key))
        if hit is not None or self.shared is None:
            return hit
        started = time.perf_counter()
        exact, normalized = await self.shared.get_either(probe.key, probe.normalized_key)
        found = exact or normalized
        if found is not None:
            self.local.put(found)
        self.stats.phase("exact_shared", time.perf_counter() - started, found is not None)
        if found is None:
            return None
        return Hit(found, "exact_shared" if exact is not None else "normalized")

    def _split(self, probe: Probe) -> ConversationSplit:
        if probe.split is None:
            probe.split = split_conversation(
                probe.body, wire=probe.wire, namespace=probe.namespace, extra=probe.route
            )
        return probe.split

    async def _embed(self, probe: Probe, split: ConversationSplit) -> bool:
        """Fill the probe's vectors (one call, question and context batched); False when the
        request is not one the semantic phase may answer."""
        if self.embedder is None or not split.semantic_ok:
            return False
        if len(split.last_turn_text) > MAX_SEMANTIC_CHARS:
            return False
        if probe.question_vector is not None:
            return True
        context = context_text(split)
        texts = [split.last_turn_text, context] if context else [split.last_turn_text]
        started = time.perf_counter()
        try:
            vectors = await self.embedder.embed(texts)
        except Exception as exc:  # a sidecar that is down: the exact phases still answer
            log.warning("embedding failed; semantic cache skipped", extra={"error": str(exc)})
            return False
        finally:
            self._metrics.embedding_duration.observe(time.perf_counter() - started)
        probe.question_vector = vectors[0]
        probe.context_vector = vectors[1] if context else None
        return True

    async def _semantic(self, probe: Probe) -> Hit | None:
        started = time.perf_counter()
        split = self._split(probe)
        found: tuple[CacheEntry, float] | None = None
        if await self._embed(probe, split):
            found = self._judge(probe, split)
        self.stats.phase("semantic", time.perf_counter() - started, found is not None)
        return Hit(found[0], "semantic", found[1]) if found is not None else None

    def _judge(self, probe: Probe, split: ConversationSplit) -> tuple[CacheEntry, float] | None:
        assert self.embedder is not None and probe.question_vector is not None
        candidates = self.local.candidates(
            probe.namespace,
            split.scope_key,
            self.embedder.name,
            probe.question_vector,
            CANDIDATES,
        )
        query: SemanticSide | None = None
        for entry, score in candidates:
            record = entry.semantic
            if score < self._threshold or record is None:
                break
            if query is None:
                query = _side(
                    analyze,
                    split.last_turn_text,
                    context_text(split),
                    context_key=split.context_key,
                    recent_key=split.recent_key,
                    needs=split.needs_context,
                )
            cached = _side(
                self._read_stored,
                record.question,
                record.context,
                context_key=record.context_key,
                recent_key=record.recent_key,
                needs=record.needs_context,
            )
            verdict = semantic_match(
                query,
                cached,
                question_score=score,
                context_score=self._context_score(probe, record),
                threshold=self._threshold,
                context_threshold=DEFAULT_CONTEXT_THRESHOLD,
            )
            if verdict.ok:
                return entry, score
        return None

    def _context_score(self, probe: Probe, record: SemanticRecord) -> float | None:
        if self.embedder is None or not self.embedder.contextual:
            return None  # contexts must then be equal, or small talk
        if probe.context_vector is None or record.context_vector is None:
            return None
        cached = np.frombuffer(record.context_vector, dtype=np.float32)
        if cached.shape != probe.context_vector.shape:
            return None
        return float(np.dot(probe.context_vector, cached))

    # -- write -----------------------------------------------------------------------------------

    async def remember(
        self, probe: Probe, response: bytes, prompt_tokens: int, completion_tokens: int, usd: float
    ) -> CacheEntry:
        """Store an answer (called after the response, in the background)."""
        now = self._clock()
        semantic = await self._semantic_record(probe) if probe.semantic else None
        entry = CacheEntry(
            key=probe.key,
            normalized_key=probe.normalized_key,
            namespace=probe.namespace,
            model=probe.model,
            wire=probe.wire,
            route=probe.route,
            response=response,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=usd,
            created_at=now,
            expires_at=now + self._ttl_s,
            semantic=semantic,
        )
        evicted = self.local.put(entry)
        self.stats.stored += 1
        self.stats.evicted += len(evicted)
        if self.persistence is not None:
            self.persistence.put(entry)
            if evicted:
                self.persistence.delete([old.key for old in evicted])
        if self.shared is not None:
            for key in await self.shared.put(entry) or ():  # evicted for capacity in Redis
                self.local.remove(key)
        return entry

    async def _semantic_record(self, probe: Probe) -> SemanticRecord | None:
        split = self._split(probe)
        if self.embedder is None or not await self._embed(probe, split):
            return None
        assert probe.question_vector is not None
        context = probe.context_vector
        return SemanticRecord(
            scope_key=split.scope_key,
            context_key=split.context_key,
            recent_key=split.recent_key,
            needs_context=split.needs_context,
            question=split.last_turn_text,
            context=context_text(split),
            question_vector=probe.question_vector.astype(np.float32).tobytes(),
            context_vector=None if context is None else context.astype(np.float32).tobytes(),
            embedder=self.embedder.name,
        )

    def not_stored(self, reason: str) -> None:
        self.stats.not_stored[reason] += 1

    # -- operations ------------------------------------------------------------------------------

    async def purge(self, namespace: str | None, model: str | None) -> int:
        """Drop entries here and in the embedded file, or in Redis, whose event stream tells
        every other replica to drop them too."""
        dropped = len(self.local.purge(namespace, model))
        if self.persistence is not None:
            await self.persistence.purge(namespace, model)
        if self.shared is not None:
            shared = await self.shared.purge(namespace, model)
            dropped = max(dropped, shared or 0)
        return dropped

    def apply(self, event: CacheEvent) -> None:
        """Another replica's change, from the shared store's event stream."""
        if event.kind == "put" and event.entry is not None:
            self.local.put(event.entry)
        elif event.kind == "evict":
            for key in event.keys:
                self.local.remove(key)
        elif event.kind == "purge":
            self.local.purge(event.namespace, event.model)
        elif event.kind == "rewarm":  # events were missed: Redis holds the truth
            self.local.purge(None, None)
            for entry in event.entries:
                self.local.put(entry)

    def snapshot(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder.name if self.embedder is not None else None,
            "threshold": self._threshold,
            **self.stats.snapshot(self.local.namespaces()),
        }
