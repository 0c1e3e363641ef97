"""Streaming through the cache: a completed stream is stored (assembled from what the client was
sent), and a later streamed request is replayed as SSE in the original shape that the official
SDKs parse back to the same content and usage. Streamed and whole requests share entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cache_e2e import (
    CLAUDE,
    MODEL,
    ScriptedUpstream,
    anthropic_client,
    cache_gateway,
    create_key,
    openai_client,
    post_chat,
    scripted_config,
    settle,
)

from mockllm import content

from support.gateway import ADMIN_KEY, RunningGateway

QUESTION = "Which documents do I need to open a business account?"
MESSAGES = [{"role": "user", "content": QUESTION}]


async def _openai_stream(
    gw: RunningGateway, secret: str, *, include_usage: bool, model: str = MODEL
) -> dict[str, Any]:
    """One streamed chat request through the openai SDK: what it accumulated."""
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    async with openai_client(gw, secret) as sdk:
        stream = await sdk.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=200, stream=True, **options
        )
        text: list[str] = []
        usage = None
        finish = None
        ids = set()
        async for chunk in stream:
            ids.add(chunk.id)
            if chunk.usage is not None:
                usage = chunk.usage.model_dump(exclude_none=True)
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        cache = stream.response.headers["x-smartflow-cache"]
        content_type = stream.response.headers["content-type"]
    await settle(gw)
    return {
        "text": "".join(text),
        "usage": usage,
        "finish": finish,
        "ids": ids,
        "cache": cache,
        "content_type": content_type,
    }


def _expected_usage(model: str = MODEL) -> dict[str, int]:
    body = {"model": model, "messages": MESSAGES, "max_tokens": 200}
    usage = content.openai_chat(body, created=0)["usage"]
    return {name: usage[name] for name in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _core_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {name: usage[name] for name in ("prompt_tokens", "completion_tokens", "total_tokens")}


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("caller", ["virtual-key", "admin-key"])
async def test_openai_stream_is_stored_and_replayed(
    tmp_path: Path, include_usage: bool, caller: str
) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        secret = ADMIN_KEY if caller == "admin-key" else (await create_key(gw))["key"]
        original = await _openai_stream(gw, secret, include_usage=include_usage)
        assert original["cache"] == "miss"
        assert original["finish"] == "stop" and original["text"]
        replay = await _openai_stream(gw, secret, include_usage=include_usage)
        assert replay["cache"] == "hit-exact"
        assert replay["content_type"].startswith("text/event-stream")
        assert up.calls() == 1
        assert replay["text"] == original["text"]
        assert replay["finish"] == original["finish"]
        assert replay["ids"] == original["ids"]
        assert replay["usage"] == original["usage"]
        if include_usage:
            assert _core_usage(replay["usage"]) == _expected_usage()
        else:
            assert replay["usage"] is None  # as OpenAI: no usage chunk unless asked for


@pytest.mark.parametrize("caller", ["virtual-key", "admin-key"])
async def test_a_replay_with_include_usage_has_the_usage_of_a_stream_stored_without(
    tmp_path: Path, caller: str
) -> None:
    """The first client did not ask for usage; the next one does, and gets the real figures."""
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        secret = ADMIN_KEY if caller == "admin-key" else (await create_key(gw))["key"]
        original = await _openai_stream(gw, secret, include_usage=False)
        assert original["cache"] == "miss" and original["usage"] is None
        replay = await _openai_stream(gw, secret, include_usage=True)
        assert replay["cache"] == "hit-exact"
        assert replay["text"] == original["text"]
        assert _core_usage(replay["usage"]) == _expected_usage()


async def test_openai_stream_from_an_anthropic_upstream_is_replayed(tmp_path: Path) -> None:
    """The stored body is what the client received (translated), replayed in its shape."""
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        secret = (await create_key(gw))["key"]
        original = await _openai_stream(gw, secret, include_usage=True, model=CLAUDE)
        assert original["cache"] == "miss" and up.calls("/messages") == 1
        replay = await _openai_stream(gw, secret, include_usage=True, model=CLAUDE)
        assert replay["cache"] == "hit-exact"
        assert (replay["text"], replay["usage"], replay["finish"]) == (
            original["text"],
            original["usage"],
            original["finish"],
        )
        assert up.calls() == 1


async def _anthropic_stream(gw: RunningGateway, secret: str) -> tuple[dict[str, Any], str]:
    async with (
        anthropic_client(gw, secret) as sdk,
        sdk.messages.stream(model=CLAUDE, max_tokens=200, messages=MESSAGES) as stream,
    ):
        final = await stream.get_final_message()
        cache = stream.response.headers["x-smartflow-cache"]
    await settle(gw)
    return final.model_dump(), cache


@pytest.mark.parametrize("caller", ["virtual-key", "admin-key"])
async def test_anthropic_stream_is_stored_and_replayed(tmp_path: Path, caller: str) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        secret = ADMIN_KEY if caller == "admin-key" else (await create_key(gw))["key"]
        original, first = await _anthropic_stream(gw, secret)
        assert first == "miss"
        assert original["stop_reason"] == "end_turn" and original["content"][0]["text"]
        replay, second = await _anthropic_stream(gw, secret)
        assert second == "hit-exact"
        assert up.calls() == 1
        assert replay["id"] == original["id"]
        assert replay["content"] == original["content"]
        assert replay["stop_reason"] == original["stop_reason"]
        assert replay["usage"]["input_tokens"] == original["usage"]["input_tokens"]
        assert replay["usage"]["output_tokens"] == original["usage"]["output_tokens"]
        whole = content.anthropic_message(
            {"model": CLAUDE, "max_tokens": 200, "messages": MESSAGES}
        )
        assert replay["usage"]["input_tokens"] == whole["usage"]["input_tokens"]
        assert replay["usage"]["output_tokens"] == whole["usage"]["output_tokens"]


async def test_a_whole_request_hits_an_entry_written_by_a_stream_and_back(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        secret = (await create_key(gw))["key"]
        # OpenAI: streamed first, then whole
        streamed = await _openai_stream(gw, secret, include_usage=False)
        async with openai_client(gw, secret) as sdk:
            raw = await sdk.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES, max_tokens=200
            )
        whole = raw.parse()
        assert raw.headers["x-smartflow-cache"] == "hit-exact"
        assert whole.choices[0].message.content == streamed["text"]
        assert whole.choices[0].finish_reason == "stop"
        assert whole.usage is not None
        assert _core_usage(whole.usage.model_dump()) == _expected_usage()
        assert up.calls() == 1

        # Anthropic: whole first, then streamed
        body = {"model": CLAUDE, "max_tokens": 200, "messages": MESSAGES}
        first = await post_chat(gw, body, secret=secret, path="/anthropic/v1/messages")
        assert first.cache == "miss"
        replay, cache = await _anthropic_stream(gw, secret)
        assert cache == "hit-exact"
        assert [b["text"] for b in replay["content"]] == [b["text"] for b in first.body["content"]]
        assert replay["usage"]["output_tokens"] == first.body["usage"]["output_tokens"]
        assert up.calls() == 2

        # OpenAI whole first, then streamed (a new question)
        other = [{"role": "user", "content": "Can I open the account online?"}]
        async with openai_client(gw, secret) as sdk:
            whole = await sdk.chat.completions.create(model=MODEL, messages=other)
            await settle(gw)
            stream = await sdk.chat.completions.create(
                model=MODEL,
                messages=other,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
            assert stream.response.headers["x-smartflow-cache"] == "hit-exact"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole.choices[0].message.content
        usage = [c.usage for c in chunks if c.usage is not None]
        assert usage and whole.usage is not None
        assert usage[0].total_tokens == whole.usage.total_tokens
        assert up.calls() == 3


async def test_legacy_completions_stream_is_replayed(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        secret = (await create_key(gw))["key"]
        texts = []
        for expected in ("miss", "hit-exact"):
            async with openai_client(gw, secret) as sdk:
                stream = await sdk.completions.create(
                    model=MODEL, prompt="Once upon a time", max_tokens=400, stream=True
                )
                texts.append("".join([c.choices[0].text async for c in stream if c.choices]))
                assert stream.response.headers["x-smartflow-cache"] == expected
            await settle(gw)
        assert texts[0] and texts[0] == texts[1]
        assert up.calls() == 1
