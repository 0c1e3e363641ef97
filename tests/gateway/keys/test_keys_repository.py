"""The virtual-key repositories: SQLite (embedded) and PostgreSQL (shared) keep the same records
with the same semantics."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from keys_fixtures import pg_database

from gateway.core.keys import (
    KeyBudget,
    KeyCreate,
    KeyLimits,
    KeyUpdate,
    VirtualKey,
    apply_update,
    build_key,
    hash_secret,
    new_secret,
)
from gateway.store import keys_postgres, sqlite
from gateway.store.base import KeyRepository
from gateway.store.keys_postgres import PostgresKeyRepository
from gateway.store.keys_sqlite import KeyConflict, SqliteKeyRepository, UnknownKey


def make_key(name: str, now: float = 1_790_000_000.0, **fields: object) -> tuple[VirtualKey, str]:
    secret = new_secret(os.urandom(32))
    request = KeyCreate.model_validate({"name": name, **fields})
    key = build_key(
        request, key_id="key_" + os.urandom(8).hex(), secret=secret, now=now, default_rph=None
    )
    return key, secret


@pytest.fixture(params=["sqlite", "postgres"])
async def repository(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[KeyRepository]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            repo: KeyRepository = SqliteKeyRepository(tmp_path / sqlite.DB_NAME)
        else:
            repo = await PostgresKeyRepository.connect(
                await stack.enter_async_context(pg_database())
            )
        stack.push_async_callback(repo.close)
        yield repo


async def test_a_record_round_trips_and_is_found_by_id_and_hash(repository: KeyRepository) -> None:
    key, secret = make_key(
        "ci-bot",
        owner="ana@example.com",
        team="ml",
        expires_at=1_800_000_000.5,
        models=["gpt-4o-mini", "claude-3-5-haiku-latest"],
        policy="pii-strict",
        budget={"max_usd": 25.5, "period": "daily"},
        limits={"rpm": 60, "tpm": 100_000, "max_parallel": 4},
        metadata={"cost_centre": "R&D", "nul": "a\x00b", "emoji": "🔑"},
        log_prompts=True,
    )
    await repository.insert(key)
    assert await repository.get(key.id) == key
    assert await repository.get_by_hash(hash_secret(secret)) == key
    assert await repository.get("key_0000000000000000") is None
    assert await repository.get("key\x00") is None
    assert await repository.get_by_hash(hash_secret(new_secret(os.urandom(32)))) is None


async def test_replace_changes_the_hash_and_the_old_one_no_longer_matches(
    repository: KeyRepository,
) -> None:
    key, old_secret = make_key("svc")
    await repository.insert(key)
    new = new_secret(os.urandom(32))
    rotated = key.model_copy(
        update={"key_hash": hash_secret(new), "updated_at": key.created_at + 5}
    )
    await repository.replace(rotated)
    assert await repository.get_by_hash(hash_secret(old_secret)) is None
    assert await repository.get_by_hash(hash_secret(new)) == rotated
    updated = apply_update(
        rotated,
        KeyUpdate(budget=KeyBudget(max_usd=3), limits=KeyLimits(rph=10)),
        rotated.updated_at + 1,
    )
    await repository.replace(updated)
    stored = await repository.get(key.id)
    assert stored is not None
    assert stored.budget == KeyBudget(max_usd=3, period="monthly")
    assert stored.limits == KeyLimits(rph=10)


async def test_conflicts_and_unknown_ids_are_errors_not_silent(repository: KeyRepository) -> None:
    key, _ = make_key("one")
    await repository.insert(key)
    with pytest.raises(KeyConflict):
        await repository.insert(key)
    other, _ = make_key("two")
    with pytest.raises(KeyConflict):  # same secret hash under another id
        await repository.insert(other.model_copy(update={"key_hash": key.key_hash}))
    with pytest.raises(UnknownKey):
        await repository.replace(other)
    await repository.insert(other)
    with pytest.raises(KeyConflict):
        await repository.replace(other.model_copy(update={"key_hash": key.key_hash}))


async def test_list_pages_in_creation_order(repository: KeyRepository) -> None:
    keys = [make_key(f"k{i}", now=1_790_000_000.0 + i)[0] for i in range(7)]
    for key in reversed(keys):
        await repository.insert(key)
    assert [k.id for k in await repository.list()] == [k.id for k in keys]
    assert [k.id for k in await repository.list(offset=2, limit=3)] == [k.id for k in keys[2:5]]
    assert await repository.list(offset=7) == []


async def test_sqlite_file_holds_the_hash_and_never_the_secret(tmp_path: Path) -> None:
    repo = SqliteKeyRepository(tmp_path / sqlite.DB_NAME)
    key, secret = make_key("audit-me")
    await repo.insert(key)
    await repo.close()
    await repo.close()  # closing twice is harmless
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("smartflow"))
    assert key.key_hash.encode() in raw
    assert secret.encode() not in raw
    assert secret[len("sk-sf-") :].encode() not in raw


def _insert_many(path: str, count: int, tag: str) -> list[str]:
    async def run() -> list[str]:
        repo = SqliteKeyRepository(Path(path))
        ids = []
        try:
            for i in range(count):
                key, _ = make_key(f"{tag}-{i}")
                await repo.insert(key)
                ids.append(key.id)
        finally:
            await repo.close()
        return ids

    return asyncio.run(run())


def test_sqlite_is_shared_safely_by_several_processes(tmp_path: Path) -> None:
    """Four processes migrate the same new file and insert at once, like --workers 4."""
    path = str(tmp_path / sqlite.DB_NAME)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.starmap(_insert_many, [(path, 25, f"w{n}") for n in range(4)])
    written = {key_id for ids in results for key_id in ids}
    assert len(written) == 100
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM virtual_keys")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert stored == written
    assert version == len(sqlite.MIGRATIONS)


async def test_postgres_migrates_once_when_replicas_start_together(pg_dsn: str) -> None:
    repos = await asyncio.gather(*(PostgresKeyRepository.connect(pg_dsn) for _ in range(5)))
    for repo in repos:
        await repo.close()
    connection = await asyncpg.connect(pg_dsn)
    try:
        versions = await connection.fetch(
            "SELECT version FROM smartflow_keys_migrations ORDER BY version"
        )
        columns = await connection.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'smartflow_virtual_keys'"
        )
    finally:
        await connection.close()
    assert [row["version"] for row in versions] == list(range(1, len(keys_postgres.MIGRATIONS) + 1))
    assert {row["column_name"] for row in columns} == {
        "id",
        "key_hash",
        "created_at",
        "updated_at",
        "record",
    }


async def test_postgres_holds_the_hash_and_never_the_secret(pg_dsn: str) -> None:
    repo = await PostgresKeyRepository.connect(pg_dsn)
    key, secret = make_key("audit-me")
    try:
        await repo.insert(key)
    finally:
        await repo.close()
    connection = await asyncpg.connect(pg_dsn)
    try:
        dump = str(await connection.fetch("SELECT * FROM smartflow_virtual_keys"))
    finally:
        await connection.close()
    assert key.key_hash in dump
    assert secret[len("sk-sf-") :] not in dump


async def test_modify_is_a_read_modify_write_of_one_key(repository: KeyRepository) -> None:
    assert isinstance(repository, SqliteKeyRepository | PostgresKeyRepository)
    key, _ = make_key("svc")
    await repository.insert(key)
    assert await repository.modify("key_0000000000000000", lambda k: k) is None
    before, after = await repository.modify(
        key.id, lambda k: k.model_copy(update={"name": "renamed", "updated_at": k.updated_at + 1})
    ) or (None, None)
    assert before == key
    assert after is not None and after.name == "renamed"
    assert await repository.get(key.id) == after

    def refuse(_: VirtualKey) -> VirtualKey:
        raise LookupError("changed my mind")

    with pytest.raises(LookupError):
        await repository.modify(key.id, refuse)
    assert await repository.get(key.id) == after  # rolled back, and the store still works
    unchanged = await repository.modify(key.id, lambda k: k)
    assert unchanged == (after, after)


async def test_a_revoke_racing_updates_is_never_undone(repository: KeyRepository) -> None:
    """Many updates and one revoke at once: each is a whole read-modify-write, so the revoke
    survives whatever order they land in."""
    assert isinstance(repository, SqliteKeyRepository | PostgresKeyRepository)
    key, _ = make_key("contended")
    await repository.insert(key)

    def rename(n: int) -> Callable[[VirtualKey], VirtualKey]:
        return lambda k: k.model_copy(update={"name": f"name-{n}", "updated_at": k.updated_at + 1})

    def revoke(k: VirtualKey) -> VirtualKey:
        return k.model_copy(update={"status": "revoked", "updated_at": k.updated_at + 1})

    changes = [repository.modify(key.id, rename(n)) for n in range(20)]
    changes.insert(7, repository.modify(key.id, revoke))
    await asyncio.gather(*changes)
    final = await repository.get(key.id)
    assert final is not None
    assert final.status == "revoked"
    assert final.updated_at == key.updated_at + 21  # no write was lost
