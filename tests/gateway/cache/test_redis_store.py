"""RedisCacheStore on the real Redis: two stores play two replicas. A put on one reaches the
other's follower, capacity and purge propagate, warm start, and an outage of a redis-server of
the test's own (killed and restarted on the same port) degrades and recovers."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np
import pytest
import redis.asyncio as redis

from gateway.cache.entry import CacheEntry, SemanticRecord
from gateway.cache.local_store import LocalCache
from gateway.cache.redis_store import CacheEvent, RedisCacheStore
from gateway.store.counters_redis import fail_fast_client

from support.redis_server import RedisServer

MAIN_REDIS = "redis://127.0.0.1:6379"


def make(
    key: str,
    *,
    namespace: str = "team-a",
    model: str = "gpt-4o-mini",
    ttl: float = 600.0,
    semantic: bool = True,
) -> CacheEntry:
    now = time.time()
    record = None
    if semantic:
        v = np.random.default_rng(abs(hash(key)) % 2**32).standard_normal(16).astype(np.float32)
        v /= np.linalg.norm(v)
        record = SemanticRecord(
            scope_key="scope",
            context_key="ctx",
            recent_key="recent",
            needs_context=False,
            question=f"What is the refund policy for order {key}?",
            context="",
            question_vector=v.tobytes(),
            context_vector=None,
            embedder="onnx:all-MiniLM-L6-v2",
        )
    return CacheEntry(
        key=key,
        normalized_key=f"n-{key}",
        namespace=namespace,
        model=model,
        wire="openai",
        route="chat",
        response=b'{"id":"chatcmpl-9","object":"chat.completion","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"Refunds take 5 days."},'
        b'"finish_reason":"stop"}]}',
        prompt_tokens=20,
        completion_tokens=6,
        cost_usd=0.0002,
        created_at=now,
        expires_at=now + ttl,
        semantic=record,
    )


async def until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


class Replica:
    """A store, its follower, and the LocalCache the follower keeps in sync (as the gateway)."""

    def __init__(self, url: str, prefix: str, *, capacity: int = 100) -> None:
        self.client = fail_fast_client(url)
        self.follow_client = fail_fast_client(url, timeout_s=2.0)
        self.store = RedisCacheStore(
            self.client,
            follow_client=self.follow_client,
            max_entries_per_namespace=capacity,
            prefix=prefix,
            block_ms=200,
            probe_interval_s=0.1,
        )
        self.local = LocalCache(
            max_entries_per_namespace=capacity, max_entries=10 * capacity, clock=time.time
        )
        self.events: list[CacheEvent] = []
        self.task: asyncio.Task[None] | None = None

    def apply(self, event: CacheEvent) -> None:
        self.events.append(event)
        if event.kind == "put" and event.entry is not None:
            self.local.put(event.entry)
        elif event.kind == "evict":
            for key in event.keys:
                self.local.remove(key)
        elif event.kind == "purge":
            self.local.purge(event.namespace, event.model)
        elif event.kind == "rewarm":
            self.local.purge()
            for entry in event.entries:
                self.local.put(entry)

    async def start(self, *, warm: bool = True) -> None:
        if warm:
            for entry in await self.store.warm(1000):
                self.local.put(entry)
        self.task = self.store.start_following(self.apply)

    async def close(self) -> None:
        await self.store.close()  # stops the follower
        assert self.task is None or self.task.done()
        await self.client.aclose()
        await self.follow_client.aclose()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = f"sftest-{uuid.uuid4().hex[:12]}:mc"
    yield prefix
    admin = redis.Redis.from_url(MAIN_REDIS)
    keys = [key async for key in admin.scan_iter(match=f"{prefix}:*")]
    if keys:
        await admin.delete(*keys)
    await admin.aclose()


@pytest.fixture
async def pair(prefix: str) -> AsyncIterator[tuple[Replica, Replica]]:
    a, b = Replica(MAIN_REDIS, prefix, capacity=3), Replica(MAIN_REDIS, prefix, capacity=3)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def test_a_put_on_one_replica_reaches_the_other(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    entry = make("k1")
    assert await a.store.put(entry) == []
    a.local.put(entry)
    await until(lambda: "k1" in b.local)
    assert b.local.get("k1") == entry  # the semantic record and its vector came along
    found = b.local.candidates(
        "team-a", "scope", "onnx:all-MiniLM-L6-v2", entry.semantic.question_vector, 1
    )
    assert [e.key for e, _ in found] == ["k1"]
    # phase 2 on the other replica, straight from Redis
    assert await b.store.get("k1") == entry
    assert await b.store.get_normalized("n-k1") == entry
    assert await b.store.get("missing") is None
    assert await b.store.get_normalized("missing") is None
    # phases 2 and 3 in one round trip: the exact key first, else the normalized one
    assert await b.store.get_either("k1", "n-k1") == (entry, None)
    assert await b.store.get_either("other", "n-k1") == (None, entry)
    assert await b.store.get_either("other", "n-other") == (None, None)
    await asyncio.sleep(0.3)  # a full XREAD block: A's follower skipped its own event
    assert a.events == []


async def test_capacity_evicts_the_earliest_to_expire_everywhere(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    for i, ttl in enumerate((100, 300, 200)):
        assert await a.store.put(make(f"k{i}", ttl=ttl)) == []
    evicted = await a.store.put(make("k3", ttl=400))
    assert evicted == ["k0"]
    assert await a.store.get("k0") is None
    assert await a.store.get_normalized("n-k0") is None  # the pointer leads nowhere now
    await until(lambda: any(e.kind == "evict" for e in b.events))
    assert {e.key for e in [b.local.peek(k) for k in ("k1", "k2", "k3")] if e} == {
        "k1",
        "k2",
        "k3",
    }
    assert "k0" not in b.local
    assert await a.store.put(make("other-ns", namespace="team-b")) == []


async def test_purge_propagates(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    await a.store.put(make("m1", model="gpt-4o"))
    await a.store.put(make("m2", model="gpt-4o-mini"))
    await a.store.put(make("x1", namespace="team-b", model="gpt-4o"))
    await until(lambda: len(b.local) == 3)
    assert await a.store.purge("team-a", "gpt-4o") == 1
    await until(lambda: "m1" not in b.local)
    assert "m2" in b.local and "x1" in b.local
    assert await a.store.get("m1") is None
    assert await a.store.get_normalized("n-m1") is None
    assert await a.store.get("m2") is not None
    purge = next(e for e in b.events if e.kind == "purge")
    assert (purge.namespace, purge.model) == ("team-a", "gpt-4o")
    assert await a.store.purge() == 2  # everything, every namespace
    await until(lambda: len(b.local) == 0)
    assert await a.store.get("x1") is None


async def test_remove_propagates(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    entry = make("gone")
    await a.store.put(entry)
    await until(lambda: "gone" in b.local)
    assert await a.store.remove(entry)
    await until(lambda: "gone" not in b.local)
    assert await b.store.get("gone") is None


async def test_warm_start_then_follow_from_there(prefix: str) -> None:
    a = Replica(MAIN_REDIS, prefix)
    await a.start()
    for i in range(5):
        await a.store.put(make(f"w{i}"))
    await a.store.put(make("expiring", ttl=0.2))
    await asyncio.sleep(0.3)
    late = Replica(MAIN_REDIS, prefix)
    warmed = await late.store.warm(1000)
    assert sorted(e.key for e in warmed) == [f"w{i}" for i in range(5)]
    for entry in warmed:
        late.local.put(entry)
    await late.start(warm=False)
    await a.store.put(make("after"))
    await until(lambda: "after" in late.local)
    assert [e.kind for e in late.events] == ["put"]  # nothing before the warm replayed
    assert len(late.local) == 6
    await a.close()
    await late.close()


async def test_an_unreadable_entry_is_a_miss(prefix: str) -> None:
    a = Replica(MAIN_REDIS, prefix)
    await a.client.set(f"{prefix}:e:bad", b"not an entry")
    assert await a.store.get("bad") is None
    await a.close()


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


async def test_an_outage_degrades_and_the_follower_rewarms_after_it(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = Replica(server.url, "mc"), Replica(server.url, "mc")
    await a.start()
    await b.start()
    await a.store.put(make("before"))
    await until(lambda: "before" in b.local)

    server.kill()
    caplog.set_level(logging.WARNING, logger="smartflow.cache")
    assert await a.store.get("before") is None  # the failing call: a miss, no exception
    assert a.store.degraded
    for _ in range(20):  # once down, calls return at once without touching the network
        assert await a.store.get("before") is None
        assert await a.store.get_normalized("n-before") is None
        assert await a.store.put(make("during")) is None
        assert await a.store.purge() is None
        assert await a.store.remove(make("before")) is False
        assert await a.store.warm(10) == []
    await until(lambda: b.store.degraded)  # B's follower noticed too
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 2  # one per store and outage, not one per call

    server.start()  # back on the same port, empty (no persistence)
    await until(lambda: not a.store.degraded)
    assert await a.store.put(make("after")) == []
    # B's stream position is gone with the old server's data: it re-warms from Redis
    await until(lambda: any(e.kind == "rewarm" for e in b.events))
    await until(lambda: "after" in b.local)
    assert "before" not in b.local  # the rewarm replaced the mirror with what Redis holds
    await a.store.put(make("later"))
    await until(lambda: "later" in b.local)
    await a.close()
    await b.close()
