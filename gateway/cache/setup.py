"""Opening the response cache for a service: the embedder, the in-process store, and either the
SQLite file (embedded mode, survives a restart) or Redis (shared mode, replicas kept in sync)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Final

from gateway.backends import replica_name
from gateway.cache.embedder import Embedder, EmbedderUnavailable, open_embedder
from gateway.cache.local_store import LocalCache
from gateway.cache.metacache import MetaCache
from gateway.cache.redis_store import RedisCacheStore
from gateway.cache.sqlite_store import SqliteCacheStore, db_path
from gateway.observability.metrics import GatewayMetrics
from gateway.settings import Settings, SettingsError
from gateway.store.counters_redis import fail_fast_client

log = logging.getLogger("smartflow.metacache")

SWEEP_EVERY_S: Final = 60.0
FOLLOW_TIMEOUT_S: Final = 2.0  # above the follower's 1 s XREAD block


async def _embedder(settings: Settings) -> Embedder | None:
    if not settings.cache.semantic:
        return None
    try:
        return await open_embedder(settings)
    except EmbedderUnavailable as exc:
        raise SettingsError(f"SMARTFLOW_CACHE_EMBEDDER: {exc}") from None


def _local(settings: Settings) -> LocalCache:
    cache = settings.cache
    return LocalCache(
        max_entries_per_namespace=cache.max_entries,
        max_entries=cache.local_max_entries,
        clock=time.time,
        ann_threshold=cache.ann_threshold,
    )


async def _sweep_forever(cache: MetaCache, persistence: SqliteCacheStore | None) -> None:
    """Expired entries leave memory (and the file) even when nobody asks for them."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        now = time.time()
        cache.local.sweep(now)
        if persistence is not None:
            with contextlib.suppress(Exception):
                await persistence.sweep(now)


async def _shared(
    settings: Settings, redis: Any, local: LocalCache, stack: contextlib.AsyncExitStack
) -> RedisCacheStore:
    """Shared mode: entries in Redis; this replica's copy warmed from it, then kept in sync by
    the event stream (the follower blocks on its own client, with a longer timeout)."""
    assert settings.redis_url is not None
    follow_client = fail_fast_client(settings.redis_url, timeout_s=FOLLOW_TIMEOUT_S)
    stack.push_async_callback(follow_client.aclose)
    shared = RedisCacheStore(
        redis,
        max_entries_per_namespace=settings.cache.max_entries,
        follow_client=follow_client,
        replica=replica_name(),
    )
    stack.push_async_callback(shared.close)
    warmed = await shared.warm()
    for entry in warmed:
        local.put(entry)
    log.info("response cache warmed from Redis", extra={"entries": len(warmed)})
    return shared


def shared_admin_store(settings: Settings, redis: Any) -> RedisCacheStore:
    """For the management API in shared mode: purges go through Redis to every replica."""
    return RedisCacheStore(
        redis, max_entries_per_namespace=settings.cache.max_entries, replica=replica_name()
    )


@contextlib.asynccontextmanager
async def open_metacache(
    settings: Settings, metrics: GatewayMetrics, redis: Any | None
) -> AsyncIterator[MetaCache | None]:
    """The cache for a data-plane service, or None when SMARTFLOW_CACHE=off."""
    if not settings.cache.enabled:
        yield None
        return
    embedder = await _embedder(settings)
    async with contextlib.AsyncExitStack() as stack:
        if embedder is not None:
            stack.push_async_callback(embedder.aclose)
        local = _local(settings)
        persistence: SqliteCacheStore | None = None
        shared: RedisCacheStore | None = None
        if redis is not None and settings.redis_url is not None:
            shared = await _shared(settings, redis, local, stack)
        else:
            persistence = SqliteCacheStore(db_path(settings.data_dir))
            stack.push_async_callback(persistence.close)
            loaded = await persistence.load(time.time())
            for entry in loaded:
                local.put(entry)
            log.info("response cache loaded", extra={"entries": len(loaded)})
        cache = MetaCache(
            local=local,
            embedder=embedder,
            metrics=metrics,
            threshold=settings.semantic_cache_threshold,
            ttl_s=settings.cache.ttl_s,
            persistence=persistence,
            shared=shared,
        )
        if shared is not None:
            shared.start_following(cache.apply)
        sweeper = asyncio.create_task(_sweep_forever(cache, persistence))
        try:
            yield cache
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
