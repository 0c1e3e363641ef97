"""Virtual keys in the embedded SQLite store (smartflow.db).

Queries run on one dedicated thread that owns the connection, so the event loop never waits on
disk. Several `--workers` processes share the file: WAL mode lets readers run beside the one
writer, and every write is a single autocommitted statement, so there is no read-modify-write to
race on (updates replace the whole record by id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.core.keys import VirtualKey
from gateway.store import sqlite
from gateway.store.sqlite_thread import SqliteThread

Change = Callable[[VirtualKey], VirtualKey]


class KeyConflict(Exception):
    """A key with this id or secret hash already exists."""


class UnknownKey(LookupError):
    """`replace` named a key id that is not stored."""


def encode(key: VirtualKey) -> str:
    return key.model_dump_json()


def decode(record: str | bytes) -> VirtualKey:
    return VirtualKey.model_validate_json(record)


def _write(connection: sqlite3.Connection, key: VirtualKey) -> None:
    try:
        cursor = connection.execute(
            "UPDATE virtual_keys SET key_hash = ?, updated_at = ?, record = ? WHERE id = ?",
            (key.key_hash, key.updated_at, encode(key), key.id),
        )
    except sqlite3.IntegrityError:
        raise KeyConflict(f"another key has the secret hash of {key.id}") from None
    if cursor.rowcount == 0:
        raise UnknownKey(key.id)


class SqliteKeyRepository:
    """`KeyRepository` over the `virtual_keys` table (created by migration 2 of the store)."""

    def __init__(self, path: Path) -> None:
        self._thread = SqliteThread(path, "smartflow-keys")

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqliteKeyRepository:
        return cls(data_dir / sqlite.DB_NAME)

    async def insert(self, key: VirtualKey) -> None:
        def write(connection: sqlite3.Connection) -> None:
            try:
                connection.execute(
                    "INSERT INTO virtual_keys (id, key_hash, created_at, updated_at, record) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key.id, key.key_hash, key.created_at, key.updated_at, encode(key)),
                )
            except sqlite3.IntegrityError:
                raise KeyConflict(f"a key with id {key.id} or the same secret exists") from None

        await self._thread.run(write)

    async def replace(self, key: VirtualKey) -> None:
        await self._thread.run(lambda connection: _write(connection, key))

    async def modify(self, key_id: str, change: Change) -> tuple[VirtualKey, VirtualKey] | None:
        """Read, change and write one key atomically (an IMMEDIATE transaction holds SQLite's
        write lock across processes). Returns (before, after); None if there is no such key.
        `change` runs on the store's thread; returning its argument unchanged writes nothing."""

        def work(connection: sqlite3.Connection) -> tuple[VirtualKey, VirtualKey] | None:
            row = connection.execute(
                "SELECT record FROM virtual_keys WHERE id = ?", (key_id,)
            ).fetchone()
            if row is None:
                return None
            before = decode(row[0])
            after = change(before)
            if after is not before:
                _write(connection, after)
            return before, after

        return await self._thread.transaction(work)

    async def get(self, key_id: str) -> VirtualKey | None:
        return await self._one("SELECT record FROM virtual_keys WHERE id = ?", key_id)

    async def get_by_hash(self, key_hash: str) -> VirtualKey | None:
        return await self._one("SELECT record FROM virtual_keys WHERE key_hash = ?", key_hash)

    async def _one(self, query: str, value: str) -> VirtualKey | None:
        def read(connection: sqlite3.Connection) -> str | None:
            row = connection.execute(query, (value,)).fetchone()
            return None if row is None else str(row[0])

        record = await self._thread.run(read)
        return None if record is None else decode(record)

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[VirtualKey]:
        def read(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(
                "SELECT record FROM virtual_keys ORDER BY created_at, id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            return [str(row[0]) for row in rows]

        return [decode(record) for record in await self._thread.run(read)]

    async def close(self) -> None:
        await self._thread.close()
