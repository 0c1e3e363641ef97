"""Fixtures of the audit-log tests: a PostgreSQL database of their own and stores of both kinds."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from audit_records import PG_SERVER, pg_execute

from gateway.store.audit_postgres import PostgresAuditStore
from gateway.store.audit_sqlite import SqliteAuditStore


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end; yields its DSN."""
    name = f"smartflow_audit_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_store(pg_database: str) -> AsyncIterator[PostgresAuditStore]:
    store = await PostgresAuditStore.connect(pg_database)
    await pg_execute(pg_database, "TRUNCATE audit_log")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteAuditStore]:
    store = await SqliteAuditStore.open(tmp_path / "smartflow.db")
    try:
        yield store
    finally:
        await store.close()
