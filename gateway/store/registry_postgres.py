"""The registry of MCP servers and A2A agents in PostgreSQL (shared mode), over an asyncpg pool.

Documents are JSON text, as the policy store keeps them (the same bytes in both backends). The
schema is versioned in its own table (`smartflow_registry_migrations`) and migrated under its own
advisory lock; a write and its generation bump are one transaction (row locks serialise bumps).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from gateway.store import postgres
from gateway.store.postgres import Connection
from gateway.store.registry_base import Document, Documents, Kind

MIGRATION_LOCK_ID = 0x5346_5245_474D  # pg_advisory_xact_lock id: "SFREGM", ASCII

MIGRATIONS: Sequence[str] = (
    # 1: one row per registration; the document is the JSON of a toolspecs spec
    """
    CREATE TABLE smartflow_registry_entries (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    )
    """,
    # 2: bumped by every write, so replicas know when to reload
    """
    CREATE TABLE smartflow_registry_generation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation BIGINT NOT NULL
    )
    """,
)
_BUMP = (
    "INSERT INTO smartflow_registry_generation (id, generation) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET generation = smartflow_registry_generation.generation + 1"
)


async def migrate(connection: Connection) -> int:
    """Apply pending migrations; returns the schema version now in force."""
    return await postgres.migrate(
        connection,
        table="smartflow_registry_migrations",
        lock_id=MIGRATION_LOCK_ID,
        migrations=MIGRATIONS,
    )


def _document(text: Any) -> Document:
    return dict(orjson.loads(text))


class PostgresRegistryStore:
    """`RegistryStore` over the smartflow_registry_* tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 2
    ) -> PostgresRegistryStore:
        return cls(await postgres.open_pool(dsn, migrate, min_size=min_size, max_size=max_size))

    async def list(self, kind: Kind) -> Documents:
        records = await self._pool.fetch(
            "SELECT document FROM smartflow_registry_entries WHERE kind = $1 "
            'ORDER BY name COLLATE "C"',
            kind,
        )
        return [_document(record[0]) for record in records]

    async def get(self, kind: Kind, name: str) -> Document | None:
        text = await self._pool.fetchval(
            "SELECT document FROM smartflow_registry_entries WHERE kind = $1 AND name = $2",
            kind,
            name,
        )
        return None if text is None else _document(text)

    async def put(self, kind: Kind, name: str, doc: Document) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            created = await connection.fetchval(
                "INSERT INTO smartflow_registry_entries (kind, name, updated_at, document) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (kind, name) DO UPDATE SET "
                "updated_at = excluded.updated_at, document = excluded.document "
                "RETURNING (xmax = 0)",
                kind,
                name,
                time.time(),
                orjson.dumps(doc).decode(),
            )
            await connection.execute(_BUMP)
        return bool(created)

    async def delete(self, kind: Kind, name: str) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            status = await connection.execute(
                "DELETE FROM smartflow_registry_entries WHERE kind = $1 AND name = $2", kind, name
            )
            deleted = status != "DELETE 0"
            if deleted:
                await connection.execute(_BUMP)
        return deleted

    async def generation(self) -> int:
        value = await self._pool.fetchval(
            "SELECT generation FROM smartflow_registry_generation WHERE id = 1"
        )
        return 0 if value is None else int(value)

    async def close(self) -> None:
        await self._pool.close()
