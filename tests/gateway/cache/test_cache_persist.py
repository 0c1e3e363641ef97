"""Embedded mode (no Redis): entries live in process and in <data_dir>/metacache.db, so a new
gateway on the same data dir serves them; the per-namespace capacity evicts the least recently
used entry; the TTL expires entries, in memory and in the file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cache_e2e import (
    ScriptedUpstream,
    cache_gateway,
    chat,
    onnx_env,
    post_chat,
    scripted_config,
    stats,
)

FIRST = chat("What documents do I need to open an account?")
SECOND = chat("How long does a card replacement take?")
THIRD = chat("Can I change my statement language?")


async def test_an_entry_survives_a_restart(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up:
        async with cache_gateway(tmp_path, scripted_config(up)) as gw:
            first = await post_chat(gw, FIRST)
            assert first.cache == "miss"
        assert (tmp_path / "data" / "metacache.db").is_file()
        async with cache_gateway(tmp_path, scripted_config(up)) as gw:
            again = await post_chat(gw, FIRST)
            assert (again.status, again.cache) == (200, "hit-exact")
            assert again.body == first.body
            snapshot = await stats(gw)
            assert snapshot["entries"] == 1
        assert up.calls() == 1


async def test_semantic_vectors_survive_a_restart(tmp_path: Path, embedding_models: Path) -> None:
    env = onnx_env(embedding_models)
    async with ScriptedUpstream() as up:
        async with cache_gateway(tmp_path, scripted_config(up), env) as gw:
            first = await post_chat(gw, chat("How do I reset my online banking password?"))
            assert first.cache == "miss"
        async with cache_gateway(tmp_path, scripted_config(up), env) as gw:
            hit = await post_chat(gw, chat("How can I reset my online banking password?"))
            assert hit.cache == "hit-semantic"
            assert hit.body == first.body
        assert up.calls() == 1


async def test_capacity_evicts_the_least_recently_used(tmp_path: Path) -> None:
    env = {"SMARTFLOW_CACHE_MAX_CAPACITY": "2"}
    async with ScriptedUpstream() as up:
        async with cache_gateway(tmp_path, scripted_config(up), env) as gw:
            for body in (FIRST, SECOND, THIRD):
                assert (await post_chat(gw, body)).cache == "miss"
            snapshot = await stats(gw)
            assert (snapshot["entries"], snapshot["evicted"]) == (2, 1)
            assert (await post_chat(gw, THIRD)).cache == "hit-exact"
            assert (await post_chat(gw, SECOND)).cache == "hit-exact"
            assert up.calls() == 3
        # the file forgot the evicted entry too
        async with cache_gateway(tmp_path, scripted_config(up), env) as gw:
            assert (await stats(gw))["entries"] == 2
            assert (await post_chat(gw, SECOND)).cache == "hit-exact"
            assert (await post_chat(gw, FIRST)).cache == "miss"  # the oldest went
            assert up.calls() == 4
            # storing FIRST again evicts the least recently used: THIRD (SECOND was just read)
            assert (await post_chat(gw, SECOND)).cache == "hit-exact"
            assert (await post_chat(gw, THIRD)).cache == "miss"
            assert up.calls() == 5


async def test_an_entry_expires_after_its_ttl(tmp_path: Path) -> None:
    env = {"SMARTFLOW_CACHE_TTL_SECS": "1"}
    async with ScriptedUpstream() as up:
        async with cache_gateway(tmp_path, scripted_config(up), env) as gw:
            assert (await post_chat(gw, FIRST)).cache == "miss"
            assert (await post_chat(gw, FIRST)).cache == "hit-exact"
            await asyncio.sleep(1.2)
            assert (await post_chat(gw, FIRST)).cache == "miss"
            assert up.calls() == 2
            assert (await post_chat(gw, SECOND)).cache == "miss"
        await asyncio.sleep(1.2)
        # expired in the file as well: a new gateway does not load them
        async with cache_gateway(tmp_path, scripted_config(up), env) as gw:
            assert (await stats(gw))["entries"] == 0
            assert (await post_chat(gw, SECOND)).cache == "miss"
            assert up.calls() == 4


async def test_evicted_and_expired_entries_leave_the_semantic_index(
    tmp_path: Path, embedding_models: Path
) -> None:
    asked = chat("How do I reset my online banking password?")
    near_repeat = chat("How can I reset my online banking password?")
    env = onnx_env(embedding_models, SMARTFLOW_CACHE_MAX_CAPACITY="2", SMARTFLOW_CACHE_TTL_SECS="1")
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up), env) as gw:
        assert (await post_chat(gw, asked)).cache == "miss"
        assert (await post_chat(gw, SECOND)).cache == "miss"
        assert (await post_chat(gw, THIRD)).cache == "miss"  # evicts `asked`
        assert (await post_chat(gw, near_repeat)).cache == "miss"
        assert up.calls() == 4
        assert (await post_chat(gw, asked)).cache == "hit-semantic"  # from the near repeat's
        await asyncio.sleep(1.2)
        assert (await post_chat(gw, asked)).cache == "miss"  # expired, vectors too
        assert up.calls() == 5
