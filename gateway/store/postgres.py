"""Opening and migrating the PostgreSQL (shared mode) stores, one way for all of them.

Each store keeps its own tables, version table and advisory-lock id, so stores can be added or
upgraded independently; what they share is how a pool is opened and a schema brought up to date
without two replicas racing on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection = asyncpg.Connection | PoolConnectionProxy


async def open_pool(
    dsn: str, prepare: Callable[[Connection], Awaitable[object]], *, min_size: int, max_size: int
) -> asyncpg.Pool:
    """A pool on which `prepare` (the schema step) has run once; if it fails the pool is closed,
    so a store that cannot start leaves no connections behind."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
    try:
        async with pool.acquire() as connection:
            await prepare(connection)
    except BaseException:
        await pool.close()
        raise
    return pool


async def migrate(
    connection: Connection, *, table: str, lock_id: int, migrations: Sequence[str]
) -> int:
    """Apply the pending `migrations`, recording each in `table`; returns the schema version now
    in force. The transaction-scoped advisory lock `lock_id` makes replicas starting together
    migrate once."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = await connection.fetchval(
            f"SELECT coalesce(max(version), 0) FROM {table}"  # noqa: S608 (a store's constant)
        )
        for number, statement in enumerate(migrations[current:], start=current + 1):
            await connection.execute(statement)
            await connection.execute(
                f"INSERT INTO {table} (version) VALUES ($1)",  # noqa: S608 (a store's constant)
                number,
            )
    return len(migrations)


async def run_locked(connection: Connection, lock_id: int, statements: Sequence[str]) -> None:
    """Run idempotent `statements` in one transaction under the advisory lock `lock_id`, so
    replicas starting together do not race on the catalogue."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
        for statement in statements:
            await connection.execute(statement)
