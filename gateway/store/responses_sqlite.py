"""Stored Responses API conversations in the embedded SQLite store (smartflow.db).

One thread owns the connection (gateway.store.sqlite_thread). The table is versioned in its own
bookkeeping table (`responses_migrations`), applied in one IMMEDIATE transaction when the store
opens, so `--workers` processes starting together migrate once and this store evolves without
touching the shared migration list. Documents are orjson text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from gateway.store import sqlite
from gateway.store.responses_base import (
    MAX_CHAIN,
    StoredResponse,
    check_storable,
    cut_cycle,
    usable_key,
)
from gateway.store.sqlite_thread import SqliteThread, immediate, migrate_own

MIGRATIONS: Sequence[str] = (
    # 1: one row per stored response; the key includes the owner so one key's put can never
    # replace another key's response, and the chain walk joins on (owner, previous_id)
    """
    CREATE TABLE responses (
        owner TEXT NOT NULL,
        id TEXT NOT NULL,
        created_at REAL NOT NULL,
        previous_id TEXT,
        input_items TEXT NOT NULL,
        response TEXT NOT NULL,
        PRIMARY KEY (owner, id)
    )
    """,
    # 2: purge deletes by age across owners
    "CREATE INDEX responses_created ON responses (created_at)",
)

_COLUMNS = "r.id, r.owner, r.created_at, r.previous_id, r.input_items, r.response"

# One query for the whole chain: the recursion carries only ids (cheap), then the documents are
# joined once. Newest first (depth 0 is the requested response); MAX_CHAIN rows at most.
_CHAIN = f"""
WITH RECURSIVE chain (depth, id, previous_id) AS (
    SELECT 0, id, previous_id FROM responses WHERE owner = :owner AND id = :id
    UNION ALL
    SELECT chain.depth + 1, r.id, r.previous_id
    FROM chain JOIN responses AS r ON r.owner = :owner AND r.id = chain.previous_id
    WHERE chain.depth + 1 < :cap
)
SELECT {_COLUMNS}
FROM chain JOIN responses AS r ON r.owner = :owner AND r.id = chain.id
ORDER BY chain.depth
"""  # noqa: S608 (constants only)


def migrate(connection: sqlite3.Connection) -> int:
    """Apply pending migrations of this store (inside the caller's transaction)."""
    return migrate_own(connection, "responses_migrations", MIGRATIONS)


def _stored(row: Sequence[Any]) -> StoredResponse:
    return StoredResponse(
        id=row[0],
        owner=row[1],
        created_at=float(row[2]),
        previous_id=row[3],
        input_items=list(orjson.loads(row[4])),
        response=dict(orjson.loads(row[5])),
    )


class SqliteResponseStore:
    """`ResponseStore` over the responses table of smartflow.db."""

    def __init__(self, path: Path) -> None:
        self._thread = SqliteThread(
            path, "smartflow-responses", closed_message="the response store is closed"
        )

    @classmethod
    async def open(cls, data_dir: Path) -> SqliteResponseStore:
        store = cls(data_dir / sqlite.DB_NAME)
        try:
            await store._thread.run(lambda c: immediate(c, migrate))
        except BaseException:
            await store.close()
            raise
        return store

    async def put(self, stored: StoredResponse) -> None:
        check_storable(stored)
        values = (
            stored.owner,
            stored.id,
            stored.created_at,
            stored.previous_id,
            orjson.dumps(stored.input_items).decode(),
            orjson.dumps(stored.response).decode(),
        )

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT OR REPLACE INTO responses "
                "(owner, id, created_at, previous_id, input_items, response) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )

        await self._thread.run(write)

    async def get(self, owner: str, response_id: str) -> StoredResponse | None:
        if not (usable_key(owner) and usable_key(response_id)):
            return None

        def read(connection: sqlite3.Connection) -> StoredResponse | None:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM responses AS r WHERE r.owner = ? AND r.id = ?",  # noqa: S608
                (owner, response_id),
            ).fetchone()
            return None if row is None else _stored(row)

        return await self._thread.run(read)

    async def conversation(self, owner: str, response_id: str) -> list[StoredResponse] | None:
        if not (usable_key(owner) and usable_key(response_id)):
            return None

        def read(connection: sqlite3.Connection) -> list[Any]:
            parameters = {"owner": owner, "id": response_id, "cap": MAX_CHAIN}
            return connection.execute(_CHAIN, parameters).fetchall()

        rows = await self._thread.run(read)
        return cut_cycle(_stored(row) for row in rows) if rows else None

    async def delete(self, owner: str, response_id: str) -> bool:
        if not (usable_key(owner) and usable_key(response_id)):
            return False

        def write(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM responses WHERE owner = ? AND id = ?", (owner, response_id)
            )
            return cursor.rowcount > 0

        return await self._thread.run(write)

    async def purge(self, before: float) -> int:
        def write(connection: sqlite3.Connection) -> int:
            cursor = connection.execute("DELETE FROM responses WHERE created_at < ?", (before,))
            return cursor.rowcount

        return await self._thread.run(write)

    async def ping(self) -> None:
        await self._thread.run(lambda connection: connection.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._thread.close()
