"""LocalCache: exact and normalized lookups, LRU per namespace and overall, TTL, candidates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gateway.cache.entry import CacheEntry, SemanticRecord
from gateway.cache.local_store import LocalCache

DIM = 16
EMBEDDER = "onnx:all-MiniLM-L6-v2"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def make(
    key: str,
    *,
    namespace: str = "team-a",
    model: str = "gpt-4o-mini",
    nkey: str | None = None,
    vector: np.ndarray | None = None,
    scope: str = "scope-1",
    embedder: str = EMBEDDER,
    created: float = 1_700_000_000.0,
    ttl: float = 3600.0,
) -> CacheEntry:
    semantic = None
    if vector is not None:
        semantic = SemanticRecord(
            scope_key=scope,
            context_key="ctx",
            recent_key="recent",
            needs_context=False,
            question=f"question for {key}",
            context="",
            question_vector=vector.astype(np.float32).tobytes(),
            context_vector=None,
            embedder=embedder,
        )
    return CacheEntry(
        key=key,
        normalized_key=nkey or f"n-{key}",
        namespace=namespace,
        model=model,
        wire="openai",
        route="chat",
        response=b'{"id":"chatcmpl-1","object":"chat.completion","choices":[]}',
        prompt_tokens=12,
        completion_tokens=7,
        cost_usd=0.0004,
        created_at=created,
        expires_at=created + ttl,
        semantic=semantic,
    )


def cache(clock: Clock, per_ns: int = 100, total: int = 1000) -> LocalCache:
    return LocalCache(max_entries_per_namespace=per_ns, max_entries=total, clock=clock)


def test_get_and_get_normalized() -> None:
    c = cache(Clock())
    entry = make("k1", nkey="nk1")
    assert c.put(entry) == []
    assert c.get("k1") is entry
    assert c.get_normalized("nk1") is entry
    assert c.get("nope") is None
    assert c.get_normalized("nope") is None
    assert len(c) == 1 and "k1" in c


def test_replacing_a_key_keeps_one_entry_and_counts_bytes_once() -> None:
    c = cache(Clock())
    c.put(make("k1", vector=unit(1)))
    newer = make("k1", vector=unit(2))
    c.put(newer)
    assert len(c) == 1
    assert c.namespaces() == {"team-a": (1, newer.size())}
    found = c.candidates("team-a", "scope-1", EMBEDDER, unit(2), 5)
    assert [(e.key, round(s, 4)) for e, s in found] == [("k1", 1.0)]


def test_namespace_capacity_evicts_least_recently_used() -> None:
    c = cache(Clock(), per_ns=3)
    for key in ("a", "b", "c"):
        c.put(make(key))
    c.put(make("other", namespace="team-b"))
    assert c.get("a") is not None  # a becomes most recent: b is now the oldest of team-a
    evicted = c.put(make("d"))
    assert [e.key for e in evicted] == ["b"]
    assert c.get("b") is None
    assert {k for k in ("a", "c", "d", "other") if c.get(k)} == {"a", "c", "d", "other"}
    assert c.namespaces()["team-a"][0] == 3


def test_overall_bound_evicts_across_namespaces() -> None:
    c = cache(Clock(), per_ns=10, total=4)
    for i in range(4):
        c.put(make(f"k{i}", namespace=f"ns{i % 2}"))
    c.get("k0")
    evicted = c.put(make("k4", namespace="ns2"))
    assert [e.key for e in evicted] == ["k1"]
    assert len(c) == 4
    assert set(c.namespaces()) == {"ns0", "ns1", "ns2"}


def test_expired_entries_are_dropped_on_read_and_by_sweep() -> None:
    clock = Clock()
    c = cache(clock)
    c.put(make("short", ttl=10, nkey="ns"))
    c.put(make("long", ttl=1000))
    c.put(make("semantic", ttl=10, vector=unit(3)))
    clock.now += 11
    assert c.get_normalized("ns") is None
    assert "short" not in c
    assert c.candidates("team-a", "scope-1", EMBEDDER, unit(3), 3) == []
    assert "semantic" not in c
    c.put(make("later", ttl=5, created=clock.now))
    assert [e.key for e in c.sweep(clock.now + 6)] == ["later"]
    assert c.sweep(clock.now + 100) == []
    assert [e.key for e in c.sweep(clock.now + 10_000)] == ["long"]
    assert len(c) == 0
    assert c.namespaces() == {}


def test_an_expired_entry_is_not_stored() -> None:
    clock = Clock()
    c = cache(clock)
    assert c.put(make("old", created=clock.now - 100, ttl=10)) == []
    assert "old" not in c


def test_sweep_ignores_the_expiry_of_a_replaced_entry() -> None:
    clock = Clock()
    c = cache(clock)
    c.put(make("k", ttl=10))
    c.put(make("k", ttl=100))
    assert c.sweep(clock.now + 50) == []
    assert c.get("k") is not None


def test_candidates_come_from_the_same_namespace_scope_and_embedder_only() -> None:
    c = cache(Clock())
    base = unit(10)
    near = base + 0.2 * unit(11)
    near /= np.linalg.norm(near)
    c.put(make("same", vector=base))
    c.put(make("far", vector=unit(12)))
    c.put(make("other-scope", vector=base, scope="scope-2"))
    c.put(make("other-ns", vector=base, namespace="team-b"))
    c.put(make("other-embedder", vector=base, embedder="static:all-MiniLM-L6-v2-256"))
    c.put(make("exact-only"))
    found = c.candidates("team-a", "scope-1", EMBEDDER, near, 5)
    assert [e.key for e, _ in found] == ["same", "far"]
    assert found[0][1] == pytest.approx(float(base @ near), abs=1e-5)
    assert found[0][1] > found[1][1]
    assert c.candidates("team-a", "scope-9", EMBEDDER, near, 5) == []
    assert [e.key for e, _ in c.candidates("team-b", "scope-1", EMBEDDER, near, 5)] == ["other-ns"]


def test_evicted_and_removed_entries_leave_the_vector_index() -> None:
    c = cache(Clock(), per_ns=2)
    c.put(make("a", vector=unit(20)))
    c.put(make("b", vector=unit(21)))
    c.put(make("c", vector=unit(22)))  # evicts a
    keys = {e.key for e, _ in c.candidates("team-a", "scope-1", EMBEDDER, unit(20), 5)}
    assert keys == {"b", "c"}
    removed = c.remove("b")
    assert removed is not None and removed.key == "b"
    assert c.remove("b") is None
    keys = {e.key for e, _ in c.candidates("team-a", "scope-1", EMBEDDER, unit(20), 5)}
    assert keys == {"c"}


def test_purge_by_namespace_model_or_both() -> None:
    c = cache(Clock())
    c.put(make("a1", namespace="a", model="m1", vector=unit(30)))
    c.put(make("a2", namespace="a", model="m2"))
    c.put(make("b1", namespace="b", model="m1"))
    c.put(make("b2", namespace="b", model="m2"))
    assert {e.key for e in c.purge("a", "m1")} == {"a1"}
    assert c.candidates("a", "scope-1", EMBEDDER, unit(30), 3) == []
    assert {e.key for e in c.purge(model="m2")} == {"a2", "b2"}
    assert {e.key for e in c.purge("b")} == {"b1"}
    assert c.purge("missing") == []
    c.put(make("x"))
    assert [e.key for e in c.purge()] == ["x"]
    assert len(c) == 0


def test_a_normalized_key_points_at_the_latest_entry() -> None:
    c = cache(Clock())
    first = make("k1", nkey="same")
    second = make("k2", nkey="same")
    c.put(first)
    c.put(second)
    assert c.get_normalized("same") is second
    c.remove("k1")  # the older one going does not unlink the newer
    assert c.get_normalized("same") is second
    c.remove("k2")
    assert c.get_normalized("same") is None


def test_namespaces_report_entries_and_bytes() -> None:
    c = cache(Clock())
    a, b = make("a", vector=unit(40)), make("b")
    c.put(a)
    c.put(b)
    c.put(make("z", namespace="other"))
    assert c.namespaces()["team-a"] == (2, a.size() + b.size())
    assert a.size() > b.size()  # the vector and question count


def test_peek_does_not_touch_recency() -> None:
    c = cache(Clock(), per_ns=2)
    c.put(make("a"))
    c.put(make("b"))
    assert c.peek("a") is not None
    evicted = c.put(make("c"))
    assert [e.key for e in evicted] == ["a"]


def test_invalid_capacity() -> None:
    with pytest.raises(ValueError):
        LocalCache(max_entries_per_namespace=0, max_entries=1, clock=Clock())


def test_entries_with_changed_expiry_sweep_by_the_new_one() -> None:
    clock = Clock()
    c = cache(clock)
    entry = make("k", ttl=10)
    c.put(entry)
    c.put(entry.with_expiry(clock.now + 1000))
    assert c.sweep(clock.now + 20) == []
    assert replace(entry, expires_at=clock.now + 1000) == c.get("k")
