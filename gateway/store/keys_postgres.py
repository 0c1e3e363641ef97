"""Virtual keys in PostgreSQL (shared mode), over an asyncpg pool.

The record is kept as JSON text beside the columns that are looked up (id, key_hash), so adding
a field to VirtualKey needs no migration. Text rather than JSONB: JSONB refuses the character
U+0000, which SQLite and the API accept in a name or metadata value, and both backends must store
exactly the same records. The schema is versioned in its own table,
`smartflow_keys_migrations`, and migrated under a transaction-scoped advisory lock, so replicas
starting together migrate once; the audit log keeps its own table and lock id.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from gateway.core.keys import VirtualKey
from gateway.store import postgres
from gateway.store.keys_sqlite import Change, KeyConflict, UnknownKey, decode, encode
from gateway.store.postgres import Connection

# pg_advisory_xact_lock id: "SFKEYS" in ASCII; distinct from every other Smartflow migrator.
MIGRATION_LOCK_ID = 0x5346_4B45_5953

MIGRATIONS: Sequence[str] = (
    # 1
    """
    CREATE TABLE smartflow_virtual_keys (
        id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        record TEXT NOT NULL
    )
    """,
    # 2: listing pages through keys in creation order
    "CREATE INDEX smartflow_virtual_keys_created ON smartflow_virtual_keys (created_at, id)",
)


async def migrate(connection: Connection) -> int:
    """Apply pending migrations; returns the schema version now in force."""
    return await postgres.migrate(
        connection,
        table="smartflow_keys_migrations",
        lock_id=MIGRATION_LOCK_ID,
        migrations=MIGRATIONS,
    )


async def _write(connection: asyncpg.Pool | PoolConnectionProxy, key: VirtualKey) -> None:
    try:
        status = await connection.execute(
            "UPDATE smartflow_virtual_keys SET key_hash = $1, updated_at = $2, record = $3 "
            "WHERE id = $4",
            key.key_hash,
            key.updated_at,
            encode(key),
            key.id,
        )
    except asyncpg.UniqueViolationError:
        raise KeyConflict(f"another key has the secret hash of {key.id}") from None
    if status == "UPDATE 0":
        raise UnknownKey(key.id)


class PostgresKeyRepository:
    """`KeyRepository` over the `smartflow_virtual_keys` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 4
    ) -> PostgresKeyRepository:
        return cls(await postgres.open_pool(dsn, migrate, min_size=min_size, max_size=max_size))

    async def insert(self, key: VirtualKey) -> None:
        try:
            await self._pool.execute(
                "INSERT INTO smartflow_virtual_keys (id, key_hash, created_at, updated_at, record) "
                "VALUES ($1, $2, $3, $4, $5)",
                key.id,
                key.key_hash,
                key.created_at,
                key.updated_at,
                encode(key),
            )
        except asyncpg.UniqueViolationError:
            raise KeyConflict(f"a key with id {key.id} or the same secret exists") from None

    async def replace(self, key: VirtualKey) -> None:
        await _write(self._pool, key)

    async def modify(self, key_id: str, change: Change) -> tuple[VirtualKey, VirtualKey] | None:
        """Read, change and write one key atomically (the row is locked FOR UPDATE until the
        write commits). Returns (before, after); None if there is no such key. Returning the
        argument unchanged writes nothing."""
        if "\x00" in key_id:
            return None
        async with self._pool.acquire() as connection, connection.transaction():
            record = await connection.fetchval(
                "SELECT record FROM smartflow_virtual_keys WHERE id = $1 FOR UPDATE", key_id
            )
            if record is None:
                return None
            before = decode(record)
            after = change(before)
            if after is not before:
                await _write(connection, after)
            return before, after

    async def get(self, key_id: str) -> VirtualKey | None:
        return await self._one("SELECT record FROM smartflow_virtual_keys WHERE id = $1", key_id)

    async def get_by_hash(self, key_hash: str) -> VirtualKey | None:
        return await self._one(
            "SELECT record FROM smartflow_virtual_keys WHERE key_hash = $1", key_hash
        )

    async def _one(self, query: str, value: str) -> VirtualKey | None:
        if "\x00" in value:  # PostgreSQL text cannot hold it, so no key can match
            return None
        record = await self._pool.fetchval(query, value)
        return None if record is None else decode(record)

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[VirtualKey]:
        rows = await self._pool.fetch(
            "SELECT record FROM smartflow_virtual_keys ORDER BY created_at, id LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        return [decode(row[0]) for row in rows]

    async def close(self) -> None:
        await self._pool.close()
