"""Replayed cache entries read by the official SDKs, over real HTTP on loopback.

An aiohttp server answers streamed requests with `cache_replay` frames of a stored body, the way
the gateway answers a streamed request from its cache; the openai and anthropic SDKs' own stream
readers and accumulators must rebuild exactly the stored answer (text, tool calls, usage, ids).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from gateway.core.cache_replay import replay_frames
from mockllm import anthropic_content, openai_content

CREATED = 1741569952
USER = [{"role": "user", "content": "Which documents do I need to open a business account?"}]
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "find_branch",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "open_now": {"type": "boolean"}},
                "required": ["city"],
            },
        },
    }
]
ANTHROPIC_TOOLS = [
    {"name": "find_branch", "input_schema": OPENAI_TOOLS[0]["function"]["parameters"]}  # type: ignore[index]
]
RICH_MESSAGE = {
    "id": "msg_01RichReplay",
    "type": "message",
    "role": "assistant",
    "model": "claude-replay",
    "content": [
        {"type": "thinking", "thinking": "The user wants the list.", "signature": "EqQBCgIYAhIM"},
        {
            "type": "text",
            "text": "You need a passport, proof of address and the registration.",
            "citations": None,
        },
        {
            "type": "tool_use",
            "id": "toolu_01A",
            "name": "find_branch",
            "input": {"city": "Lyon", "open_now": True},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 321,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 40,
        "output_tokens": 57,
        "service_tier": "standard",
    },
}


@dataclass
class Replayer:
    url: str = ""
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)


REPLAYER = web.AppKey("replayer", Replayer)


async def _serve(request: web.Request) -> web.StreamResponse:
    replayer = request.app[REPLAYER]
    body = await request.json()
    replayer.requests.append(body)
    route = request.match_info["route"]
    wire = "anthropic" if route == "messages" else "openai"
    options = body.get("stream_options") or {}
    frames = replay_frames(
        replayer.stored[route],
        wire=wire,
        route="chat" if route == "chat/completions" else route,
        include_usage=options.get("include_usage") is True,
    )
    response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    for frame in frames:  # one write a frame: the client sees them arrive one by one
        await response.write(frame)
    await response.write_eof()
    return response


@pytest.fixture
async def replayer() -> AsyncIterator[Replayer]:
    state = Replayer()
    app = web.Application()
    app[REPLAYER] = state
    app.router.add_post("/v1/{route:chat/completions|completions|messages}", _serve)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    state.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


def oai(replayer: Replayer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=replayer.url + "/v1", api_key="sk-test", max_retries=0)


def claude(replayer: Replayer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=replayer.url, api_key="sk-test", max_retries=0)


async def test_openai_stream_true_chunks_add_up_to_the_stored_answer(replayer: Replayer) -> None:
    stored = openai_content.chat({"model": "gpt-4o", "messages": USER}, created=CREATED)
    replayer.stored["chat/completions"] = stored
    async with oai(replayer) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert len(chunks) > 3
    assert {c.id for c in chunks} == {stored["id"]}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == stored["choices"][0]["message"]["content"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_none=True) == stored["usage"]


async def test_openai_stream_without_include_usage_has_no_usage(replayer: Replayer) -> None:
    stored = openai_content.chat({"model": "gpt-4o", "messages": USER}, created=CREATED)
    replayer.stored["chat/completions"] = stored
    async with oai(replayer) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


@pytest.mark.parametrize("tools", [None, OPENAI_TOOLS], ids=["text", "tool-call"])
async def test_openai_stream_helper_final_completion_equals_the_stored_one(
    replayer: Replayer, tools: list[dict[str, Any]] | None
) -> None:
    request: dict[str, Any] = {"model": "gpt-4o", "messages": USER}
    if tools:
        request["tools"] = tools
        request["tool_choice"] = "required"  # the mock calls a tool only when told to
    stored = openai_content.chat(request, created=CREATED)
    assert ("tool_calls" in stored["choices"][0]["message"]) == bool(tools)
    replayer.stored["chat/completions"] = stored
    async with oai(replayer) as client:
        async with client.chat.completions.stream(
            **request, stream_options={"include_usage": True}
        ) as stream:
            final = await stream.get_final_completion()
    assert final.id == stored["id"] and final.created == CREATED and final.model == "gpt-4o"
    assert final.system_fingerprint == stored["system_fingerprint"]
    choice, expected = final.choices[0], stored["choices"][0]
    assert choice.finish_reason == expected["finish_reason"]
    assert choice.message.content == expected["message"]["content"]
    calls = [
        c.model_dump(exclude={"index": True, "function": {"parsed_arguments"}})
        for c in choice.message.tool_calls or ()
    ]
    assert calls == expected["message"].get("tool_calls", [])
    assert final.usage is not None
    assert final.usage.model_dump(exclude_none=True) == stored["usage"]


async def test_openai_legacy_completion_stream(replayer: Replayer) -> None:
    stored = openai_content.completion(
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Dear customer,"}, created=CREATED
    )
    replayer.stored["completions"] = stored
    async with oai(replayer) as client:
        stream = await client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Dear customer,",
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == stored["choices"][0]["text"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == stored["usage"]["total_tokens"]


@pytest.mark.parametrize("kind", ["text", "tool", "rich"])
async def test_anthropic_final_message_equals_the_stored_message(
    replayer: Replayer, kind: str
) -> None:
    request: dict[str, Any] = {"model": "claude-x", "max_tokens": 300, "messages": USER}
    if kind == "tool":
        request["tools"] = ANTHROPIC_TOOLS
        request["tool_choice"] = {"type": "any"}  # the mock calls a tool only when told to
    stored = RICH_MESSAGE if kind == "rich" else anthropic_content.message(request)
    assert kind == "rich" or (stored["stop_reason"] == "tool_use") == (kind == "tool")
    replayer.stored["messages"] = stored
    async with claude(replayer) as client:
        async with client.messages.stream(**request) as stream:
            texts = [piece async for piece in stream.text_stream]
            final = await stream.get_final_message()
    text = "".join(b["text"] for b in stored["content"] if b["type"] == "text")
    assert "".join(texts) == text
    assert len(texts) > 1 or len(text.split()) <= 3
    assert final.model_dump(exclude_none=True) == _without_none(stored)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
