"""PolicySet: which policies apply to a request, and reloading from the store on a change."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.compliance.config import GuardrailConfig
from gateway.policy.compile import PolicyError
from gateway.policy.evaluate import evaluate
from gateway.policy.model import KeyInfo, PolicyContext
from gateway.policy.registry import PolicySet, keep_fresh
from gateway.policy.store_sqlite import SqlitePolicyStore


def doc(name: str, action: Any = "log", **bound: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "bound_to": bound,
        "rules": [{"name": "r", "when": "true", "action": action}],
    }


def ctx(key: str = "k1", team: str = "", model: str = "gpt-4o") -> PolicyContext:
    return PolicyContext(key=KeyInfo(key, team), model=model)


def names(policies: tuple[Any, ...]) -> list[str]:
    return [p.policy.name for p in policies]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlitePolicyStore]:
    sqlite_store = SqlitePolicyStore.in_data_dir(tmp_path)
    try:
        yield sqlite_store
    finally:
        await sqlite_store.close()


def test_bindings_choose_the_policies_of_a_request() -> None:
    policies = PolicySet(
        config_policies=[
            doc("global"),
            doc("by-key", keys=["k1"]),
            doc("by-team", teams=["finance"]),
            doc("by-model", models=["gpt-4*"]),
            doc("exact-model", models=["claude-3"]),
        ]
    )
    assert names(policies.applicable(ctx())) == ["by-key", "by-model", "global"]
    assert names(policies.applicable(ctx("k2", "finance", "claude-3"))) == [
        "by-team",
        "exact-model",
        "global",
    ]
    assert names(policies.applicable(ctx("k9", "", "mistral"))) == ["global"]


def test_the_key_policy_applies_to_every_request_of_the_key() -> None:
    policies = PolicySet(config_policies=[doc("global"), doc("strict", "allow", models=["x"])])
    chosen = policies.applicable(ctx("k9", "", "mistral"), "strict")
    assert names(chosen) == ["global", "strict"]
    assert evaluate(chosen[1], ctx("k9", "", "mistral")).rule == "r"  # bound by the key
    assert names(policies.applicable(ctx("k9", "", "mistral"), "unknown")) == ["global"]
    assert policies.get("unknown") is None


def test_answers_are_precomputed_and_shared() -> None:
    only_global = PolicySet(config_policies=[doc("global")])
    assert only_global.applicable(ctx()) is only_global.applicable(ctx("other", "t", "m"))
    bound = PolicySet(config_policies=[doc("global"), doc("by-key", keys=["k1"])])
    first = bound.applicable(ctx(), None)
    assert bound.applicable(ctx(), None) is first
    assert bound.applicable(ctx(), "global") is not first  # another key policy, another answer


def test_rewrite_needed_only_for_enforced_redact_route_cache_rules() -> None:
    policies = PolicySet(
        config_policies=[
            doc("logs"),
            doc("routes", {"type": "route", "model": "small"}),
            {**doc("shadowed", {"type": "cache", "bypass": True}), "mode": "shadow"},
        ]
    )
    assert policies.needs_prompt_rewrite(policies.applicable(ctx()))
    logs, shadowed = policies.get("logs"), policies.get("shadowed")
    assert logs is not None and shadowed is not None
    assert not policies.needs_prompt_rewrite((logs, shadowed))


def test_a_bad_config_policy_fails_at_start() -> None:
    with pytest.raises(PolicyError) as caught:
        PolicySet(config_policies=[{**doc("bad"), "rules": [{"name": "r", "when": "nope"}]}])
    assert caught.value.location.startswith("rules[0]")


async def test_refresh_reloads_only_on_a_new_revision(store: SqlitePolicyStore) -> None:
    policies = PolicySet(
        store,
        config_policies=[doc("deployed"), doc("shared", keys=["k1"])],
        config_guardrails={"profile": "reduced"},
    )
    assert policies.guardrails.profile == "reduced"
    assert await policies.refresh()  # first look
    assert not await policies.refresh()
    await store.put(doc("shared"))  # the store's version of a config name wins
    await store.put(doc("managed", {"type": "deny", "message": "no"}))
    engine = policies.engine
    assert await policies.refresh()
    assert names(policies.applicable(ctx("k5"))) == ["deployed", "managed", "shared"]
    assert policies.engine is engine  # guardrails unchanged: the engine is kept
    await store.put_guardrails(GuardrailConfig(phone_regions=("US",)))
    assert await policies.refresh()
    assert policies.guardrails == GuardrailConfig(phone_regions=("US",))
    assert policies.engine is not engine and policies.engine.config == policies.guardrails
    await store.delete("shared")
    assert await policies.refresh()
    assert names(policies.applicable(ctx("k5"))) == ["deployed", "managed"]  # config's again
    assert names(policies.applicable(ctx("k1"))) == ["deployed", "managed", "shared"]


async def test_keep_fresh_picks_up_writes(store: SqlitePolicyStore) -> None:
    policies = PolicySet(store)
    task = asyncio.create_task(keep_fresh(policies, every_s=0.01))
    try:
        await store.put(doc("late"))
        target = await store.revision()
        while policies.revision != target:  # bounded by the test timeout
            await asyncio.sleep(0.01)
        assert names(policies.policies()) == ["late"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_keep_fresh_survives_a_failing_store(tmp_path: Path) -> None:
    failing = SqlitePolicyStore.in_data_dir(tmp_path / "gone")
    policies = PolicySet(failing, config_policies=[doc("deployed")])
    await failing.close()  # every later call fails
    task = asyncio.create_task(keep_fresh(policies, every_s=0))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()
    assert names(policies.policies()) == ["deployed"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_stored_policy_that_no_longer_compiles_is_skipped(
    store: SqlitePolicyStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await store.put(doc("fine"))
    await store.put(doc("broken"))
    with sqlite3.connect(tmp_path / "smartflow.db") as connection:  # as an older build left it
        bad = json.dumps({**doc("broken"), "rules": [{"name": "r", "when": "gone == 1"}]})
        connection.execute("UPDATE policy_documents SET document = ? WHERE name = 'broken'", (bad,))
        connection.execute("UPDATE policy_revision SET revision = revision + 1")
    policies = PolicySet(store)
    assert await policies.refresh()
    assert names(policies.policies()) == ["fine"]
    assert "broken@1 no longer compiles" in caplog.text
