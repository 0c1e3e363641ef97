"""PostgreSQL specifics: migrations under concurrent starts, the storage mode, text it cannot hold."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import pytest
from audit_records import PG_SERVER, make_record, make_records, pg_execute, pg_fetch

from gateway.core.audit import AuditQuery
from gateway.store.audit_postgres import MIGRATIONS, PostgresAuditStore


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """An empty database: no migration table yet."""
    name = f"smartflow_audit_mig_{secrets.token_hex(6)}"
    await pg_execute(f"{PG_SERVER}/postgres", f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        await pg_execute(f"{PG_SERVER}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_replicas_starting_together_migrate_once(
    fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartflow.audit.postgres")
    stores = await asyncio.gather(
        *(PostgresAuditStore.connect(fresh_database, max_size=2) for _ in range(8))
    )
    try:
        applied = await pg_fetch(
            fresh_database,
            "SELECT component, version, name FROM smartflow_schema_migrations ORDER BY version",
        )
        assert [(r["component"], r["version"], r["name"]) for r in applied] == [
            ("audit", number, name) for number, (name, _) in enumerate(MIGRATIONS, start=1)
        ]
        applied_logs = [r for r in caplog.records if r.getMessage() == "audit migration applied"]
        assert len(applied_logs) == len(MIGRATIONS)
        # TimescaleDB is not installable here: every replica says it took the plain-table path
        assert {store.storage_mode for store in stores} == {"plain"}
        plain = [r for r in caplog.records if "plain PostgreSQL table" in r.getMessage()]
        assert len(plain) == 8
        # all of them write to the one table
        await asyncio.gather(
            *(store.write_batch(make_records(20, start=i * 20)) for i, store in enumerate(stores))
        )
        page = await stores[0].query(AuditQuery(), None, 1000)
        assert len(page.records) == 160
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_restart_applies_nothing_again(fresh_database: str) -> None:
    first = await PostgresAuditStore.connect(fresh_database)
    await first.write_batch(make_records(5))
    await first.close()
    before = await pg_fetch(
        fresh_database, "SELECT version, applied_at FROM smartflow_schema_migrations"
    )
    second = await PostgresAuditStore.connect(fresh_database)
    try:
        after = await pg_fetch(
            fresh_database, "SELECT version, applied_at FROM smartflow_schema_migrations"
        )
        assert after == before
        assert len((await second.query(AuditQuery(), None, 100)).records) == 5
    finally:
        await second.close()


async def test_table_shape(pg_store: PostgresAuditStore, pg_database: str) -> None:
    columns = await pg_fetch(
        pg_database,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'audit_log'",
    )
    assert {r["column_name"]: r["data_type"] for r in columns}["ts"] == "timestamp with time zone"
    indexes = await pg_fetch(
        pg_database, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_log'"
    )
    definitions = {r["indexname"]: r["indexdef"] for r in indexes}
    assert (
        "UNIQUE" in definitions["audit_log_request"]
        and "(request_id, ts)" in definitions["audit_log_request"]
    )
    assert "(key_id, ts)" in definitions["audit_log_key_ts"]
    assert "(ts, request_id)" in definitions["audit_log_ts"]


async def test_text_postgres_cannot_hold_is_kept_readable(pg_store: PostgresAuditStore) -> None:
    record = make_record(1, prompt="before\x00after", model_requested="gpt\x00-4o")
    await pg_store.write_batch([record])
    page = await pg_store.query(AuditQuery(model="gpt\x00-4o"), None, 10)
    assert [r.prompt for r in page.records] == ["before\ufffdafter"]
    assert page.records[0].model_requested == "gpt\ufffd-4o"
    assert await pg_store.spent_since("key\x00", 0) == 0.0
