"""Baseline stores against the real SQLite file and the real PostgreSQL server: the same
behaviour from both, values never stored, the revision bumped by every write."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.compliance.baseline import Feedback
from gateway.compliance.baseline_postgres import PostgresBaselineStore
from gateway.compliance.baseline_sqlite import SqliteBaselineStore
from gateway.compliance.baseline_store import BaselineCache, BaselineStore, open_baseline_store
from gateway.settings import load_settings
from gateway.store import sqlite

from support.pg import fetch, fresh_database

CARD = "4111 1111 1111 1111"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BaselineStore]:
    if request.param == "sqlite":
        sqlite_store = SqliteBaselineStore.in_data_dir(tmp_path)
        try:
            yield sqlite_store
        finally:
            await sqlite_store.close()
        return
    async with fresh_database("smartflow_baseline") as dsn:
        pg_store = await PostgresBaselineStore.connect(dsn)
        try:
            yield pg_store
        finally:
            await pg_store.close()


async def _false_positive(store: BaselineStore, org: str, value: str, confidence: float) -> None:
    baseline = await store.baseline(org)
    digest = baseline.digest("payment_card", value)
    await store.record(Feedback(org, "payment_card", "pii", confidence, digest, "false_positive"))


async def test_an_org_gets_one_random_salt_that_persists(store: BaselineStore) -> None:
    first = await store.baseline("acme")
    assert len(first.salt) == 32
    assert (await store.baseline("acme")).salt == first.salt
    assert (await store.baseline("globex")).salt != first.salt
    assert first.is_empty and dict(first.feedback_counts) == {
        "false_positive": 0,
        "true_positive": 0,
    }


async def test_feedback_builds_the_allow_list_and_thresholds(store: BaselineStore) -> None:
    await _false_positive(store, "acme", CARD, 0.6)
    after = await store.baseline("acme")
    assert after.digest("payment_card", "4111-1111-1111-1111") in after.allowed
    assert dict(after.thresholds) == {}
    await _false_positive(store, "acme", "5555 5555 5555 4444", 0.7)
    learned = await store.baseline("acme")
    assert len(learned.allowed) == 2
    assert learned.thresholds["payment_card"] == pytest.approx(0.71)
    digest = learned.digest("payment_card", CARD)
    confirmed = await store.record(
        Feedback("acme", "payment_card", "pii", 0.65, digest, "true_positive")
    )
    assert digest not in confirmed.allowed
    assert confirmed.thresholds == {}  # the confirmed 0.65 leaves one separable false positive
    assert dict(confirmed.feedback_counts) == {"false_positive": 2, "true_positive": 1}
    assert (await store.baseline("globex")).allowed == frozenset()


async def test_manual_thresholds_are_replaced_as_a_whole(store: BaselineStore) -> None:
    first = await store.set_thresholds("acme", {"pii": 0.4, "email": 0.9})
    assert dict(first.manual_thresholds) == {"pii": 0.4, "email": 0.9}
    second = await store.set_thresholds("acme", {"phone": 0.5})
    assert dict(second.thresholds) == {"phone": 0.5}
    assert dict((await store.baseline("acme")).thresholds) == {"phone": 0.5}
    cleared = await store.set_thresholds("acme", {})
    assert cleared.thresholds == {}


async def test_every_write_bumps_the_revision(store: BaselineStore) -> None:
    start = await store.revision()
    await store.baseline("acme")  # creating the salt changes no verdict
    assert await store.revision() == start
    await _false_positive(store, "acme", CARD, 0.9)
    assert await store.revision() == start + 1
    await store.set_thresholds("acme", {"pii": 0.5})
    assert await store.revision() == start + 2


async def test_concurrent_feedback_is_all_kept(store: BaselineStore) -> None:
    start = await store.revision()
    cards = [f"4111 1111 1111 {n:04d}" for n in range(20)]
    await asyncio.gather(*(_false_positive(store, "acme", card, 0.99) for card in cards))
    baseline = await store.baseline("acme")
    assert len(baseline.allowed) == 20
    assert baseline.feedback_counts["false_positive"] == 20
    assert await store.revision() == start + 20


async def test_the_cache_reloads_when_the_revision_moves(store: BaselineStore) -> None:
    now = [0.0]
    cache = BaselineCache(store, every_s=1.0, clock=lambda: now[0])
    before = await cache.get("acme")
    await store.set_thresholds("acme", {"pii": 0.5})
    assert await cache.get("acme") is before  # not re-checked within every_s
    now[0] = 1.0
    assert dict((await cache.get("acme")).thresholds) == {"pii": 0.5}
    await store.set_thresholds("acme", {})
    cache.forget()
    assert (await cache.get("acme")).thresholds == {}


async def test_sqlite_rows_hold_digests_never_values(tmp_path: Path) -> None:
    store = SqliteBaselineStore.in_data_dir(tmp_path)
    try:
        await _false_positive(store, "acme", CARD, 0.9)
    finally:
        await store.close()
    connection = sqlite.connect(tmp_path / sqlite.DB_NAME)
    try:
        dump = "\n".join(connection.iterdump())
    finally:
        connection.close()
    assert "compliance_feedback" in dump
    for spelling in (CARD, CARD.replace(" ", "")):
        assert spelling not in dump


async def test_postgres_rows_hold_digests_never_values() -> None:
    async with fresh_database("smartflow_baseline") as dsn:
        store = await PostgresBaselineStore.connect(dsn)
        try:
            await _false_positive(store, "acme", CARD, 0.9)
        finally:
            await store.close()
        rows = await fetch(dsn, "SELECT * FROM smartflow_compliance_feedback")
        assert len(rows) == 1
        text = repr([dict(row) for row in rows])
        assert CARD.replace(" ", "") not in text and CARD not in text
        again = await PostgresBaselineStore.connect(dsn)  # the schema step is idempotent
        try:
            assert len((await again.baseline("acme")).allowed) == 1
        finally:
            await again.close()


async def test_open_baseline_store_follows_the_settings(tmp_path: Path) -> None:
    embedded = load_settings({"SMARTFLOW_DATA_DIR": str(tmp_path)}, service_type="compliance")
    async with open_baseline_store(embedded) as store:
        assert isinstance(store, SqliteBaselineStore)
        await store.set_thresholds("acme", {"pii": 0.5})
    connection = sqlite3.connect(tmp_path / sqlite.DB_NAME)
    try:
        rows = connection.execute("SELECT org, name, value FROM compliance_thresholds").fetchall()
    finally:
        connection.close()
    assert rows == [("acme", "pii", 0.5)]
    async with fresh_database("smartflow_baseline") as dsn:
        shared = load_settings(
            {"SMARTFLOW_DATA_DIR": str(tmp_path), "DATABASE_URL": dsn}, service_type="compliance"
        )
        async with open_baseline_store(shared) as store:
            assert isinstance(store, PostgresBaselineStore)
            assert await store.revision() == 0


async def test_two_sqlite_stores_on_one_file_share_salt_and_revision(tmp_path: Path) -> None:
    """As two --workers processes would: one salt per org, every write seen by both."""
    first = SqliteBaselineStore.in_data_dir(tmp_path)
    second = SqliteBaselineStore.in_data_dir(tmp_path)
    try:
        salts = await asyncio.gather(first.baseline("acme"), second.baseline("acme"))
        assert salts[0].salt == salts[1].salt
        await asyncio.gather(
            _false_positive(first, "acme", CARD, 0.9),
            _false_positive(second, "acme", "5555 5555 5555 4444", 0.9),
        )
        assert await first.revision() == await second.revision() == 2
        assert len((await first.baseline("acme")).allowed) == 2
    finally:
        await first.close()
        await second.close()
