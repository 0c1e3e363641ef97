"""What a hit costs and saves: zero upstream tokens and zero cost in the audit log, the tokens and
dollars the original answer took recorded as saved, the key's budget not charged, and the
savings in /metrics and /api/metacache/stats."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from cache_e2e import (
    ADMIN,
    ScriptedUpstream,
    audit_rows,
    cache_gateway,
    chat,
    create_key,
    namespace_row,
    openai_client,
    post_chat,
    scripted_config,
    settle,
    stats,
)

from support.gateway import RunningGateway


async def _spent(gw: RunningGateway, key_id: str) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.url}/api/enterprise/vkeys/{key_id}/budget", headers=ADMIN) as response,
    ):
        assert response.status == 200
        return float((await response.json())["spent_usd"])


async def _metric(gw: RunningGateway, name: str, labels: str = "") -> float:
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", re.MULTILINE)
    found = pattern.findall(text)
    assert found, f"{name}{labels} is not in /metrics"
    return float(found[0])


async def test_a_hit_reports_zero_upstream_tokens_and_what_it_saved(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        key = await create_key(gw, team="support", budget={"max_usd": 10, "period": "daily"})
        body = chat("How do I dispute a card transaction?")
        assert (await post_chat(gw, body, secret=key["key"])).cache == "miss"
        spent_after_miss = await _spent(gw, key["id"])
        assert spent_after_miss > 0
        hits = [await post_chat(gw, body, secret=key["key"]) for _ in range(2)]
        assert [hit.cache for hit in hits] == ["hit-exact", "hit-exact"]
        assert up.calls() == 1
        assert await _spent(gw, key["id"]) == pytest.approx(spent_after_miss)

        rows = await audit_rows(gw, 3, key_id=key["id"])
        miss = next(r for r in rows if r["cache"] == "miss")
        assert miss["prompt_tokens"] > 0 and miss["completion_tokens"] > 0
        assert miss["cost_usd"] == pytest.approx(spent_after_miss)
        assert miss["tokens_saved"] == 0 and miss["usd_saved"] == 0
        hit_rows = [r for r in rows if r["cache"] == "hit-exact"]
        assert len(hit_rows) == 2
        for hit in hit_rows:
            assert hit["status"] == 200
            assert hit["prompt_tokens"] == 0 and hit["completion_tokens"] == 0
            assert hit["cost_usd"] == 0
            assert hit["provider"] == "cache"
            assert hit["tokens_saved"] == miss["prompt_tokens"] + miss["completion_tokens"]
            assert hit["usd_saved"] == pytest.approx(miss["cost_usd"])
            assert hit["usd_saved"] > 0

        tokens = miss["prompt_tokens"] + miss["completion_tokens"]
        assert await _metric(gw, "smartflow_cache_hits_total", '{kind="exact_local"}') == 2
        assert await _metric(gw, "smartflow_cache_misses_total") == 1
        assert await _metric(gw, "smartflow_cache_stored_total") == 1
        assert await _metric(gw, "smartflow_cache_tokens_saved_total") == 2 * tokens
        assert await _metric(gw, "smartflow_cache_usd_saved_total") == pytest.approx(
            2 * miss["cost_usd"]
        )

        snapshot = await stats(gw)
        assert snapshot["tokens_saved"] == 2 * tokens
        assert snapshot["usd_saved"] == pytest.approx(2 * miss["cost_usd"], rel=1e-3)
        row = namespace_row(snapshot, "team:support")
        assert (row["hits"], row["misses"], row["entries"]) == (2, 1, 1)
        assert row["tokens_saved"] == 2 * tokens


async def test_a_streamed_hit_is_not_charged_either(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        key = await create_key(gw, budget={"max_usd": 10, "period": "daily"})
        messages = [{"role": "user", "content": "What is the daily ATM withdrawal limit?"}]
        for _ in range(2):
            async with openai_client(gw, key["key"]) as sdk:
                stream = await sdk.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=messages,
                    stream=True,
                )
                [chunk async for chunk in stream]
            await settle(gw)
        assert up.calls() == 1
        rows = await audit_rows(gw, 2, key_id=key["id"])
        hit = next(r for r in rows if r["cache"] == "hit-exact")
        miss = next(r for r in rows if r["cache"] == "miss")
        assert hit["stream"] is True
        assert (hit["prompt_tokens"], hit["completion_tokens"], hit["cost_usd"]) == (0, 0, 0)
        assert hit["tokens_saved"] == miss["prompt_tokens"] + miss["completion_tokens"] > 0
        assert hit["usd_saved"] == pytest.approx(miss["cost_usd"])
        assert await _spent(gw, key["id"]) == pytest.approx(miss["cost_usd"])


async def test_a_streamed_entry_written_for_the_admin_key_records_its_savings(
    tmp_path: Path,
) -> None:
    """The admin key (`sfctl up`'s) streams without stream_options: the entry must still know
    what the answer took, or its hits save nothing on paper."""
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        messages = [{"role": "user", "content": "What is the daily ATM withdrawal limit?"}]
        for _ in range(2):
            async with openai_client(gw) as sdk:
                stream = await sdk.chat.completions.create(
                    model="gpt-4o-mini", messages=messages, stream=True
                )
                [chunk async for chunk in stream]
            await settle(gw)
        assert up.calls() == 1
        rows = await audit_rows(gw, 2)
        hit = next(r for r in rows if r["cache"] == "hit-exact")
        assert hit["tokens_saved"] > 0
        assert hit["usd_saved"] > 0
