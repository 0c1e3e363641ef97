"""Choosing and opening the state backends for the settings at hand.

| setting                         | keys        | counters            | key events | audit     |
|---------------------------------|-------------|---------------------|------------|-----------|
| neither (embedded, 1 process)   | SQLite      | memory              | direct     | SQLite    |
| neither, --workers N            | SQLite      | SQLite              | SQLite     | SQLite    |
| DATABASE_URL                    | PostgreSQL  | memory / SQLite     | direct/SQL | PostgreSQL|
| KEYSTORE_REDIS_URL+DATABASE_URL | PostgreSQL  | Redis (memory if it | Redis      | PostgreSQL|
|                                 |             | is down)            | pub/sub    |           |
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gateway.settings import Settings
from gateway.store import sqlite
from gateway.store.base import Counters, KeyRepository
from gateway.store.key_events import LocalKeyEvents, RedisKeyEvents, SqliteKeyEvents

log = logging.getLogger("smartflow.backends")


@dataclass(slots=True)
class Backends:
    keys: KeyRepository
    counters: Counters
    key_events: LocalKeyEvents
    audit_store: Any
    redis: Any | None = None
    health_checks: dict[str, Any] = field(default_factory=dict)


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.asynccontextmanager
async def open_backends(settings: Settings) -> AsyncIterator[Backends]:
    """Open every backend the settings call for; close them in reverse order on exit."""
    async with contextlib.AsyncExitStack() as stack:
        db_path = settings.data_dir / sqlite.DB_NAME
        shared_workers = settings.workers > 1
        redis = None
        checks: dict[str, Any] = {}
        if settings.database_url:
            from gateway.store.audit_postgres import PostgresAuditStore
            from gateway.store.keys_postgres import PostgresKeyRepository

            keys: KeyRepository = await PostgresKeyRepository.connect(settings.database_url)
            stack.push_async_callback(keys.close)
            audit_store: Any = await PostgresAuditStore.connect(settings.database_url)
            stack.push_async_callback(audit_store.close)
        else:
            from gateway.store.audit_sqlite import SqliteAuditStore
            from gateway.store.keys_sqlite import SqliteKeyRepository

            keys = SqliteKeyRepository(db_path)
            stack.push_async_callback(keys.close)
            audit_store = await SqliteAuditStore.open(db_path)
            stack.push_async_callback(audit_store.close)
        checks["database"] = audit_store.ping

        from gateway.store.counters_local import LocalCounters

        counters: Counters
        events: LocalKeyEvents
        if settings.redis_url:
            import redis.asyncio as aioredis

            from gateway.store.counters_redis import RedisCounters, fail_fast_client

            # counters: short timeouts, no retries (an outage costs milliseconds, then the
            # local fallback decides); pub/sub: a plain client that may block on listen
            redis = fail_fast_client(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            listener = aioredis.Redis.from_url(settings.redis_url, health_check_interval=10)
            stack.push_async_callback(listener.aclose)
            counters = RedisCounters(redis, audit_store, fallback=LocalCounters(audit_store))
            events = RedisKeyEvents(listener)
            checks["redis"] = redis.ping
        elif shared_workers:
            from gateway.store.counters_sqlite import SqliteCounters

            counters = SqliteCounters(db_path, spend_source=audit_store)
            events = SqliteKeyEvents(db_path)
        else:
            counters = LocalCounters(audit_store)
            events = LocalKeyEvents()
        stack.push_async_callback(counters.close)
        await events.start()
        stack.push_async_callback(events.close)
        yield Backends(keys, counters, events, audit_store, redis, checks)
