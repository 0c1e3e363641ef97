"""The policy store on both backends (SQLite file, real PostgreSQL): versions, validation on
write, optimistic concurrency, rollback, delete, guardrail settings, the revision counter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.compliance.config import GuardrailConfig, PatternSpec
from gateway.core.errors import NotFound
from gateway.policy.compile import PolicyError
from gateway.policy.store import PolicyConflict, VersionedStore
from gateway.policy.store_postgres import PostgresPolicyStore
from gateway.policy.store_sqlite import SqlitePolicyStore

from support.pg import fresh_database


def guard(message: str = "no cards", **extra: Any) -> dict[str, Any]:
    return {
        "name": "finance-guard",
        "rules": [
            {
                "name": "cards",
                "when": "findings.count('payment_card') > 0",
                "action": {"type": "deny", "message": message},
            }
        ],
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VersionedStore]:
    if request.param == "sqlite":
        sqlite_store = SqlitePolicyStore.in_data_dir(tmp_path / "data")
        try:
            yield sqlite_store
        finally:
            await sqlite_store.close()
        return
    async with fresh_database("smartflow_policy") as dsn:
        pg_store = await PostgresPolicyStore.connect(dsn)
        try:
            yield pg_store
        finally:
            await pg_store.close()


async def test_versions_grow_per_name_and_the_latest_is_active(store: VersionedStore) -> None:
    assert await store.revision() == 0
    first = await store.put(guard())
    second = await store.put(guard("cards stay home"))
    other = await store.put({**guard(), "name": "other"})
    assert (first.version, first.note, second.version, second.note) == (1, "created", 2, "updated")
    assert other.version == 1
    assert second.document["version"] == 2
    assert second.document["rules"][0]["action"] == {"type": "deny", "message": "cards stay home"}
    active = await store.active()
    assert [(p.name, p.version, p.active) for p in active] == [
        ("finance-guard", 2, True),
        ("other", 1, True),
    ]
    assert (await store.get("finance-guard")).version == 2
    old = await store.get("finance-guard", 1)
    assert (old.version, old.active, old.document["rules"][0]["action"]["message"]) == (
        1,
        False,
        "no cards",
    )
    history = await store.versions("finance-guard")
    assert [(p.version, p.active, p.note) for p in history] == [
        (1, False, "created"),
        (2, True, "updated"),
    ]
    assert await store.revision() == 3


async def test_a_bad_document_is_refused_with_its_location(store: VersionedStore) -> None:
    bad = guard()
    bad["rules"] = [{**bad["rules"][0], "when": "findings.count('payment_card') > modle"}]
    with pytest.raises(PolicyError) as caught:
        await store.put(bad)
    assert caught.value.location == "rules[0].when"
    assert caught.value.column is not None
    assert "modle" in caught.value.message
    assert await store.revision() == 0
    with pytest.raises(NotFound):
        await store.versions("finance-guard")


async def test_a_stated_version_must_be_the_next_one(store: VersionedStore) -> None:
    assert (await store.put(guard(version=1))).version == 1
    assert (await store.put(guard(version=2))).version == 2
    with pytest.raises(PolicyConflict) as caught:
        await store.put(guard("edited", version=2))  # written against version 1, but 2 is there
    assert caught.value.status == 409
    assert caught.value.code == "version_conflict"
    assert (await store.get("finance-guard")).version == 2


async def test_concurrent_writers_get_distinct_versions(store: VersionedStore) -> None:
    written = await asyncio.gather(*(store.put(guard(f"message {n}")) for n in range(8)))
    assert sorted(p.version for p in written) == list(range(1, 9))


async def test_rollback_appends_a_copy_of_the_old_version(store: VersionedStore) -> None:
    await store.put(guard("first"))
    await store.put(guard("second"))
    rolled = await store.rollback("finance-guard", 1)
    assert (rolled.version, rolled.note, rolled.active) == (3, "rollback to v1", True)
    first = await store.get("finance-guard", 1)
    assert rolled.document["rules"] == first.document["rules"]
    assert rolled.document["version"] == 3
    assert (await store.get("finance-guard")).document["rules"][0]["action"]["message"] == "first"
    assert len(await store.versions("finance-guard")) == 3
    with pytest.raises(NotFound):
        await store.rollback("finance-guard", 9)
    with pytest.raises(NotFound):
        await store.rollback("nothing", 1)
    with pytest.raises(NotFound):
        await store.rollback("finance-guard", 2**40)


async def test_delete_drops_the_active_version_and_keeps_history(store: VersionedStore) -> None:
    await store.put(guard())
    await store.put(guard("two"))
    before = await store.revision()
    await store.delete("finance-guard")
    assert await store.revision() == before + 1
    assert await store.active() == []
    with pytest.raises(NotFound):
        await store.get("finance-guard")
    assert [p.active for p in await store.versions("finance-guard")] == [False, False]
    with pytest.raises(NotFound):
        await store.delete("finance-guard")
    again = await store.put(guard("three"))
    assert (again.version, again.note) == (3, "created")  # numbers are never reused
    undone = await store.rollback("finance-guard", 2)
    assert undone.document["rules"][0]["action"]["message"] == "two"


async def test_unknown_names_and_versions_are_not_found(store: VersionedStore) -> None:
    for name in ("missing", "Bad Name", "x\x00y", "a" * 65, ""):
        with pytest.raises(NotFound):
            await store.get(name)
        with pytest.raises(NotFound):
            await store.versions(name)
        with pytest.raises(NotFound):
            await store.delete(name)
    await store.put(guard())
    for version in (0, 2, -1, 2**31, 2**70):
        with pytest.raises(NotFound):
            await store.get("finance-guard", version)


async def test_text_round_trips_exactly(store: VersionedStore) -> None:
    message = 'nul \x00 and ünïcödé ✓ and "quotes"'
    stored = await store.put(guard(message))
    assert (await store.get("finance-guard")).document == stored.document
    assert stored.document["rules"][0]["action"]["message"] == message


async def test_guardrails_are_versioned_too(store: VersionedStore) -> None:
    assert await store.guardrails() == GuardrailConfig()
    assert await store.guardrails_version() is None
    reduced = GuardrailConfig(
        profile="reduced",
        patterns=(PatternSpec(name="employee", regex=r"EMP-\d{6}", type="employee_id"),),
    )
    first = await store.put_guardrails(reduced)
    second = await store.put_guardrails(GuardrailConfig(phone_regions=("US",)))
    assert (first.version, first.note, second.version, second.note) == (
        1,
        "created",
        2,
        "updated",
    )
    assert await store.guardrails() == GuardrailConfig(phone_regions=("US",))
    history = await store.guardrail_versions()
    assert [(g.version, g.active) for g in history] == [(1, False), (2, True)]
    assert GuardrailConfig.model_validate(history[0].document) == reduced
    assert await store.active() == []  # not a policy
    assert await store.revision() == 2


async def test_writing_what_is_active_writes_nothing(store: VersionedStore) -> None:
    first = await store.put(guard())
    again = await store.put(guard())
    assert (again.version, again.note, again.active) == (1, "unchanged", True)
    assert again.document == first.document
    same = await store.put(guard(version=1))  # re-applying the file that made version 1
    assert (same.version, same.note) == (1, "unchanged")
    assert await store.revision() == 1
    assert len(await store.versions("finance-guard")) == 1
    assert (await store.rollback("finance-guard", 1)).version == 2  # a rollback always writes
    await store.put_guardrails(GuardrailConfig(profile="reduced"))
    unchanged = await store.put_guardrails(GuardrailConfig(profile="reduced"))
    assert (unchanged.version, unchanged.note) == (1, "unchanged")
    assert await store.revision() == 3
