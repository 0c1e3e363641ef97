"""The registry of MCP servers and A2A agents in the embedded SQLite store (smartflow.db).

One thread owns the connection (gateway.store.sqlite_thread). The tables are versioned in their
own bookkeeping table (`registry_migrations`), applied in one IMMEDIATE transaction when the
store opens, so `--workers` processes starting together migrate once and the registry evolves
without touching the shared migration list. A write and its generation bump are one transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from gateway.store import sqlite
from gateway.store.registry_base import Document, Documents, Kind
from gateway.store.sqlite_thread import SqliteThread, immediate, migrate_own

MIGRATIONS: Sequence[str] = (
    # 1: one row per registration; the document is the JSON of a toolspecs spec
    """
    CREATE TABLE registry_entries (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        updated_at REAL NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    )
    """,
    # 2: bumped by every write, so replicas and workers know when to reload
    """
    CREATE TABLE registry_generation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    )
    """,
)
_BUMP = (
    "INSERT INTO registry_generation (id, generation) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET generation = generation + 1"
)


def migrate(connection: sqlite3.Connection) -> int:
    """Apply pending registry migrations (inside the caller's transaction)."""
    return migrate_own(connection, "registry_migrations", MIGRATIONS)


class SqliteRegistryStore:
    """`RegistryStore` over the registry tables of smartflow.db."""

    def __init__(self, path: Path) -> None:
        self._thread = SqliteThread(
            path, "smartflow-registry", closed_message="the registry store is closed"
        )

    @classmethod
    async def open(cls, data_dir: Path) -> SqliteRegistryStore:
        store = cls(data_dir / sqlite.DB_NAME)
        try:
            await store._thread.run(lambda c: immediate(c, migrate))
        except BaseException:
            await store.close()
            raise
        return store

    async def list(self, kind: Kind) -> Documents:
        def read(connection: sqlite3.Connection) -> Documents:
            rows = connection.execute(
                "SELECT document FROM registry_entries WHERE kind = ? ORDER BY name", (kind,)
            ).fetchall()
            return [orjson.loads(row[0]) for row in rows]

        return await self._thread.run(read)

    async def get(self, kind: Kind, name: str) -> Document | None:
        def read(connection: sqlite3.Connection) -> Document | None:
            row = connection.execute(
                "SELECT document FROM registry_entries WHERE kind = ? AND name = ?", (kind, name)
            ).fetchone()
            return None if row is None else dict(orjson.loads(row[0]))

        return await self._thread.run(read)

    async def put(self, kind: Kind, name: str, doc: Document) -> bool:
        text = orjson.dumps(doc).decode()

        def write(connection: sqlite3.Connection) -> bool:
            existed = connection.execute(
                "SELECT 1 FROM registry_entries WHERE kind = ? AND name = ?", (kind, name)
            ).fetchone()
            connection.execute(
                "INSERT INTO registry_entries (kind, name, updated_at, document) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET "
                "updated_at = excluded.updated_at, document = excluded.document",
                (kind, name, time.time(), text),
            )
            connection.execute(_BUMP)
            return existed is None

        return await self._thread.transaction(write)

    async def delete(self, kind: Kind, name: str) -> bool:
        def write(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM registry_entries WHERE kind = ? AND name = ?", (kind, name)
            )
            if cursor.rowcount:
                connection.execute(_BUMP)
            return cursor.rowcount > 0

        return await self._thread.transaction(write)

    async def generation(self) -> int:
        def read(connection: sqlite3.Connection) -> int:
            row = connection.execute(
                "SELECT generation FROM registry_generation WHERE id = 1"
            ).fetchone()
            return 0 if row is None else int(row[0])

        return await self._thread.run(read)

    async def close(self) -> None:
        await self._thread.close()
