"""Replaying a stored response as SSE: the frames' shape, and assemble(replay(body)) == body.

Round trips are checked over generated bodies (hypothesis) in the shapes the providers return for
plain requests and `stream_assemble` builds for streams; the frames themselves are parsed with the
gateway's SSE parser and checked against what OpenAI and Anthropic send (event names, usage only
where the client asked, `[DONE]`).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.cache_replay import (
    anthropic_frames,
    openai_chat_frames,
    openai_completion_frames,
    replay_frames,
    split_text,
)
from gateway.core.sse import SSEParser
from gateway.core.stream_assemble import (
    AnthropicAssembler,
    OpenAIChatAssembler,
    OpenAICompletionAssembler,
    SSECapture,
    StreamAssembler,
)
from gateway.core.translate import anthropic_response_to_openai, openai_response_to_anthropic
from mockllm import anthropic_content, openai_content

USER = [{"role": "user", "content": "How do I reset my VPN token?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assemble(assembler: StreamAssembler, frames: list[bytes]) -> Any:
    capture = SSECapture(assembler)
    for frame in frames:
        capture.feed(frame)
    result = capture.result()
    assert result.completed and not result.error
    return result.body


def parsed(frames: list[bytes]) -> list[tuple[str | None, str]]:
    parser = SSEParser()
    events = [e for frame in frames for e in parser.feed(frame)]
    assert not parser.flush()  # every frame ends with its blank line
    assert len(events) == len(frames)  # one event a frame
    return [(e.event, e.data) for e in events]


# ---------------------------------------------------------------- strategies

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=120)
words = st.lists(
    st.sampled_from(["the", "VPN", "token", "résumé", "日本語の文", "\n\n", "  ", "a,b", "🙂"]),
    max_size=40,
).map(" ".join)
prose = st.one_of(text, words)
nonempty = prose.filter(bool)
ident = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=16)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(ident, inner, max_size=4)),
    max_leaves=12,
)
json_object = st.dictionaries(ident, json_value, max_size=5)
openai_usage = st.builds(
    lambda p, c: {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": p + c,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    },
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
token_logprob = st.fixed_dictionaries(
    {
        "token": ident,
        "logprob": st.floats(-20, 0),
        "bytes": st.lists(st.integers(0, 255), max_size=4),
        "top_logprobs": st.just([]),
    }
)


@st.composite
def chat_message(draw: st.DrawFn) -> dict[str, Any]:
    calls = draw(
        st.lists(
            st.builds(
                lambda i, n, a: {
                    "id": i,
                    "type": "function",
                    "function": {"name": n, "arguments": a},
                },
                ident.map("call_{}".format),
                ident,
                st.one_of(json_object.map(lambda o: orjson.dumps(o).decode()), text),
            ),
            max_size=3,
        )
    )
    content = draw(st.one_of(st.none(), nonempty) if calls else st.one_of(st.none(), prose))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": draw(st.one_of(st.none(), nonempty)),
        "annotations": draw(
            st.lists(
                st.fixed_dictionaries({"type": st.just("url_citation"), "url": ident}), max_size=2
            )
        ),
    }
    if calls:
        message["tool_calls"] = calls
    return message


@st.composite
def chat_body(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    body: dict[str, Any] = {
        "id": draw(ident.map("chatcmpl-{}".format)),
        "object": "chat.completion",
        "created": draw(st.integers(0, 2**40)),
        "model": draw(ident),
        "choices": [
            {
                "index": i,
                "message": draw(chat_message()),
                "logprobs": draw(
                    st.one_of(
                        st.none(),
                        st.fixed_dictionaries(
                            {"content": st.lists(token_logprob, max_size=3), "refusal": st.none()}
                        ),
                    )
                ),
                "finish_reason": draw(
                    st.sampled_from(["stop", "length", "tool_calls", "content_filter"])
                ),
            }
            for i in range(n)
        ],
        "usage": draw(openai_usage),
    }
    if draw(st.booleans()):
        body["system_fingerprint"] = draw(st.one_of(st.none(), ident))
    if draw(st.booleans()):
        body["service_tier"] = "default"
    return body


@st.composite
def completion_body(draw: st.DrawFn) -> dict[str, Any]:
    choices = []
    for i in range(draw(st.integers(1, 3))):
        logprobs = None
        if draw(st.booleans()):
            tokens = draw(st.lists(ident, max_size=4))
            logprobs = {
                "tokens": tokens,
                "token_logprobs": [-0.5] * len(tokens),
                "top_logprobs": [{t: -0.5} for t in tokens],
                "text_offset": list(range(len(tokens))),
            }
        choices.append(
            {
                "text": draw(prose),
                "index": i,
                "logprobs": logprobs,
                "finish_reason": draw(st.sampled_from(["stop", "length"])),
            }
        )
    return {
        "id": "cmpl-" + draw(ident),
        "object": "text_completion",
        "created": draw(st.integers(0, 2**40)),
        "model": draw(ident),
        "system_fingerprint": draw(st.one_of(st.none(), ident)),
        "choices": choices,
        "usage": draw(openai_usage),
    }


anthropic_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, prose),
    st.builds(
        lambda t, c: {"type": "text", "text": t, "citations": c},
        prose,
        st.lists(
            st.fixed_dictionaries({"type": st.just("char_location"), "cited_text": text}),
            max_size=2,
        ),
    ),
    st.builds(lambda t, s: {"type": "thinking", "thinking": t, "signature": s}, prose, nonempty),
    st.builds(lambda d: {"type": "redacted_thinking", "data": d}, nonempty),
    st.builds(
        lambda i, n, v: {"type": "tool_use", "id": "toolu_" + i, "name": n, "input": v},
        ident,
        ident,
        json_object,
    ),
    st.builds(
        lambda i, v: {
            "type": "server_tool_use",
            "id": "srvtoolu_" + i,
            "name": "web_search",
            "input": v,
        },
        ident,
        json_object,
    ),
)


@st.composite
def anthropic_body(draw: st.DrawFn) -> dict[str, Any]:
    usage = {
        "input_tokens": draw(st.integers(0, 10**6)),
        "cache_creation_input_tokens": draw(st.integers(0, 1000)),
        "cache_read_input_tokens": draw(st.integers(0, 1000)),
        "output_tokens": draw(st.integers(0, 10**6)),
    }
    if draw(st.booleans()):
        usage["service_tier"] = "standard"
    return {
        "id": "msg_" + draw(ident),
        "type": "message",
        "role": "assistant",
        "model": draw(ident),
        "content": draw(st.lists(anthropic_block, max_size=5)),
        "stop_reason": draw(
            st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use"])
        ),
        "stop_sequence": draw(st.one_of(st.none(), nonempty)),
        "usage": usage,
    }


# ---------------------------------------------------------------- round trips


@given(prose, st.integers(1, 6))
def test_split_text_keeps_every_character(value: str, per_delta: int) -> None:
    pieces = split_text(value, per_delta)
    assert "".join(pieces) == value
    assert all(pieces)


def test_split_text_cuts_at_words_and_slices_long_runs() -> None:
    assert split_text("One two three four five six seven", 3) == [
        "One two three",
        " four five six",
        " seven",
    ]
    assert split_text("", 3) == []
    run = "x" * 60
    assert split_text(f"a {run} b", 3) == ["a", " " + "x" * 23, "x" * 24, "x" * 13, " b"]


@SETTINGS
@given(chat_body(), st.integers(1, 4))
def test_chat_round_trip(body: dict[str, Any], per_delta: int) -> None:
    frames = openai_chat_frames(body, include_usage=True, words_per_delta=per_delta)
    assert assemble(OpenAIChatAssembler(), frames) == body
    without = openai_chat_frames(body, include_usage=False, words_per_delta=per_delta)
    assert assemble(OpenAIChatAssembler(), without) == {
        k: v for k, v in body.items() if k != "usage"
    }


@SETTINGS
@given(completion_body(), st.booleans())
def test_completion_round_trip(body: dict[str, Any], include_usage: bool) -> None:
    frames = openai_completion_frames(body, include_usage=include_usage)
    expected = body if include_usage else {k: v for k, v in body.items() if k != "usage"}
    assert assemble(OpenAICompletionAssembler(), frames) == expected


@SETTINGS
@given(anthropic_body(), st.integers(1, 4))
def test_anthropic_round_trip(body: dict[str, Any], per_delta: int) -> None:
    frames = anthropic_frames(body, words_per_delta=per_delta)
    assert assemble(AnthropicAssembler(), frames) == body


@pytest.mark.parametrize("tools", [None, TOOLS])
def test_plain_bodies_from_upstreams_and_translations_round_trip(tools: Any) -> None:
    request: dict[str, Any] = {"model": "gpt-4o", "messages": USER}
    if tools:
        request["tools"] = tools
        request["tool_choice"] = "required"  # the mock calls a tool only when told to
    chat = openai_content.chat(request, created=1700000000)
    assert assemble(OpenAIChatAssembler(), openai_chat_frames(chat, include_usage=True)) == chat
    claude = openai_response_to_anthropic(chat, model="claude-x")
    assert assemble(AnthropicAssembler(), anthropic_frames(claude)) == claude
    message = anthropic_content.message({"model": "claude-x", "max_tokens": 99, "messages": USER})
    assert assemble(AnthropicAssembler(), anthropic_frames(message)) == message
    back = anthropic_response_to_openai(message, model="claude-x", created=1700000000)
    assert assemble(OpenAIChatAssembler(), openai_chat_frames(back, include_usage=True)) == back
    legacy = openai_content.completion({"model": "m", "prompt": "Once"}, created=1700000000)
    frames = openai_completion_frames(legacy, include_usage=True)
    assert assemble(OpenAICompletionAssembler(), frames) == legacy


# ---------------------------------------------------------------- the frames' shape


def test_chat_frames_have_openai_shape() -> None:
    request = {"model": "gpt-4o", "messages": USER, "tools": TOOLS, "tool_choice": "required"}
    body = openai_content.chat(request, created=1700000000)
    for include_usage in (True, False):
        frames = openai_chat_frames(body, include_usage=include_usage)
        events = parsed(frames)
        assert events[-1] == (None, "[DONE]")
        chunks = [orjson.loads(data) for _, data in events[:-1]]
        assert all(kind is None for kind, _ in events)
        assert {c["id"] for c in chunks} == {body["id"]}
        assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
        assert {c["created"] for c in chunks} == {1700000000}
        first = chunks[0]["choices"][0]["delta"]
        assert first == {"role": "assistant", "content": None, "refusal": None}
        call = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
        assert call["id"] == body["choices"][0]["message"]["tool_calls"][0]["id"]
        assert call["function"]["arguments"] == ""
        if include_usage:
            assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
            assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == body["usage"]
            assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
        else:
            assert all("usage" not in c for c in chunks)
            assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_anthropic_frames_have_anthropic_shape() -> None:
    body = anthropic_content.message({"model": "claude-x", "max_tokens": 60, "messages": USER})
    events = parsed(anthropic_frames(body))
    kinds = [kind for kind, _ in events]
    assert all(orjson.loads(data)["type"] == kind for kind, data in events)
    assert kinds[:4] == ["message_start", "ping", "content_block_start", "content_block_delta"]
    assert kinds[-4:] == [
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = orjson.loads(events[0][1])["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == body["usage"]["input_tokens"]
    assert start["usage"]["output_tokens"] == 1
    final = orjson.loads(events[-2][1])
    assert final["usage"]["output_tokens"] == body["usage"]["output_tokens"]
    assert final["delta"] == {"stop_reason": body["stop_reason"], "stop_sequence": None}


def test_replay_is_deterministic_and_dispatches_by_wire_and_route() -> None:
    chat = openai_content.chat({"model": "gpt-4o", "messages": USER}, created=1)
    legacy = openai_content.completion({"model": "m", "prompt": "Once"}, created=1)
    message = anthropic_content.message({"model": "claude-x", "max_tokens": 9, "messages": USER})
    assert replay_frames(chat, wire="openai", route="chat", include_usage=False) == (
        openai_chat_frames(chat, include_usage=False)
    )
    assert replay_frames(legacy, wire="openai", route="completions", include_usage=True) == (
        openai_completion_frames(legacy, include_usage=True)
    )
    assert replay_frames(message, wire="anthropic", route="messages", include_usage=False) == (
        anthropic_frames(message)
    )
    assert openai_chat_frames(chat, include_usage=True) == openai_chat_frames(
        chat, include_usage=True
    )
