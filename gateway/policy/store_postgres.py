"""Policies and guardrail settings in PostgreSQL (shared mode), over an asyncpg pool.

Documents are JSON text (not JSONB: JSONB refuses U+0000, which a policy's message may hold, and
both backends must keep the same documents). A write takes a transaction-scoped advisory lock,
so writers from every replica are serialised while each reads the latest version and appends
the next; writes are rare, reads take no lock. The schema is versioned in its own table
(`smartflow_policy_migrations`) and migrated under its own advisory lock.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import asyncpg
import orjson

from gateway.policy.store import UNCHANGED, Kind, Maker, Row, VersionedStore, missing_version
from gateway.store import postgres
from gateway.store.postgres import Connection

# pg_advisory_xact_lock ids: "SFPOLM" (migrations) and "SFPOLW" (writes), ASCII
MIGRATION_LOCK_ID = 0x5346_504F_4C4D
WRITE_LOCK_ID = 0x5346_504F_4C57

MIGRATIONS: Sequence[str] = (
    # 1: every version of every document (kind 'policy' or 'guardrails')
    """
    CREATE TABLE smartflow_policy_documents (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        note TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (kind, name, version)
    )
    """,
    # 2: the active version of each name
    """
    CREATE TABLE smartflow_policy_heads (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    )
    """,
    # 3: bumped by every write, so replicas know when to reload
    """
    CREATE TABLE smartflow_policy_revision (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revision BIGINT NOT NULL
    )
    """,
)

_SELECT = (
    "SELECT d.name, d.version, d.created_at, d.note, d.document, "
    "coalesce(h.version = d.version, false) AS active "
    "FROM smartflow_policy_documents d LEFT JOIN smartflow_policy_heads h "
    "ON h.kind = d.kind AND h.name = d.name "
)
_BUMP = (
    "INSERT INTO smartflow_policy_revision (id, revision) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET revision = smartflow_policy_revision.revision + 1"
)


async def migrate(connection: Connection) -> int:
    """Apply pending migrations; returns the schema version now in force."""
    return await postgres.migrate(
        connection,
        table="smartflow_policy_migrations",
        lock_id=MIGRATION_LOCK_ID,
        migrations=MIGRATIONS,
    )


def _row(record: asyncpg.Record) -> Row:
    return Row(
        record[0],
        record[1],
        record[2],
        record[3],
        orjson.loads(record[4]),
        bool(record[5]),
    )


class PostgresPolicyStore(VersionedStore):
    """`PolicyStore` over the smartflow_policy_* tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 2
    ) -> PostgresPolicyStore:
        return cls(await postgres.open_pool(dsn, migrate, min_size=min_size, max_size=max_size))

    async def _append(
        self, kind: Kind, name: str, make: Maker, source_version: int | None = None
    ) -> Row:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_ID)
            latest = await connection.fetchval(
                "SELECT coalesce(max(version), 0) FROM smartflow_policy_documents "
                "WHERE kind = $1 AND name = $2",
                kind,
                name,
            )
            found = await connection.fetchrow(
                _SELECT + "WHERE d.kind = $1 AND d.name = $2 AND d.version = h.version", kind, name
            )
            head = None if found is None else _row(found)
            source = None
            if source_version is not None:
                copied = await connection.fetchval(
                    "SELECT document FROM smartflow_policy_documents "
                    "WHERE kind = $1 AND name = $2 AND version = $3",
                    kind,
                    name,
                    source_version,
                )
                if copied is None:
                    raise missing_version(name, source_version)
                source = orjson.loads(copied)
            made = make(latest, head, source)
            if made is None:
                assert head is not None
                return dataclasses.replace(head, note=UNCHANGED)
            document, note = made
            version = latest + 1
            created_at = time.time()
            await connection.execute(
                "INSERT INTO smartflow_policy_documents "
                "(kind, name, version, created_at, note, document) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                kind,
                name,
                version,
                created_at,
                note,
                orjson.dumps(document).decode(),
            )
            await connection.execute(
                "INSERT INTO smartflow_policy_heads (kind, name, version) VALUES ($1, $2, $3) "
                "ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version",
                kind,
                name,
                version,
            )
            await connection.execute(_BUMP)
        return Row(name, version, created_at, note, document, True)

    async def _heads(self, kind: Kind) -> list[Row]:
        records = await self._pool.fetch(
            "SELECT d.name, d.version, d.created_at, d.note, d.document, true "
            "FROM smartflow_policy_heads h JOIN smartflow_policy_documents d "
            "ON d.kind = h.kind AND d.name = h.name AND d.version = h.version "
            'WHERE h.kind = $1 ORDER BY h.name COLLATE "C"',
            kind,
        )
        return [_row(record) for record in records]

    async def _row(self, kind: Kind, name: str, version: int | None) -> Row | None:
        if version is None:
            record = await self._pool.fetchrow(
                _SELECT + "WHERE d.kind = $1 AND d.name = $2 AND d.version = h.version", kind, name
            )
        else:
            record = await self._pool.fetchrow(
                _SELECT + "WHERE d.kind = $1 AND d.name = $2 AND d.version = $3",
                kind,
                name,
                version,
            )
        return None if record is None else _row(record)

    async def _rows(self, kind: Kind, name: str) -> list[Row]:
        records = await self._pool.fetch(
            _SELECT + "WHERE d.kind = $1 AND d.name = $2 ORDER BY d.version", kind, name
        )
        return [_row(record) for record in records]

    async def _drop_head(self, kind: Kind, name: str) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_ID)
            status = await connection.execute(
                "DELETE FROM smartflow_policy_heads WHERE kind = $1 AND name = $2", kind, name
            )
            dropped = status != "DELETE 0"
            if dropped:
                await connection.execute(_BUMP)
        return dropped

    async def revision(self) -> int:
        value = await self._pool.fetchval(
            "SELECT revision FROM smartflow_policy_revision WHERE id = 1"
        )
        return 0 if value is None else int(value)

    async def close(self) -> None:
        await self._pool.close()
