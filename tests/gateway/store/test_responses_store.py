"""The Responses API conversation store against a real SQLite file and a real PostgreSQL
database of its own; both backends run the same suite."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import load_settings
from gateway.store import responses_postgres, responses_sqlite
from gateway.store.responses_base import ResponseStore, StoredResponse, open_response_store
from gateway.store.responses_postgres import PostgresResponseStore
from gateway.store.responses_sqlite import SqliteResponseStore

from support.pg import fetch, fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ResponseStore]:
    if request.param == "sqlite":
        opened: ResponseStore = await SqliteResponseStore.open(tmp_path)
        try:
            yield opened
        finally:
            await opened.close()
        return
    async with fresh_database("smartflow_responses") as dsn:
        opened = await PostgresResponseStore.connect(dsn)
        try:
            yield opened
        finally:
            await opened.close()


def _stored(
    response_id: str,
    *,
    owner: str = "key-a",
    created_at: float = 1_000.0,
    previous_id: str | None = None,
    text: str = "hello",
) -> StoredResponse:
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}],
    }
    items = [{"id": f"msg_{response_id}", "type": "message", "role": "user", "content": text}]
    return StoredResponse(response_id, owner, created_at, previous_id, items, response)


async def _chain(store: ResponseStore, ids: list[str], owner: str = "key-a") -> None:
    """Stores ids[0] <- ids[1] <- ... (each the previous of the next), oldest first."""
    previous: str | None = None
    for index, response_id in enumerate(ids):
        await store.put(
            _stored(response_id, owner=owner, created_at=1_000.0 + index, previous_id=previous)
        )
        previous = response_id


def _ids(chain: list[StoredResponse] | None) -> list[str] | None:
    return None if chain is None else [stored.id for stored in chain]


async def test_round_trip_keeps_unicode_and_nested_json(store: ResponseStore) -> None:
    response = {
        "id": "resp_1",
        "output": [{"content": [{"text": 'Zürich \u2603 \U0001f600 \\u0000 \x00 "quoted"'}]}],
        "usage": {"input_tokens": 3, "details": {"cached": None, "ratio": 0.25, "flags": [True]}},
        "metadata": {"ключ": "値"},
    }
    items: list[dict[str, Any]] = [
        {"id": "msg_1", "role": "user", "content": [{"type": "input_text", "text": "ça va ?"}]},
        {"id": "fc_1", "type": "function_call_output", "output": '{"a": [1, {"b": []}]}'},
    ]
    stored = StoredResponse("resp_1", "key-ä", 1_733_230_800.123456, "resp_0", items, response)
    await store.put(stored)
    assert await store.get("key-ä", "resp_1") == stored


async def test_put_replaces_the_owners_response(store: ResponseStore) -> None:
    await store.put(_stored("resp_1", text="first"))
    await store.put(_stored("resp_1", text="second", created_at=2_000.0))
    got = await store.get("key-a", "resp_1")
    assert got is not None
    assert got.created_at == 2_000.0
    assert got.input_items[0]["content"] == "second"


async def test_a_response_of_another_owner_is_not_found(store: ResponseStore) -> None:
    await _chain(store, ["resp_1", "resp_2"], owner="key-a")
    assert await store.get("key-b", "resp_2") is None
    assert await store.get("", "resp_2") is None  # not even the admin key
    assert await store.conversation("key-b", "resp_2") is None
    assert await store.delete("key-b", "resp_2") is False
    assert _ids(await store.conversation("key-a", "resp_2")) == ["resp_1", "resp_2"]
    # the same id under another owner is another row: neither replaces the other
    await store.put(_stored("resp_2", owner="key-b", text="b's own"))
    a_row, b_row = await store.get("key-a", "resp_2"), await store.get("key-b", "resp_2")
    assert a_row is not None and a_row.input_items[0]["content"] == "hello"
    assert b_row is not None and b_row.input_items[0]["content"] == "b's own"


async def test_a_link_to_another_owners_response_ends_the_chain(store: ResponseStore) -> None:
    await store.put(_stored("resp_1", owner="key-b"))
    await store.put(_stored("resp_2", owner="key-a", previous_id="resp_1"))
    assert _ids(await store.conversation("key-a", "resp_2")) == ["resp_2"]


async def test_conversation_is_oldest_first_and_ends_with_the_id(store: ResponseStore) -> None:
    await _chain(store, ["resp_c", "resp_a", "resp_b"])  # ids not in creation order
    await store.put(_stored("resp_other", previous_id="resp_a"))  # a branch off the middle
    assert _ids(await store.conversation("key-a", "resp_b")) == ["resp_c", "resp_a", "resp_b"]
    assert _ids(await store.conversation("key-a", "resp_a")) == ["resp_c", "resp_a"]
    assert _ids(await store.conversation("key-a", "resp_other")) == [
        "resp_c",
        "resp_a",
        "resp_other",
    ]
    chain = await store.conversation("key-a", "resp_b")
    assert chain is not None and chain[-1] == await store.get("key-a", "resp_b")


async def test_unknown_ids_are_none(store: ResponseStore) -> None:
    assert await store.get("key-a", "resp_missing") is None
    assert await store.conversation("key-a", "resp_missing") is None
    await store.put(_stored("resp_1", previous_id="resp_never_stored"))
    assert _ids(await store.conversation("key-a", "resp_1")) == ["resp_1"]


async def test_delete_reports_whether_there_was_a_response(store: ResponseStore) -> None:
    await store.put(_stored("resp_1"))
    assert await store.delete("key-a", "resp_1") is True
    assert await store.delete("key-a", "resp_1") is False
    assert await store.get("key-a", "resp_1") is None
    assert await store.delete("key-a", "resp_never") is False


async def test_purge_removes_only_older_rows(store: ResponseStore) -> None:
    for index, created_at in enumerate([100.0, 200.0, 299.5, 300.0, 400.0]):
        await store.put(_stored(f"resp_{index}", owner=f"key-{index % 2}", created_at=created_at))
    assert await store.purge(300.0) == 3  # both owners; 300.0 itself is not before 300.0
    remaining = [await store.get(f"key-{i % 2}", f"resp_{i}") for i in range(5)]
    assert [stored is not None for stored in remaining] == [False, False, False, True, True]
    assert await store.purge(300.0) == 0


async def test_a_purged_middle_link_ends_the_chain_there(store: ResponseStore) -> None:
    await store.put(_stored("resp_1", created_at=100.0))
    await store.put(_stored("resp_2", created_at=200.0, previous_id="resp_1"))
    await store.put(_stored("resp_3", created_at=300.0, previous_id="resp_2"))
    # resp_2 is purged while resp_1 is kept (it was refreshed by a replace)
    await store.put(_stored("resp_1", created_at=900.0))
    assert await store.purge(250.0) == 1
    assert _ids(await store.conversation("key-a", "resp_3")) == ["resp_3"]
    assert _ids(await store.conversation("key-a", "resp_1")) == ["resp_1"]


async def test_a_cycle_made_by_a_replace_ends_at_the_first_repeat(
    store: ResponseStore,
) -> None:
    await _chain(store, ["resp_1", "resp_2", "resp_3"])
    await store.put(_stored("resp_1", previous_id="resp_3"))  # 1 -> 3 -> 2 -> 1
    assert _ids(await store.conversation("key-a", "resp_3")) == ["resp_1", "resp_2", "resp_3"]
    await store.put(_stored("resp_1", previous_id="resp_2"))  # 3 -> 2 -> 1 -> 2 (a rho)
    assert _ids(await store.conversation("key-a", "resp_3")) == ["resp_1", "resp_2", "resp_3"]


async def test_the_walk_stops_at_the_depth_cap(
    store: ResponseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(responses_sqlite, "MAX_CHAIN", 3)
    monkeypatch.setattr(responses_postgres, "MAX_CHAIN", 3)
    await _chain(store, [f"resp_{index}" for index in range(6)])
    assert _ids(await store.conversation("key-a", "resp_5")) == ["resp_3", "resp_4", "resp_5"]


async def test_unstorable_keys_are_refused_or_not_found(store: ResponseStore) -> None:
    with pytest.raises(ValueError, match="NUL-free"):
        await store.put(_stored("resp_\x00"))
    with pytest.raises(ValueError, match="NUL-free"):
        await store.put(_stored("resp_1", previous_id="resp_\ud800"))
    with pytest.raises(ValueError, match="finite"):
        await store.put(_stored("resp_1", created_at=float("nan")))
    assert await store.get("key-a", "resp_\x00") is None
    assert await store.get("key-\ud800", "resp_1") is None
    assert await store.conversation("key-a", "resp_\x00") is None
    assert await store.delete("key-a", "resp_\x00") is False
    await store.ping()


async def test_sqlite_concurrent_opens_migrate_once_and_reopen_keeps_data(
    tmp_path: Path,
) -> None:
    one, two = await asyncio.gather(
        SqliteResponseStore.open(tmp_path), SqliteResponseStore.open(tmp_path)
    )
    try:
        await one.put(_stored("resp_1"))
        assert await two.get("key-a", "resp_1") == _stored("resp_1")
    finally:
        await one.close()
        await two.close()
    with sqlite3.connect(tmp_path / "smartflow.db") as connection:
        versions = [
            row[0] for row in connection.execute("SELECT version FROM responses_migrations")
        ]
    connection.close()
    assert sorted(versions) == list(range(1, len(responses_sqlite.MIGRATIONS) + 1))
    reopened = await SqliteResponseStore.open(tmp_path)
    try:
        assert await reopened.get("key-a", "resp_1") == _stored("resp_1")
    finally:
        await reopened.close()
    with pytest.raises(RuntimeError, match="closed"):
        await reopened.ping()


async def test_postgres_replicas_share_responses_and_migrate_once() -> None:
    async with fresh_database("smartflow_responses") as dsn:
        one, two = await asyncio.gather(
            PostgresResponseStore.connect(dsn), PostgresResponseStore.connect(dsn)
        )
        try:
            await _chain(one, ["resp_1", "resp_2"])
            assert _ids(await two.conversation("key-a", "resp_2")) == ["resp_1", "resp_2"]
        finally:
            await one.close()
            await two.close()
        rows = await fetch(dsn, "SELECT version FROM smartflow_responses_migrations")
        assert sorted(row[0] for row in rows) == list(
            range(1, len(responses_postgres.MIGRATIONS) + 1)
        )
        reopened = await PostgresResponseStore.connect(dsn)
        try:
            assert _ids(await reopened.conversation("key-a", "resp_2")) == ["resp_1", "resp_2"]
        finally:
            await reopened.close()


async def test_the_opener_follows_the_settings(tmp_path: Path) -> None:
    settings = load_settings({"SMARTFLOW_DATA_DIR": str(tmp_path)})
    async with open_response_store(settings) as store:
        assert isinstance(store, SqliteResponseStore)
        await store.put(_stored("resp_1"))
    assert (tmp_path / "smartflow.db").exists()
    async with fresh_database("smartflow_responses") as dsn:
        settings = load_settings({"SMARTFLOW_DATA_DIR": str(tmp_path), "DATABASE_URL": dsn})
        async with open_response_store(settings) as store:
            assert isinstance(store, PostgresResponseStore)
            assert await store.get("key-a", "resp_1") is None
            await store.ping()
