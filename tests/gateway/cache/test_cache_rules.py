"""Every no-store and no-lookup rule, through the gateway: what the upstream answered (or the
client asked) decides whether the answer is kept, and the stats name why not.

Pattern: ask once (the rule applies), ask again plainly, and count what reached the upstream:
an answer that was not stored makes the second request a miss that goes upstream again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cache_e2e import (
    ADMIN,
    CLAUDE,
    Answer,
    ScriptedUpstream,
    anthropic_event,
    cache_gateway,
    chat,
    chat_body,
    chat_chunk,
    create_key,
    openai_frames,
    post_chat,
    scripted_config,
    settle,
    stats,
)

from support.gateway import RunningGateway

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ERROR = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
MESSAGES = "/anthropic/v1/messages"


async def _not_stored(gw: RunningGateway) -> dict[str, int]:
    return dict((await stats(gw))["not_stored"])


async def _stored(gw: RunningGateway) -> int:
    return int((await stats(gw))["stored"])


@pytest.mark.parametrize("code", [500, 400, 429])
async def test_an_error_status_is_never_cached_nor_replayed_as_200(
    tmp_path: Path, code: int
) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        up.queue.append(Answer(status=code, body=ERROR))
        body = chat("Summarise our refund policy.")
        failed = await post_chat(gw, body)
        assert failed.status >= 400
        assert failed.cache == "miss"
        again = await post_chat(gw, body)
        assert (again.status, again.cache) == (200, "miss")
        assert "error" not in again.body
        assert up.calls() == 2
        third = await post_chat(gw, body)
        assert (third.status, third.cache) == (200, "hit-exact")
        assert third.body == again.body  # the good answer, never the error
        assert await _stored(gw) == 1


async def test_a_200_with_an_error_body_is_not_stored(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        up.queue.append(Answer(status=200, body=ERROR))
        body = chat("Which plans include phone support?")
        await post_chat(gw, body)
        assert (await post_chat(gw, body)).cache == "miss"
        assert up.calls() == 2
        assert (await _not_stored(gw)).get("error") == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (chat_body("", finish="content_filter"), "content_filter"),
        (chat_body("", refusal="I can't help with that."), "refusal"),
        (chat_body("", finish="stop"), "empty"),
    ],
)
async def test_answers_that_must_not_be_kept(
    tmp_path: Path, answer: dict[str, Any], reason: str
) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        up.queue.append(Answer(body=answer))
        body = chat("Tell me about the refund policy.")
        first = await post_chat(gw, body)
        assert (first.status, first.cache) == (200, "miss")
        assert (await post_chat(gw, body)).cache == "miss"
        assert up.calls() == 2
        assert (await _not_stored(gw)).get(reason) == 1


async def test_an_answer_cut_at_the_clients_limit_is_served_only_for_that_limit(
    tmp_path: Path,
) -> None:
    """`finish_reason: length` at the client's max_tokens is kept (the limit is in the key)."""
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = chat("Explain the difference between a Roth IRA and a 401k.", max_tokens=3)
        first = await post_chat(gw, body)
        assert first.body["choices"][0]["finish_reason"] == "length"
        again = await post_chat(gw, body)
        assert again.cache == "hit-exact" and again.body == first.body
        longer = await post_chat(gw, {**body, "max_tokens": 300})
        assert longer.cache == "miss"
        assert longer.body["choices"][0]["finish_reason"] == "stop"
        assert up.calls() == 2


async def test_anthropic_context_window_exceeded_is_not_stored(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        message = {
            "id": "msg_scripted",
            "type": "message",
            "role": "assistant",
            "model": CLAUDE,
            "content": [{"type": "text", "text": "The conversation so far covers"}],
            "stop_reason": "model_context_window_exceeded",
            "stop_sequence": None,
            "usage": {"input_tokens": 9, "output_tokens": 5},
        }
        up.queue.append(Answer(body=message))
        body = {
            "model": CLAUDE,
            "max_tokens": 200,
            "messages": [{"role": "user", "content": "Summarise everything above."}],
        }
        assert (await post_chat(gw, body, path=MESSAGES)).cache == "miss"
        assert (await post_chat(gw, body, path=MESSAGES)).cache == "miss"
        assert up.calls() == 2
        assert (await _not_stored(gw)).get("truncated") == 1


async def test_tool_calls_are_kept_only_for_a_key_that_opts_in(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        plain = await create_key(gw, name="plain")
        opted = await create_key(gw, name="tools", cache={"cache_tool_calls": True})
        # the mock calls a tool when the prompt asks for it by name
        body = chat("What's the weather in Porto? Use get_weather.", tools=[WEATHER])
        first = await post_chat(gw, body, secret=plain["key"])
        assert first.body["choices"][0]["finish_reason"] == "tool_calls"
        assert (await post_chat(gw, body, secret=plain["key"])).cache == "miss"
        assert up.calls() == 2
        assert (await _not_stored(gw)).get("tool_calls") == 2

        assert (await post_chat(gw, body, secret=opted["key"])).cache == "miss"
        hit = await post_chat(gw, body, secret=opted["key"])
        assert hit.cache == "hit-exact"
        assert hit.body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == (
            "get_weather"
        )
        assert up.calls() == 3


async def test_anthropic_tool_use_is_not_kept(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        tool = {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
        body = {
            "model": CLAUDE,
            "max_tokens": 200,
            "tools": [tool],
            "messages": [{"role": "user", "content": "Call get_weather for Porto."}],
        }
        first = await post_chat(gw, body, path=MESSAGES)
        assert first.body["stop_reason"] == "tool_use"
        assert (await post_chat(gw, body, path=MESSAGES)).cache == "miss"
        assert up.calls() == 2


async def test_temperature_above_the_bound_and_the_opt_in(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        plain = await create_key(gw, name="plain")
        opted = await create_key(gw, name="warm", cache={"any_temperature": True})
        hot = chat("Write a tagline for a bakery.", temperature=1.5)
        for _ in range(2):
            reply = await post_chat(gw, hot, secret=plain["key"])
            assert (reply.status, reply.cache) == (200, "bypass")
        assert up.calls() == 2
        at_bound = chat("Write a tagline for a bakery.", temperature=1.0)
        assert (await post_chat(gw, at_bound, secret=plain["key"])).cache == "miss"
        assert (await post_chat(gw, at_bound, secret=plain["key"])).cache == "hit-exact"
        assert up.calls() == 3

        assert (await post_chat(gw, hot, secret=opted["key"])).cache == "miss"
        assert (await post_chat(gw, hot, secret=opted["key"])).cache == "hit-exact"
        assert up.calls() == 4
        assert (await stats(gw))["bypassed"] == 2


async def test_several_choices_are_neither_looked_up_nor_stored(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = chat("Suggest a name for a cat.", n=2)
        for _ in range(2):
            reply = await post_chat(gw, body)
            assert (reply.status, reply.cache) == (200, "bypass")
            assert len(reply.body["choices"]) == 2
        assert up.calls() == 2
        assert (await stats(gw))["stored"] == 0


@pytest.mark.parametrize(
    "no_store", [{"Cache-Control": "no-store"}, {"x-smartflow-cache": "no-store"}]
)
async def test_client_no_store_is_looked_up_but_not_stored(
    tmp_path: Path, no_store: dict[str, str]
) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = chat("How long does a SEPA transfer take?")
        assert (await post_chat(gw, body, headers=no_store)).cache == "miss"
        assert (await post_chat(gw, body)).cache == "miss"  # the first answer was not kept
        assert up.calls() == 2
        assert (await post_chat(gw, body, headers=no_store)).cache == "hit-exact"  # looked up
        assert up.calls() == 2
        assert (await _not_stored(gw)).get("client_no_store") == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Cache-Control": "no-cache"},
        {"x-smartflow-cache": "refresh"},
        {"Cache-Control": "max-age=0"},
        {"Pragma": "no-cache"},
    ],
)
async def test_no_cache_and_refresh_skip_the_lookup_and_store_the_fresh_answer(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = chat("What is the current savings rate?")
        up.queue.append(Answer(body=chat_body("The rate is 2.1%.")))
        assert (await post_chat(gw, body)).cache == "miss"
        up.queue.append(Answer(body=chat_body("The rate is 2.4%.")))
        fresh = await post_chat(gw, body, headers=headers)
        assert (fresh.status, fresh.cache) == (200, "bypass")
        assert fresh.body["choices"][0]["message"]["content"] == "The rate is 2.4%."
        assert up.calls() == 2
        later = await post_chat(gw, body)
        assert later.cache == "hit-exact"
        assert later.body["choices"][0]["message"]["content"] == "The rate is 2.4%."
        assert up.calls() == 2


async def test_bypass_neither_looks_up_nor_stores(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        bypass = {"x-smartflow-cache": "bypass"}
        kept = chat("Where can I find my IBAN?")
        assert (await post_chat(gw, kept)).cache == "miss"
        assert (await post_chat(gw, kept, headers=bypass)).cache == "bypass"  # not looked up
        assert up.calls() == 2
        skipped = chat("How do I order a new debit card?")
        assert (await post_chat(gw, skipped, headers=bypass)).cache == "bypass"
        assert (await post_chat(gw, skipped)).cache == "miss"  # not stored either
        assert up.calls() == 4
        assert (await stats(gw))["stored"] == 2


@pytest.mark.parametrize("directive", ["no-store", "private, max-age=0"])
async def test_upstream_no_store_is_honoured(tmp_path: Path, directive: str) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = chat("What is my account balance?")
        up.queue.append(
            Answer(body=chat_body("It is 120 EUR."), headers={"Cache-Control": directive})
        )
        assert (await post_chat(gw, body)).cache == "miss"
        assert (await post_chat(gw, body)).cache == "miss"
        assert up.calls() == 2
        assert (await _not_stored(gw)).get("upstream_no_store") == 1


def _openai_stream(text: str) -> dict[str, Any]:
    return chat(text, stream=True)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            Answer(
                frames=openai_frames([chat_chunk("Hel"), chat_chunk("lo")], done=False), cut=True
            ),
            id="cut-off",
        ),
        pytest.param(
            Answer(frames=openai_frames([chat_chunk("Hel"), {"error": ERROR["error"]}])),
            id="error-event",
        ),
        pytest.param(
            Answer(frames=openai_frames([chat_chunk("Hel"), chat_chunk("lo")])),
            id="no-finish-reason",
        ),
    ],
)
async def test_an_openai_stream_that_did_not_complete_is_not_stored(
    tmp_path: Path, answer: Answer
) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = _openai_stream("Tell me a short story about a lighthouse.")
        up.queue.append(answer)
        first = await post_chat(gw, body)
        assert first.cache == "miss"
        second = await post_chat(gw, body)
        assert (second.status, second.cache) == (200, "miss")
        assert up.calls() == 2
        assert (await stats(gw))["stored"] == 1  # only the second, complete one
        assert sum((await _not_stored(gw)).values()) == 1


def _anthropic_start() -> list[bytes]:
    message = {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }
    return [
        anthropic_event("message_start", {"type": "message_start", "message": message}),
        anthropic_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        anthropic_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
        ),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Answer(frames=_anthropic_start(), cut=True), id="cut-off"),
        pytest.param(
            Answer(
                frames=[
                    *_anthropic_start(),
                    anthropic_event(
                        "error",
                        {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"},
                        },
                    ),
                ]
            ),
            id="error-event",
        ),
    ],
)
async def test_an_anthropic_stream_that_did_not_complete_is_not_stored(
    tmp_path: Path, answer: Answer
) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = {
            "model": CLAUDE,
            "max_tokens": 200,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a short story about a lighthouse."}],
        }
        up.queue.append(answer)
        assert (await post_chat(gw, body, path=MESSAGES)).cache == "miss"
        second = await post_chat(gw, body, path=MESSAGES)
        assert (second.status, second.cache) == (200, "miss")
        assert up.calls() == 2
        assert (await stats(gw))["stored"] == 1


async def test_key_mode_off_skips_the_cache(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        off = await create_key(gw, name="off", team="ops", cache={"mode": "off"})
        on = await create_key(gw, name="on", team="ops")
        body = chat("How do I rotate my API key?")
        for _ in range(2):
            assert (await post_chat(gw, body, secret=off["key"])).cache == "bypass"
        assert up.calls() == 2
        assert (await stats(gw))["stored"] == 0
        # and its teammates' entries are not served to it either
        assert (await post_chat(gw, body, secret=on["key"])).cache == "miss"
        assert (await post_chat(gw, body, secret=off["key"])).cache == "bypass"
        assert up.calls() == 4


async def test_key_mode_exact_serves_exact_hits(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        exact = await create_key(gw, name="exact", cache={"mode": "exact"})
        body = chat("How do I rotate my API key?")
        assert (await post_chat(gw, body, secret=exact["key"])).cache == "miss"
        assert (await post_chat(gw, body, secret=exact["key"])).cache == "hit-exact"
        # the normalised phase is exact too (whitespace and case)
        loose = chat("  how do I rotate my   API key? ")
        assert (await post_chat(gw, loose, secret=exact["key"])).cache == "hit-exact"
        assert up.calls() == 1


async def test_a_stream_the_client_cancelled_is_not_stored(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        body = _openai_stream("Tell me a long story about a lighthouse.")
        words = [chat_chunk(f"w{i} ") for i in range(20)] + [chat_chunk(None, "stop")]
        up.queue.append(Answer(frames=openai_frames(words), delay_s=0.05))
        async with (
            aiohttp.ClientSession() as session,
            session.post(gw.url + "/v1/chat/completions", json=body, headers=ADMIN) as response,
        ):
            assert response.headers["x-smartflow-cache"] == "miss"
            await response.content.readany()  # the first frames, then the client goes away
        await asyncio.sleep(1.5)  # the upstream's stream would have finished by now
        await settle(gw)
        second = await post_chat(gw, body)
        assert (second.status, second.cache) == (200, "miss")
        assert up.calls() == 2
        assert (await stats(gw))["stored"] == 1
        assert await _not_stored(gw) == {"incomplete": 1}


async def test_an_answer_over_the_size_bound_is_not_stored(tmp_path: Path) -> None:
    env = {"SMARTFLOW_CACHE_MAX_ENTRY_BYTES": "1024"}
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up), env) as gw:
        long_answer = " ".join(["The account terms are explained here."] * 60)
        whole = chat("Print the account terms.")
        up.queue.append(Answer(body=chat_body(long_answer)))
        assert (await post_chat(gw, whole)).cache == "miss"
        streamed = _openai_stream("Print the account terms again.")
        chunks = [chat_chunk(long_answer), chat_chunk(None, "stop")]
        up.queue.append(Answer(frames=openai_frames(chunks)))
        assert (await post_chat(gw, streamed)).cache == "miss"
        assert (await _not_stored(gw)) == {"too_large": 2}
        short = chat("Print the short terms.")
        assert (await post_chat(gw, short)).cache == "miss"
        assert (await post_chat(gw, short)).cache == "hit-exact"
        assert up.calls() == 3


async def test_a_streamed_answer_that_fits_the_size_bound_is_stored(tmp_path: Path) -> None:
    """The bound is on the entry (the assembled answer), as for a whole answer: the SSE frames
    that carry it are several times larger (one JSON chunk per token)."""
    env = {"SMARTFLOW_CACHE_MAX_ENTRY_BYTES": "2048"}
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up), env) as gw:
        whole = chat("Write a short note about lighthouses.")
        first = await post_chat(gw, whole)
        assert len(orjson.dumps(first.body)) < 2048  # a mock answer fits whole: stored
        assert (await post_chat(gw, whole)).cache == "hit-exact"
        streamed = _openai_stream("Write a short note about harbours.")
        assert (await post_chat(gw, streamed)).cache == "miss"
        assert (await post_chat(gw, streamed)).cache == "hit-exact", await _not_stored(gw)
        assert up.calls() == 2


async def test_a_key_update_of_its_cache_settings_takes_effect(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        key = await create_key(gw, name="k")
        body = chat("How do I rotate my API key?")
        assert (await post_chat(gw, body, secret=key["key"])).cache == "miss"
        async with (
            aiohttp.ClientSession() as session,
            session.patch(
                f"{gw.url}/api/enterprise/vkeys/{key['id']}",
                json={"cache": {"mode": "off"}},
                headers=ADMIN,
            ) as response,
        ):
            assert response.status == 200
            assert (await response.json())["cache"]["mode"] == "off"
        assert (await post_chat(gw, body, secret=key["key"])).cache == "bypass"
        assert up.calls() == 2
