"""The management API of the cache: GET /api/metacache/stats (its shape, with figures the test
produced) and POST /api/metacache/purge (by namespace, by model, everything), both behind the
admin key; 503 when the cache is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cache_e2e import (
    ADMIN,
    ScriptedUpstream,
    cache_gateway,
    chat,
    create_key,
    namespace_row,
    onnx_env,
    post_chat,
    scripted_config,
    stats,
)

from support.gateway import RunningGateway, running_gateway

PHASES = {"exact_local", "exact_shared", "normalized", "semantic"}
SHADOW_FIELDS = {"sampled", "agreed", "disagreed", "false_hit_rate", "false_hit_upper_95"}


async def _purge(
    gw: RunningGateway, body: Any = None, *, headers: dict[str, str] | None = None, raw: bytes = b""
) -> tuple[int, Any]:
    sent = ADMIN if headers is None else headers
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {"json": body} if body is not None else {"data": raw}
        async with session.post(
            gw.url + "/api/metacache/purge", headers=sent, **kwargs
        ) as response:
            return response.status, await response.json()


async def _fill(gw: RunningGateway) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two teams, two models: four entries."""
    search = await create_key(gw, name="s", team="search")
    billing = await create_key(gw, name="b", team="billing")
    for key in (search, billing):
        for model in ("gpt-4o-mini", "gpt-4o"):
            reply = await post_chat(gw, chat("What is the SLA?", model=model), secret=key["key"])
            assert reply.cache == "miss"
    return search, billing


async def test_stats_shape(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        search, _ = await _fill(gw)
        assert (
            await post_chat(gw, chat("What is the SLA?"), secret=search["key"])
        ).cache == "hit-exact"
        await post_chat(gw, chat("Hello", n=2))
        snapshot = await stats(gw)
    assert snapshot["mode"] == "embedded"
    assert snapshot["replicas"] == 1
    assert snapshot["embedder"] is None  # SMARTFLOW_CACHE_EMBEDDER=none
    assert snapshot["threshold"] == 0.9
    assert (snapshot["lookups"], snapshot["hits"], snapshot["misses"]) == (5, 1, 4)
    assert snapshot["hit_rate"] == 0.2
    assert snapshot["bypassed"] == 1
    assert snapshot["stored"] == 4 and snapshot["entries"] == 4
    assert snapshot["bytes"] > 0
    assert snapshot["tokens_saved"] > 0 and snapshot["usd_saved"] > 0
    assert isinstance(snapshot["not_stored"], dict)
    assert set(snapshot["phases"]) == PHASES
    for figures in snapshot["phases"].values():
        assert set(figures) == {"lookups", "hits", "hit_rate", "mean_ms"}
    assert snapshot["phases"]["exact_local"] == {
        **snapshot["phases"]["exact_local"],
        "lookups": 5,
        "hits": 1,
    }
    assert [row["namespace"] for row in snapshot["namespaces"]] == ["team:billing", "team:search"]
    row = namespace_row(snapshot, "team:search")
    assert (row["entries"], row["hits"], row["misses"], row["hit_rate"]) == (2, 1, 2, 0.3333)
    assert row["bytes"] > 0 and row["tokens_saved"] > 0
    assert set(row["shadow"]) >= SHADOW_FIELDS


async def test_purge_by_namespace_model_and_all(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        search, billing = await _fill(gw)
        assert up.calls() == 4
        status, body = await _purge(gw, {"namespace": "team:search"})
        assert (status, body) == (200, {"purged": 2, "namespace": "team:search", "model": None})
        mini = chat("What is the SLA?")
        assert (await post_chat(gw, mini, secret=search["key"])).cache == "miss"
        assert (await post_chat(gw, mini, secret=billing["key"])).cache == "hit-exact"

        status, body = await _purge(gw, {"model": "gpt-4o"})
        assert (status, body["purged"]) == (200, 1)  # billing's gpt-4o entry
        big = chat("What is the SLA?", model="gpt-4o")
        assert (await post_chat(gw, big, secret=billing["key"])).cache == "miss"
        assert (await post_chat(gw, mini, secret=billing["key"])).cache == "hit-exact"

        status, body = await _purge(gw, {"namespace": "team:billing", "model": "gpt-4o-mini"})
        assert (status, body["purged"]) == (200, 1)

        assert (await stats(gw))["entries"] == 2  # search's gpt-4o-mini, billing's gpt-4o
        status, body = await _purge(gw, {})
        assert (status, body) == (200, {"purged": 2, "namespace": None, "model": None})
        assert (await stats(gw))["entries"] == 0
        status, body = await _purge(gw, raw=b"")  # no body: everything, nothing left
        assert (status, body["purged"]) == (200, 0)


async def test_a_purge_reaches_the_file(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up:
        async with cache_gateway(tmp_path, scripted_config(up)) as gw:
            await _fill(gw)
            status, body = await _purge(gw, {"namespace": "team:billing"})
            assert (status, body["purged"]) == (200, 2)
        async with cache_gateway(tmp_path, scripted_config(up)) as gw:
            snapshot = await stats(gw)
            assert snapshot["entries"] == 2
            assert [row["namespace"] for row in snapshot["namespaces"]] == ["team:search"]


async def test_the_admin_key_is_required(tmp_path: Path) -> None:
    async with cache_gateway(tmp_path) as gw:
        key = await create_key(gw)
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"Authorization": f"Bearer {key['key']}"}):
                async with session.get(gw.url + "/api/metacache/stats", headers=headers) as r:
                    assert r.status == 401
                async with session.post(
                    gw.url + "/api/metacache/purge", json={}, headers=headers
                ) as r:
                    assert r.status == 401
        assert gw.state.cache is not None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"namespace": 5}',
        b'{"namespace": ""}',
        b'{"model": ["a"]}',
        b'{"team": "x"}',
        b"[]",
        b"not json",
        b'{"namespace": "' + b"n" * 5000 + b'"}',
    ],
)
async def test_a_bad_purge_body_is_a_400(tmp_path: Path, raw: bytes) -> None:
    async with cache_gateway(tmp_path) as gw:
        await post_chat(gw, chat("hi"))
        status, body = await _purge(gw, raw=raw)
        assert status == 400, body
        assert body["error"]["type"] == "invalid_request_error"
        assert (await stats(gw))["entries"] == 1  # nothing purged


async def test_cache_off_is_a_503_and_every_answer_bypasses(tmp_path: Path) -> None:
    env = {"SMARTFLOW_CACHE": "off"}
    async with running_gateway(tmp_path, env=env) as gw:
        assert gw.state.cache is None
        async with aiohttp.ClientSession() as session:
            async with session.get(gw.url + "/api/metacache/stats", headers=ADMIN) as r:
                assert r.status == 503
                assert (await r.json())["error"]["message"]
            async with session.post(gw.url + "/api/metacache/purge", json={}, headers=ADMIN) as r:
                assert r.status == 503
        for _ in range(2):
            reply = await post_chat(gw, chat("hi"))
            assert (reply.status, reply.cache) == (200, "bypass")


async def test_a_purge_empties_the_semantic_index(tmp_path: Path, embedding_models: Path) -> None:
    async with (
        ScriptedUpstream() as up,
        cache_gateway(tmp_path, scripted_config(up), onnx_env(embedding_models)) as gw,
    ):
        key = await create_key(gw, team="retail")
        asked = chat("How do I reset my online banking password?")
        near_repeat = chat("How can I reset my online banking password?")
        assert (await post_chat(gw, asked, secret=key["key"])).cache == "miss"
        status, body = await _purge(gw, {"namespace": "team:retail"})
        assert (status, body["purged"]) == (200, 1)
        assert (await post_chat(gw, near_repeat, secret=key["key"])).cache == "miss"
        status, body = await _purge(gw, {"model": "gpt-4o-mini"})
        assert (status, body["purged"]) == (200, 1)
        assert (await post_chat(gw, asked, secret=key["key"])).cache == "miss"
        assert up.calls() == 3


async def test_every_answer_carries_the_cache_header(tmp_path: Path) -> None:
    """Refusals before the lookup (a bad key, a bad body) say bypass; answers say miss/hit."""
    async with cache_gateway(tmp_path) as gw:
        assert (await post_chat(gw, chat("hi"), secret="sk-sf-not-a-key")).cache == "bypass"
        bad = await post_chat(gw, {"model": "gpt-4o-mini"})
        assert (bad.status, bad.cache) == (400, "bypass")
        assert (await post_chat(gw, chat("hi"))).cache == "miss"
        assert (await post_chat(gw, chat("hi"))).cache == "hit-exact"
