"""Carrying key changes (update, revoke, rotate) to every process's key cache.

- one process: direct calls;
- several embedded workers: a `key_changes` table in the shared SQLite file, polled;
- several replicas: Redis pub/sub.
The publishing process applies a change to its own cache at once; the others within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from gateway.store.base import KeyChange

log = logging.getLogger("smartflow.key_events")

Listener = Callable[[KeyChange], None]
CHANNEL = "sf:key-changes"


class LocalKeyEvents:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _deliver(self, change: KeyChange) -> None:
        for listener in self._listeners:
            listener(change)

    async def publish(self, change: KeyChange) -> None:
        self._deliver(change)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class SqliteKeyEvents(LocalKeyEvents):
    """Embedded workers share one SQLite file: changes are rows, each worker polls for new ones."""

    def __init__(self, path: Path, *, poll_s: float = 0.25, keep: int = 10_000) -> None:
        super().__init__()
        self._path = path
        self._poll_s = poll_s
        self._keep = keep
        self._last_seq = 0
        self._task: asyncio.Task[None] | None = None
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=30000")
        db.execute(
            "CREATE TABLE IF NOT EXISTS key_changes ("
            "seq INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, key_hash TEXT NOT NULL)"
        )
        return db

    async def start(self) -> None:
        self._db = await asyncio.to_thread(self._connect)
        row = await asyncio.to_thread(
            self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM key_changes").fetchone
        )
        self._last_seq = int(row[0])
        self._task = asyncio.create_task(self._poll(), name="sqlite-key-events")

    async def publish(self, change: KeyChange) -> None:
        assert self._db is not None
        db = self._db

        def insert() -> None:
            db.execute(
                "INSERT INTO key_changes (key_id, key_hash) VALUES (?, ?)",
                (change.key_id, change.key_hash),
            )
            db.execute(
                "DELETE FROM key_changes WHERE seq < (SELECT MAX(seq) FROM key_changes) - ?",
                (self._keep,),
            )

        await asyncio.to_thread(insert)
        self._deliver(change)

    async def _poll(self) -> None:
        assert self._db is not None
        db = self._db
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                rows = await asyncio.to_thread(
                    lambda: db.execute(
                        "SELECT seq, key_id, key_hash FROM key_changes WHERE seq > ? ORDER BY seq",
                        (self._last_seq,),
                    ).fetchall()
                )
            except sqlite3.Error as exc:
                log.warning("cannot read key changes", extra={"error": str(exc)})
                continue
            for seq, key_id, key_hash in rows:
                self._last_seq = seq
                self._deliver(KeyChange(key_id, key_hash))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._db is not None:
            await asyncio.to_thread(self._db.close)


class RedisKeyEvents(LocalKeyEvents):
    """Replicas share Redis: PUBLISH on change, each replica subscribed. If Redis is down, the
    publishing replica still applies the change itself; the others fall back on their cache TTL."""

    def __init__(self, client: Any, *, channel: str = CHANNEL) -> None:
        super().__init__()
        self._client = client
        self._channel = channel
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-key-events")

    async def publish(self, change: KeyChange) -> None:
        self._deliver(change)
        payload = orjson.dumps({"key_id": change.key_id, "key_hash": change.key_hash})
        try:
            await self._client.publish(self._channel, payload)
        except Exception as exc:  # the other replicas catch up through their cache TTL
            log.warning("cannot publish key change", extra={"error": str(exc)})

    async def _listen(self) -> None:
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("key change subscription lost; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)

    def _on_message(self, data: bytes | str) -> None:
        try:
            payload = orjson.loads(data)
            self._deliver(KeyChange(str(payload["key_id"]), str(payload["key_hash"])))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring a malformed key change message")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
