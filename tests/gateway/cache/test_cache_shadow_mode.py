"""Shadow mode (SMARTFLOW_CACHE_SHADOW_RATE=1): every semantic hit is also asked upstream in the
background, the fresh answer compared with the one served; the namespace's stats and the metrics
count agreements and disagreements. The re-ask is not charged to the key, not counted in its rate
limit, not streamed, and not cached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from cache_e2e import (
    ADMIN,
    CLAUDE,
    Answer,
    ScriptedUpstream,
    anthropic_client,
    cache_gateway,
    chat,
    chat_body,
    create_key,
    namespace_row,
    onnx_env,
    openai_client,
    post_chat,
    scripted_config,
    settle,
    stats,
)

from support.gateway import RunningGateway

ASKED = "How do I reset my online banking password?"
NEAR_REPEAT = "How can I reset my online banking password?"
SERVED = "Open the app, go to Settings, then Security, and choose Reset password."


@dataclass
class Shadow:
    gw: RunningGateway
    up: ScriptedUpstream


@pytest.fixture
async def shadow(tmp_path: Path, embedding_models: Path) -> AsyncIterator[Shadow]:
    env = onnx_env(embedding_models, SMARTFLOW_CACHE_SHADOW_RATE="1")
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up), env) as gw:
        assert gw.state.cache_shadow is not None
        yield Shadow(gw, up)


async def _metric(gw: RunningGateway, name: str, *labels: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _shadow_metric(gw: RunningGateway, namespace: str, verdict: str) -> float:
    return await _metric(
        gw,
        "smartflow_cache_shadow_checks_total",
        f'namespace="{namespace}"',
        f'verdict="{verdict}"',
    )


async def test_a_semantic_hit_is_re_asked_and_a_different_answer_counted(
    shadow: Shadow,
) -> None:
    """The mock LLM's reply depends on the prompt, so the paraphrase's fresh answer differs."""
    gw, up = shadow.gw, shadow.up
    key = await create_key(gw, team="banking")
    assert (await post_chat(gw, chat(ASKED), secret=key["key"])).cache == "miss"
    hit = await post_chat(gw, chat(NEAR_REPEAT), secret=key["key"])
    assert hit.cache == "hit-semantic"
    assert up.calls() == 2  # the re-ask, after the response
    assert up.seen[-1].body["messages"][-1]["content"] == NEAR_REPEAT
    row = namespace_row(await stats(gw), "team:banking")
    assert row["shadow"]["sampled"] == 1
    assert row["shadow"]["disagreed"] == 1
    assert row["shadow"]["false_hit_rate"] == 1.0
    assert await _shadow_metric(gw, "team:banking", "disagreed") == 1
    upper = await _metric(
        gw, "smartflow_cache_shadow_false_hit_rate", 'namespace="team:banking"'
    )  # one disagreement in one: the estimate's 95% upper bound is 1
    assert upper == row["shadow"]["false_hit_upper_95"] == 1.0
    # exact hits are never re-asked
    assert (await post_chat(gw, chat(ASKED), secret=key["key"])).cache == "hit-exact"
    assert up.calls() == 2


async def test_agreeing_and_disagreeing_fresh_answers(shadow: Shadow) -> None:
    gw, up = shadow.gw, shadow.up
    key = await create_key(gw, team="banking")
    up.queue.append(Answer(body=chat_body(SERVED)))
    assert (await post_chat(gw, chat(ASKED), secret=key["key"])).cache == "miss"
    up.queue.append(Answer(body=chat_body(SERVED)))  # the re-ask: the same answer
    assert (await post_chat(gw, chat(NEAR_REPEAT), secret=key["key"])).cache == "hit-semantic"
    up.queue.append(Answer(body=chat_body("You cannot reset it online; visit a branch.")))
    third = chat("How can I reset my online-banking password?")
    reply = await post_chat(gw, third, secret=key["key"])
    assert reply.cache == "hit-semantic"
    # an upstream error says nothing of the cache: counted as skipped, not as a comparison
    up.queue.append(Answer(status=500, body={"error": {"message": "down"}}))
    fourth = chat("What's the way to reset my online banking password?")
    assert (await post_chat(gw, fourth, secret=key["key"])).cache == "hit-semantic"
    assert up.calls() == 4
    shadow_stats = namespace_row(await stats(gw), "team:banking")["shadow"]
    assert (shadow_stats["agreed"], shadow_stats["disagreed"], shadow_stats["skipped"]) == (1, 1, 1)
    assert shadow_stats["sampled"] == 3
    assert shadow_stats["false_hit_rate"] == 0.5
    assert shadow_stats["false_hit_upper_95"] > 0.5
    assert await _shadow_metric(gw, "team:banking", "agreed") == 1
    assert await _shadow_metric(gw, "team:banking", "disagreed") == 1
    # the re-asks' answers were not cached
    assert (await stats(gw))["stored"] == 1


async def test_the_re_ask_is_not_charged_nor_rate_limited(shadow: Shadow) -> None:
    gw, up = shadow.gw, shadow.up
    key = await create_key(
        gw, team="banking", budget={"max_usd": 10, "period": "daily"}, limits={"rpm": 3}
    )
    assert (await post_chat(gw, chat(ASKED), secret=key["key"])).cache == "miss"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.url}/api/enterprise/vkeys/{key['id']}/budget", headers=ADMIN) as r,
    ):
        spent = (await r.json())["spent_usd"]
    assert spent > 0
    assert (await post_chat(gw, chat(NEAR_REPEAT), secret=key["key"])).cache == "hit-semantic"
    assert up.calls() == 2  # re-asked
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.url}/api/enterprise/vkeys/{key['id']}/budget", headers=ADMIN) as r,
    ):
        assert (await r.json())["spent_usd"] == pytest.approx(spent)
    # rpm 3: the miss and the hit are two; the re-ask did not take the third
    third = await post_chat(gw, chat(ASKED), secret=key["key"])
    assert (third.status, third.cache) == (200, "hit-exact")
    fourth = await post_chat(gw, chat(ASKED), secret=key["key"])
    assert fourth.status == 429


async def test_a_streamed_semantic_hit_is_re_asked_whole(shadow: Shadow) -> None:
    gw, up = shadow.gw, shadow.up
    key = await create_key(gw, team="banking")
    assert (await post_chat(gw, chat(ASKED), secret=key["key"])).cache == "miss"
    async with openai_client(gw, key["key"]) as sdk:
        stream = await sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": NEAR_REPEAT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert stream.response.headers["x-smartflow-cache"] == "hit-semantic"
    assert chunks
    await settle(gw)
    assert up.calls() == 2
    reask = up.seen[-1].body
    assert "stream" not in reask and "stream_options" not in reask
    assert namespace_row(await stats(gw), "team:banking")["shadow"]["sampled"] == 1


async def test_no_re_ask_without_shadow_mode(tmp_path: Path, embedding_models: Path) -> None:
    async with (
        ScriptedUpstream() as up,
        cache_gateway(tmp_path, scripted_config(up), onnx_env(embedding_models)) as gw,
    ):
        assert gw.state.cache_shadow is None
        assert (await post_chat(gw, chat(ASKED))).cache == "miss"
        assert (await post_chat(gw, chat(NEAR_REPEAT))).cache == "hit-semantic"
        assert up.calls() == 1
        assert namespace_row(await stats(gw), "admin")["shadow"]["sampled"] == 0


async def test_an_anthropic_semantic_hit_is_re_asked(shadow: Shadow) -> None:
    gw, up = shadow.gw, shadow.up
    key = await create_key(gw, team="banking")

    def ask(text: str) -> dict[str, object]:
        return {
            "model": CLAUDE,
            "max_tokens": 200,
            "messages": [{"role": "user", "content": text}],
        }

    path = "/anthropic/v1/messages"
    assert (await post_chat(gw, ask(ASKED), secret=key["key"], path=path)).cache == "miss"
    async with (
        anthropic_client(gw, key["key"]) as sdk,
        sdk.messages.stream(
            model=CLAUDE, max_tokens=200, messages=[{"role": "user", "content": NEAR_REPEAT}]
        ) as stream,
    ):
        final = await stream.get_final_message()
        assert stream.response.headers["x-smartflow-cache"] == "hit-semantic"
    assert final.content and final.stop_reason == "end_turn"
    await settle(gw)
    assert up.calls("/messages") == 2
    reask = up.seen[-1].body
    assert "stream" not in reask
    assert reask["messages"][-1]["content"] == NEAR_REPEAT
    assert namespace_row(await stats(gw), "team:banking")["shadow"]["sampled"] == 1


async def test_a_semantic_hit_on_the_responses_api_is_re_asked(shadow: Shadow) -> None:
    """/v1/responses: the paraphrase is a semantic hit, served as a new stored response, and
    re-asked upstream (as chat, whole) in the background; the re-ask is compared, not kept."""
    gw, up = shadow.gw, shadow.up
    key = await create_key(gw, team="banking")
    up.queue.append(Answer(body=chat_body(SERVED)))
    up.queue.append(Answer(body=chat_body(SERVED)))  # the re-ask agrees
    async with openai_client(gw, key["key"]) as sdk:
        first = await sdk.responses.with_raw_response.create(model="gpt-4o-mini", input=ASKED)
        hit = await sdk.responses.with_raw_response.create(
            model="gpt-4o-mini", input=NEAR_REPEAT, stream=False
        )
        await settle(gw)
        served = hit.parse()
        assert (await sdk.responses.retrieve(served.id)).output_text == SERVED
    assert first.headers["x-smartflow-cache"] == "miss"
    assert hit.headers["x-smartflow-cache"] == "hit-semantic"
    assert served.id != first.parse().id and served.output_text == SERVED
    assert up.calls() == 2
    assert up.seen[-1].body["messages"][-1]["content"] == NEAR_REPEAT
    assert not up.seen[-1].body.get("stream")
    row = namespace_row(await stats(gw), "team:banking")
    assert (row["shadow"]["sampled"], row["shadow"]["agreed"]) == (1, 1)
