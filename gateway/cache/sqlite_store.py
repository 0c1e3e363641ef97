"""The cache's persistence in embedded mode: one SQLite file, so a restart starts warm.

Its own file (`<data dir>/metacache.db`, WAL) rather than a table in smartflow.db: cache writes
are frequent and disposable, and must not compete for the write lock with keys and the audit
log. The LocalCache is the cache; this file only mirrors it. Writes (`put`, `delete`) return at
once: they queue in memory and one thread applies them in batches, each batch one transaction,
so the event loop and the request never wait on the disk. A bounded queue drops the oldest
writes when the disk cannot keep up (it is a cache: a lost write is a later miss). `close`
flushes what is queued.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from gateway.cache.entry import CacheEntry, EntryFormatError, decode, encode
from gateway.store.sqlite import connect

log = logging.getLogger("smartflow.cache")

T = TypeVar("T")

DB_NAME: Final = "metacache.db"
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS cache_entries (
    key TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    model TEXT NOT NULL,
    expires_at REAL NOT NULL,
    entry BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_entries_ns_model ON cache_entries (namespace, model);
CREATE INDEX IF NOT EXISTS cache_entries_expiry ON cache_entries (expires_at);
"""
BATCH_MAX: Final = 500  # writes per transaction
QUEUE_MAX: Final = 100_000  # queued writes kept while the disk lags (oldest dropped beyond)

# ("put", entry) or ("delete", key)
_Write = tuple[str, CacheEntry | str]


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


class SqliteCacheStore:
    """`path` is the database file (see `db_path`); it and its directory are created."""

    def __init__(self, path: Path, *, queue_max: int = QUEUE_MAX) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metacache-sqlite")
        self._connection: sqlite3.Connection | None = None  # used only on the executor's thread
        self._queue: deque[_Write] = deque(maxlen=queue_max)
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0  # writes lost to a full queue or a failing disk

    # the worker thread

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = connect(self.path)
            connection.executescript(SCHEMA)
            self._connection = connection
        return self._connection

    async def _run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: job(self._db()))

    @staticmethod
    def _apply(batch: list[_Write], db: sqlite3.Connection) -> None:
        rows: list[tuple[str, str | None, str | None, float | None, bytes | None]] = []
        for op, item in batch:
            if op == "put":
                assert isinstance(item, CacheEntry)
                rows.append((item.key, item.namespace, item.model, item.expires_at, encode(item)))
            else:
                rows.append((str(item), None, None, None, None))
        db.execute("BEGIN IMMEDIATE")
        try:
            for key, namespace, model, expires_at, raw in rows:  # in order: a put then a delete
                if raw is None:
                    db.execute("DELETE FROM cache_entries WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO cache_entries VALUES (?, ?, ?, ?, ?)",
                        (key, namespace, model, expires_at, raw),
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # writes: queued, applied by the writer task through the thread

    def put(self, entry: CacheEntry) -> None:
        """Queues the entry (replacing one of the same key); returns at once."""
        self._enqueue(("put", entry))

    def delete(self, keys: Iterable[str]) -> None:
        """Queues the deletion of these keys; returns at once."""
        for key in keys:
            self._enqueue(("delete", key))

    def _enqueue(self, write: _Write) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(write)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH_MAX, len(self._queue)))]
            try:
                await self._run(functools.partial(self._apply, batch))
            except Exception as error:  # a full or read-only disk, an unencodable entry
                self.dropped += len(batch)
                log.warning(
                    "cache writes to %s failed, %d dropped: %s", self.path, len(batch), error
                )

    async def flush(self) -> None:
        """Waits until every queued write is on disk."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    # reads and maintenance: run after the queued writes (one thread, in order)

    async def load(self, now: float) -> list[CacheEntry]:
        """Every unexpired entry, oldest first (so putting them in order keeps LRU sense);
        expired and unreadable rows are deleted."""
        await self.flush()

        def job(db: sqlite3.Connection) -> list[CacheEntry]:
            db.execute("DELETE FROM cache_entries WHERE expires_at <= ?", (now,))
            entries: list[CacheEntry] = []
            broken: list[tuple[str]] = []
            for key, raw in db.execute("SELECT key, entry FROM cache_entries"):
                try:
                    entries.append(decode(raw))
                except EntryFormatError:
                    broken.append((key,))
            if broken:
                db.executemany("DELETE FROM cache_entries WHERE key = ?", broken)
            entries.sort(key=lambda e: e.created_at)
            return entries

        return await self._run(job)

    async def purge(self, namespace: str | None = None, model: str | None = None) -> int:
        """Deletes every entry of `namespace` and/or `model` (both None: all); returns how many."""
        await self.flush()
        where, params = [], []
        if namespace is not None:
            where.append("namespace = ?")
            params.append(namespace)
        if model is not None:
            where.append("model = ?")
            params.append(model)
        # only the fixed conditions above are joined in; the values are parameters
        sql = "DELETE FROM cache_entries" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
        return await self._run(lambda db: db.execute(sql, params).rowcount)

    async def sweep(self, now: float) -> int:
        """Deletes the rows expired at `now`; returns how many."""
        await self.flush()
        return await self._run(
            lambda db: (
                db.execute("DELETE FROM cache_entries WHERE expires_at <= ?", (now,)).rowcount
            )
        )

    async def count(self) -> int:
        await self.flush()
        return int(
            await self._run(
                lambda db: db.execute("SELECT count(*) FROM cache_entries").fetchone()[0]
            )
        )

    async def close(self) -> None:
        """Flushes queued writes, then closes the file and the thread."""
        await self.flush()

        def shut(db: sqlite3.Connection) -> None:
            db.close()
            self._connection = None

        if self._connection is not None:
            await self._run(shut)
        self._executor.shutdown(wait=True)
