"""The semantic phase through the gateway, with the ONNX embedder (all-MiniLM-L6-v2): a near
repeat is served, a trap (another number, a negation) is not, and a conversation is served only
in the same context (or after small talk)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cache_e2e import (
    ScriptedUpstream,
    audit_rows,
    cache_gateway,
    chat,
    create_key,
    namespace_row,
    onnx_env,
    post_chat,
    scripted_config,
    stats,
)

from support.gateway import RunningGateway

ASKED = "How do I reset my online banking password?"
NEAR_REPEAT = "How can I reset my online banking password?"


@dataclass
class Semantic:
    gw: RunningGateway
    up: ScriptedUpstream
    secret: str


@pytest.fixture
async def semantic(tmp_path: Path, embedding_models: Path) -> AsyncIterator[Semantic]:
    async with (
        ScriptedUpstream() as up,
        cache_gateway(tmp_path, scripted_config(up), onnx_env(embedding_models)) as gw,
    ):
        key = await create_key(gw, name="support", team="support")
        yield Semantic(gw, up, key["key"])


def conversation(*turns: str) -> dict[str, Any]:
    roles = ["user", "assistant"]
    messages = [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return {"model": "gpt-4o-mini", "messages": messages}


async def test_a_near_repeat_is_served_from_the_semantic_phase(semantic: Semantic) -> None:
    gw, up, secret = semantic.gw, semantic.up, semantic.secret
    first = await post_chat(gw, chat(ASKED), secret=secret)
    assert first.cache == "miss"
    hit = await post_chat(gw, chat(NEAR_REPEAT), secret=secret)
    assert (hit.status, hit.cache) == (200, "hit-semantic")
    assert hit.body == first.body  # the stored answer, as it was
    assert up.calls() == 1
    snapshot = await stats(gw)
    assert snapshot["embedder"] == "onnx:all-MiniLM-L6-v2"
    assert snapshot["phases"]["semantic"]["hits"] == 1
    assert namespace_row(snapshot, "team:support")["hits"] == 1
    rows = await audit_rows(gw, 2)
    semantic_row = next(r for r in rows if r["cache"] == "hit-semantic")
    assert semantic_row["prompt_tokens"] == 0 and semantic_row["cost_usd"] == 0
    assert semantic_row["tokens_saved"] > 0
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/metrics") as response:
        metrics = await response.text()
    assert 'smartflow_cache_hits_total{kind="semantic"} 1.0' in metrics
    assert "smartflow_embedding_duration_seconds_count" in metrics


@pytest.mark.parametrize(
    ("cached", "trap"),
    [
        ("Where is my order 48213?", "Where is my order 48231?"),
        ("Is the clinic open on Sundays?", "Is the clinic not open on Sundays?"),
        ("Is the clinic open on Sundays?", "Is the clinic closed on Sundays?"),
        (
            "How do I close my savings account?",
            "How do I close my partner's savings account?",
        ),
        ("Can I get a refund after 14 days?", "Can I get a refund after 30 days?"),
    ],
)
async def test_a_trap_is_a_miss(semantic: Semantic, cached: str, trap: str) -> None:
    gw, up, secret = semantic.gw, semantic.up, semantic.secret
    assert (await post_chat(gw, chat(cached), secret=secret)).cache == "miss"
    reply = await post_chat(gw, chat(trap), secret=secret)
    assert (reply.status, reply.cache) == (200, "miss")
    assert up.calls() == 2


async def test_yes_cancel_it_after_another_context_is_a_miss(semantic: Semantic) -> None:
    gw, up, secret = semantic.gw, semantic.up, semantic.secret
    streaming = conversation(
        "I'd like to stop my StreamMax video subscription.",
        "I can help with that. Do you want me to cancel your StreamMax plan today?",
        "Yes, cancel it",
    )
    gym = conversation(
        "I want to end my FitLife gym membership.",
        "Sure. Should I cancel your FitLife membership now?",
        "Yes, cancel it",
    )
    assert (await post_chat(gw, streaming, secret=secret)).cache == "miss"
    reply = await post_chat(gw, gym, secret=secret)
    assert reply.cache == "miss"
    assert up.calls() == 2
    # the same conversation again is an exact hit, each in its own context
    assert (await post_chat(gw, gym, secret=secret)).cache == "hit-exact"
    assert (await post_chat(gw, streaming, secret=secret)).cache == "hit-exact"
    assert up.calls() == 2


async def test_the_same_question_after_small_talk_is_served(semantic: Semantic) -> None:
    gw, up, secret = semantic.gw, semantic.up, semantic.secret
    first = await post_chat(gw, chat(ASKED), secret=secret)
    assert first.cache == "miss"
    after_chatter = conversation("Hi there!", "Hello! How can I help you today?", ASKED)
    reply = await post_chat(gw, after_chatter, secret=secret)
    assert reply.cache == "hit-semantic"
    assert reply.body == first.body
    assert up.calls() == 1


async def test_a_near_repeat_in_the_same_conversation_is_served(semantic: Semantic) -> None:
    gw, up, secret = semantic.gw, semantic.up, semantic.secret
    context = (
        "I bought a coffee machine from your website last week.",
        "Thanks for letting me know. How can I help with your coffee machine order?",
    )
    assert (await post_chat(gw, conversation(*context, ASKED), secret=secret)).cache == "miss"
    reply = await post_chat(gw, conversation(*context, NEAR_REPEAT), secret=secret)
    assert reply.cache == "hit-semantic"
    # the same question without that context is not served the answer given in it
    assert (await post_chat(gw, chat(NEAR_REPEAT), secret=secret)).cache == "miss"
    assert up.calls() == 2


async def test_a_key_in_exact_mode_gets_no_semantic_hit(semantic: Semantic) -> None:
    gw, up = semantic.gw, semantic.up
    exact = await create_key(gw, name="exact", team="support", cache={"mode": "exact"})
    assert (await post_chat(gw, chat(ASKED), secret=semantic.secret)).cache == "miss"
    reply = await post_chat(gw, chat(NEAR_REPEAT), secret=exact["key"])
    assert reply.cache == "miss"
    assert (await post_chat(gw, chat(ASKED), secret=exact["key"])).cache == "hit-exact"
    # the exact key's own answer (to the near repeat) is shared with its team as an exact entry
    assert (await post_chat(gw, chat(NEAR_REPEAT), secret=semantic.secret)).cache == "hit-exact"
    assert up.calls() == 2


async def test_a_key_in_off_mode_gets_no_semantic_hit(semantic: Semantic) -> None:
    gw, up = semantic.gw, semantic.up
    off = await create_key(gw, name="off", team="support", cache={"mode": "off"})
    assert (await post_chat(gw, chat(ASKED), secret=semantic.secret)).cache == "miss"
    assert (await post_chat(gw, chat(NEAR_REPEAT), secret=off["key"])).cache == "bypass"
    assert up.calls() == 2
