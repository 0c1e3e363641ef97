"""The registry store against real SQLite and a real PostgreSQL database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.settings import load_settings
from gateway.store import registry_postgres, registry_sqlite
from gateway.store.registry_base import RegistryStore, open_registry_store
from gateway.store.registry_postgres import PostgresRegistryStore
from gateway.store.registry_sqlite import SqliteRegistryStore

from support.pg import fetch, fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RegistryStore]:
    if request.param == "sqlite":
        opened: RegistryStore = await SqliteRegistryStore.open(tmp_path)
        try:
            yield opened
        finally:
            await opened.close()
        return
    async with fresh_database("smartflow_registry") as dsn:
        opened = await PostgresRegistryStore.connect(dsn)
        try:
            yield opened
        finally:
            await opened.close()


def _server(name: str, url: str = "http://127.0.0.1:9/mcp") -> dict[str, object]:
    return {"name": name, "url": url, "description": "Zürich \u2603"}


async def test_put_get_list_delete(store: RegistryStore) -> None:
    assert await store.generation() == 0
    assert await store.list("mcp") == []
    assert await store.put("mcp", "b", _server("b")) is True
    assert await store.put("mcp", "a", _server("a")) is True
    assert await store.put("a2a", "a", {"name": "a", "url": "http://x"}) is True
    assert [doc["name"] for doc in await store.list("mcp")] == ["a", "b"]
    assert await store.get("mcp", "a") == _server("a")
    assert await store.get("a2a", "b") is None
    assert await store.put("mcp", "a", _server("a", "http://other/mcp")) is False
    assert (await store.get("mcp", "a")) == _server("a", "http://other/mcp")
    assert await store.delete("mcp", "a") is True
    assert await store.delete("mcp", "a") is False
    assert await store.get("mcp", "a") is None
    assert [doc["name"] for doc in await store.list("a2a")] == ["a"]


async def test_every_write_bumps_the_generation(store: RegistryStore) -> None:
    seen = [await store.generation()]
    await store.put("mcp", "a", _server("a"))
    seen.append(await store.generation())
    await store.put("mcp", "a", _server("a"))  # a replace is a write too
    seen.append(await store.generation())
    await store.delete("mcp", "a")
    seen.append(await store.generation())
    assert seen == sorted(set(seen)) and len(seen) == 4
    before = await store.generation()
    assert await store.delete("mcp", "missing") is False
    assert await store.generation() == before  # nothing changed


async def test_concurrent_creates_report_one_creation(store: RegistryStore) -> None:
    results = await asyncio.gather(*(store.put("mcp", "x", _server("x")) for _ in range(8)))
    assert results.count(True) == 1
    assert len(await store.list("mcp")) == 1


async def test_sqlite_reopens_without_migrating_again(tmp_path: Path) -> None:
    first = await SqliteRegistryStore.open(tmp_path)
    await first.put("mcp", "a", _server("a"))
    await first.close()
    second = await SqliteRegistryStore.open(tmp_path)
    try:
        assert [doc["name"] for doc in await second.list("mcp")] == ["a"]
        assert await second.generation() == 1
    finally:
        await second.close()
    assert len(registry_sqlite.MIGRATIONS) == 2


async def test_postgres_replicas_share_entries_and_migrate_once() -> None:
    async with fresh_database("smartflow_registry") as dsn:
        one, two = await asyncio.gather(
            PostgresRegistryStore.connect(dsn), PostgresRegistryStore.connect(dsn)
        )
        try:
            await one.put("mcp", "shared", _server("shared"))
            assert await two.get("mcp", "shared") == _server("shared")
            assert await two.generation() == await one.generation() == 1
        finally:
            await one.close()
            await two.close()
        rows = await fetch(dsn, "SELECT version FROM smartflow_registry_migrations")
        assert sorted(row[0] for row in rows) == list(
            range(1, len(registry_postgres.MIGRATIONS) + 1)
        )


async def test_the_opener_follows_the_settings(tmp_path: Path) -> None:
    settings = load_settings({"SMARTFLOW_DATA_DIR": str(tmp_path)})
    async with open_registry_store(settings) as store:
        assert isinstance(store, SqliteRegistryStore)
        await store.put("a2a", "agent", {"name": "agent"})
    assert (tmp_path / "smartflow.db").exists()
    async with fresh_database("smartflow_registry") as dsn:
        settings = load_settings({"SMARTFLOW_DATA_DIR": str(tmp_path), "DATABASE_URL": dsn})
        async with open_registry_store(settings) as store:
            assert isinstance(store, PostgresRegistryStore)
            assert await store.list("a2a") == []
