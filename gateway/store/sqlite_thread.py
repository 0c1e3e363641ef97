"""One thread that owns a connection to the embedded store, shared by the SQLite-backed stores.

A sqlite3 connection is used from one thread at a time, and the event loop must never wait on
disk, so each store gets a single-worker executor that opens (and migrates) the connection on
first use and runs every query there.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.store import sqlite

T = TypeVar("T")


def immediate(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` in one IMMEDIATE transaction: it takes SQLite's write lock up front, so a
    read-then-write cannot race another `--workers` process; any exception rolls back."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return result


class SqliteThread:
    """Runs work on the thread that owns the store's connection.

    `closed_message`, if given, is the RuntimeError raised by `run` once `close` has begun;
    without it a late call fails as the shut-down executor does.
    """

    def __init__(self, path: Path, thread_name: str, *, closed_message: str | None = None) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._connection: sqlite3.Connection | None = None  # touched only on the executor thread
        self._closed = False
        self._closed_message = closed_message

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed and self._closed_message is not None:
            raise RuntimeError(self._closed_message)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_connection, work)

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`run`, inside one IMMEDIATE transaction (see `immediate`)."""
        return await self.run(lambda connection: immediate(connection, work))

    def _with_connection(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite.connect(self._path)
            try:
                sqlite.migrate(connection)  # idempotent; usually already done at start-up
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return work(self._connection)

    async def close(self) -> None:
        """Close the connection on its own thread, then stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)


def migrate_own(connection: sqlite3.Connection, table: str, migrations: Sequence[str]) -> int:
    """Apply a store's pending migrations, versioned in its own bookkeeping `table` (so stores
    evolve apart from the shared migration list), inside the caller's transaction (`immediate`).
    Returns the schema version now in force."""
    connection.execute(
        f"CREATE TABLE IF NOT EXISTS {table} "
        "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    current = connection.execute(f"SELECT coalesce(max(version), 0) FROM {table}").fetchone()[0]  # noqa: S608 (constant names)
    for number, statement in enumerate(migrations[current:], start=current + 1):
        connection.execute(statement)
        connection.execute(f"INSERT INTO {table} VALUES (?, ?)", (number, time.time()))  # noqa: S608
    return len(migrations)
