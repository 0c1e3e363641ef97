"""SqliteCacheStore: entries survive a restart (a new store on the same file), writes queue."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np

from gateway.cache.entry import CacheEntry, SemanticRecord
from gateway.cache.local_store import LocalCache
from gateway.cache.sqlite_store import SqliteCacheStore, db_path

NOW = 1_700_000_000.0


def make(
    key: str,
    *,
    namespace: str = "team-a",
    model: str = "gpt-4o-mini",
    created: float = NOW,
    ttl: float = 3600.0,
    semantic: bool = False,
) -> CacheEntry:
    record = None
    if semantic:
        v = np.random.default_rng(len(key)).standard_normal(8).astype(np.float32)
        v /= np.linalg.norm(v)
        record = SemanticRecord(
            scope_key="s",
            context_key="c",
            recent_key="r",
            needs_context=True,
            question="How do I reset my password?",
            context="user: hi\nassistant: hello",
            question_vector=v.tobytes(),
            context_vector=v.tobytes(),
            embedder="onnx:all-MiniLM-L6-v2",
        )
    return CacheEntry(
        key=key,
        normalized_key=f"n-{key}",
        namespace=namespace,
        model=model,
        wire="anthropic",
        route="messages",
        response='{"id":"msg_1","type":"message","content":[{"type":"text","text":"héllo"}]}'.encode(),
        prompt_tokens=10,
        completion_tokens=3,
        cost_usd=0.00012,
        created_at=created,
        expires_at=created + ttl,
        semantic=record,
    )


async def test_entries_survive_a_restart(tmp_path: Path) -> None:
    path = db_path(tmp_path / "data")
    store = SqliteCacheStore(path)
    entries = [make(f"k{i}", created=NOW + i, semantic=i % 2 == 0) for i in range(5)]
    for entry in entries:
        store.put(entry)  # returns at once: queued
    await store.close()
    assert path.exists()
    reopened = SqliteCacheStore(path)
    loaded = await reopened.load(NOW + 10)
    assert loaded == entries  # oldest first, semantic records and vectors intact
    await reopened.close()


async def test_load_skips_and_deletes_expired_and_unreadable_rows(tmp_path: Path) -> None:
    path = tmp_path / "metacache.db"
    store = SqliteCacheStore(path)
    store.put(make("short", ttl=5))
    store.put(make("long", ttl=500))
    await store.flush()
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO cache_entries VALUES ('bad', 'team-a', 'm', ?, ?)", (NOW + 900, b"{}")
        )
    assert [e.key for e in await store.load(NOW + 10)] == ["long"]
    assert await store.count() == 1
    await store.close()


async def test_replace_and_delete_apply_in_order(tmp_path: Path) -> None:
    store = SqliteCacheStore(tmp_path / "metacache.db")
    store.put(make("a", ttl=10))
    store.put(make("a", ttl=100))
    store.put(make("b"))
    store.delete(["b"])
    store.put(make("c"))
    store.delete(["c", "never"])
    store.put(make("c", ttl=50))
    loaded = await store.load(NOW)
    assert [(e.key, e.expires_at) for e in loaded] == [("a", NOW + 100), ("c", NOW + 50)]
    await store.close()


async def test_purge_by_namespace_model_or_both(tmp_path: Path) -> None:
    store = SqliteCacheStore(tmp_path / "metacache.db")
    for ns in ("a", "b"):
        for model in ("m1", "m2"):
            store.put(make(f"{ns}-{model}", namespace=ns, model=model))
    assert await store.purge("a", "m1") == 1
    assert await store.purge(model="m2") == 2
    assert await store.purge("missing") == 0
    assert [e.key for e in await store.load(NOW)] == ["b-m1"]
    assert await store.purge() == 1
    assert await store.count() == 0
    await store.close()


async def test_sweep_deletes_expired_rows(tmp_path: Path) -> None:
    store = SqliteCacheStore(tmp_path / "metacache.db")
    store.put(make("a", ttl=10))
    store.put(make("b", ttl=100))
    assert await store.sweep(NOW + 50) == 1
    assert await store.count() == 1
    await store.close()


async def test_many_writes_batch_without_blocking_the_loop(tmp_path: Path) -> None:
    store = SqliteCacheStore(tmp_path / "metacache.db")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for i in range(3000):
        store.put(make(f"k{i}"))
    await store.flush()
    task.cancel()
    assert ticks > 1  # the loop ran while the thread wrote
    assert await store.count() == 3000
    assert store.dropped == 0
    await store.close()


async def test_a_full_queue_drops_the_oldest_writes(tmp_path: Path) -> None:
    store = SqliteCacheStore(tmp_path / "metacache.db", queue_max=10)
    for i in range(25):
        store.put(make(f"k{i}"))  # no await: the writer has not started a batch yet
    await store.flush()
    assert store.dropped == 15
    assert {e.key for e in await store.load(NOW)} == {f"k{i}" for i in range(15, 25)}
    await store.close()


async def test_a_failing_disk_drops_writes_and_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    store = SqliteCacheStore(blocker / "metacache.db")
    store.put(make("a"))
    await store.flush()
    assert store.dropped == 1
    await store.close()


async def test_warm_start_of_a_local_cache(tmp_path: Path) -> None:
    """What the gateway does at start in embedded mode: load, then put in order."""
    store = SqliteCacheStore(tmp_path / "metacache.db")
    for i in range(6):
        store.put(make(f"k{i}", created=NOW + i, semantic=True))
    await store.close()
    reopened = SqliteCacheStore(tmp_path / "metacache.db")
    cache = LocalCache(max_entries_per_namespace=4, max_entries=100, clock=lambda: NOW + 10)
    evicted = []
    for entry in await reopened.load(NOW + 10):
        evicted += cache.put(entry)
    reopened.delete(e.key for e in evicted)
    assert [e.key for e in evicted] == ["k0", "k1"]  # the oldest go first
    assert await reopened.count() == 4
    await reopened.close()
