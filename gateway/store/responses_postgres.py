"""Stored Responses API conversations in PostgreSQL (shared mode), over an asyncpg pool.

Documents are orjson text, as the other stores keep them (the same bytes in both backends, and
key order preserved, which jsonb would not do). The schema is versioned in its own table
(`smartflow_responses_migrations`) and migrated in one transaction under its own advisory lock,
so replicas starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import orjson

from gateway.store import postgres
from gateway.store.postgres import Connection
from gateway.store.responses_base import (
    MAX_CHAIN,
    StoredResponse,
    check_storable,
    cut_cycle,
    usable_key,
)

MIGRATION_LOCK_ID = 0x5346_5245_5350  # pg_advisory_xact_lock id: "SFRESP", ASCII

MIGRATIONS: Sequence[str] = (
    # 1: one row per stored response; the key includes the owner so one key's put can never
    # replace another key's response, and the chain walk joins on (owner, previous_id)
    """
    CREATE TABLE smartflow_responses (
        owner TEXT NOT NULL,
        id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        previous_id TEXT,
        input_items TEXT NOT NULL,
        response TEXT NOT NULL,
        PRIMARY KEY (owner, id)
    )
    """,
    # 2: purge deletes by age across owners
    "CREATE INDEX smartflow_responses_created ON smartflow_responses (created_at)",
)

_COLUMNS = "r.id, r.owner, r.created_at, r.previous_id, r.input_items, r.response"

# One query for the whole chain: the recursion carries only ids (cheap), then the documents are
# joined once. Newest first (depth 0 is the requested response); MAX_CHAIN rows at most.
_CHAIN = f"""
WITH RECURSIVE chain (depth, id, previous_id) AS (
    SELECT 0, id, previous_id FROM smartflow_responses WHERE owner = $1 AND id = $2
    UNION ALL
    SELECT chain.depth + 1, r.id, r.previous_id
    FROM chain JOIN smartflow_responses AS r ON r.owner = $1 AND r.id = chain.previous_id
    WHERE chain.depth + 1 < $3
)
SELECT {_COLUMNS}
FROM chain JOIN smartflow_responses AS r ON r.owner = $1 AND r.id = chain.id
ORDER BY chain.depth
"""  # noqa: S608 (constants only)


async def migrate(connection: Connection) -> int:
    """Apply pending migrations; returns the schema version now in force."""
    return await postgres.migrate(
        connection,
        table="smartflow_responses_migrations",
        lock_id=MIGRATION_LOCK_ID,
        migrations=MIGRATIONS,
    )


def _stored(record: asyncpg.Record) -> StoredResponse:
    return StoredResponse(
        id=record[0],
        owner=record[1],
        created_at=float(record[2]),
        previous_id=record[3],
        input_items=list(orjson.loads(record[4])),
        response=dict(orjson.loads(record[5])),
    )


def _count(status: str) -> int:
    """The row count of a command status such as "DELETE 3"."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresResponseStore:
    """`ResponseStore` over the smartflow_responses table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 4
    ) -> PostgresResponseStore:
        return cls(await postgres.open_pool(dsn, migrate, min_size=min_size, max_size=max_size))

    async def put(self, stored: StoredResponse) -> None:
        check_storable(stored)
        await self._pool.execute(
            "INSERT INTO smartflow_responses "
            "(owner, id, created_at, previous_id, input_items, response) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner, id) DO UPDATE SET "
            "created_at = excluded.created_at, previous_id = excluded.previous_id, "
            "input_items = excluded.input_items, response = excluded.response",
            stored.owner,
            stored.id,
            stored.created_at,
            stored.previous_id,
            orjson.dumps(stored.input_items).decode(),
            orjson.dumps(stored.response).decode(),
        )

    async def get(self, owner: str, response_id: str) -> StoredResponse | None:
        if not (usable_key(owner) and usable_key(response_id)):
            return None
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM smartflow_responses AS r "  # noqa: S608 (constants only)
            "WHERE r.owner = $1 AND r.id = $2",
            owner,
            response_id,
        )
        return None if record is None else _stored(record)

    async def conversation(self, owner: str, response_id: str) -> list[StoredResponse] | None:
        if not (usable_key(owner) and usable_key(response_id)):
            return None
        records = await self._pool.fetch(_CHAIN, owner, response_id, MAX_CHAIN)
        return cut_cycle(_stored(record) for record in records) if records else None

    async def delete(self, owner: str, response_id: str) -> bool:
        if not (usable_key(owner) and usable_key(response_id)):
            return False
        status = await self._pool.execute(
            "DELETE FROM smartflow_responses WHERE owner = $1 AND id = $2", owner, response_id
        )
        return _count(status) > 0

    async def purge(self, before: float) -> int:
        status = await self._pool.execute(
            "DELETE FROM smartflow_responses WHERE created_at < $1", before
        )
        return _count(status)

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()
