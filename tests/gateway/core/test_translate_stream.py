"""Stream translation, both ways, checked with the official SDKs' stream readers.

Recorded upstream streams are encoded to bytes, split the way a socket may split them, parsed with
SSEParser, translated, and the translated bytes are then read by the openai / anthropic SDK clients
themselves (their SSE decoders and stream accumulators), through an in-process transport.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anthropic
import openai
import orjson
import pytest
from anthropic.types import RawMessageStreamEvent
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk
from pydantic import TypeAdapter

from gateway.core.sse import SSEEvent, SSEParser
from gateway.core.translate import (
    AnthropicToOpenAICompletionStream,
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_response_to_openai,
    openai_response_to_anthropic,
)

try:  # the SDKs moved from httpx to its fork httpx2; use the one they take
    import httpx2 as sdk_httpx
except ImportError:  # pragma: no cover - older SDKs
    import httpx as sdk_httpx  # type: ignore[no-redef]

STREAM_EVENT = TypeAdapter(RawMessageStreamEvent)
CREATED = 1741569952


# ---------------------------------------------------------------- recorded upstream streams


def anthropic_sse(events: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


def openai_sse(chunks: Iterable[dict[str, Any] | str]) -> bytes:
    return b"".join(
        b"data: " + (c.encode() if isinstance(c, str) else orjson.dumps(c)) + b"\n\n"
        for c in chunks
    )


def text_delta(index: int, text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


def json_delta(index: int, partial: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": partial},
    }


ANTHROPIC_TOOL_STREAM: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 472,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1024,
                "output_tokens": 2,
            },
            "content": [],
            "stop_reason": None,
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    text_delta(0, "Okay"),
    text_delta(0, ", let's check the weather for San Francisco, CA:"),
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "input": {},
        },
    },
    json_delta(1, ""),
    json_delta(1, '{"location":'),
    json_delta(1, ' "San Fra'),
    json_delta(1, 'ncisco, CA", "unit": "fah'),
    json_delta(1, 'renheit"}'),
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 89},
    },
    {"type": "message_stop"},
]
ANTHROPIC_THINKING_STREAM: list[dict[str, Any]] = [
    {**ANTHROPIC_TOOL_STREAM[0]},
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "27 * 453 = 12231"},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9G"},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    text_delta(1, "27 * 453 = 12,231"),
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": {"output_tokens": 30},
    },
    {"type": "message_stop"},
]


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {
        "id": "chatcmpl-AS0fA9hYv2wCNxGBlbQpHiAVfQHcA",
        "object": "chat.completion.chunk",
        "created": 1731408330,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_45c6de4934",
        "choices": choices,
        **extra,
    }


OPENAI_USAGE = {
    "prompt_tokens": 1117,
    "completion_tokens": 46,
    "total_tokens": 1163,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
OPENAI_TEXT_STREAM: list[dict[str, Any] | str] = [
    chunk({"role": "assistant", "content": "", "refusal": None}, usage=None),
    chunk({"content": "The image"}, usage=None),
    chunk({"content": " shows a wooden boardwalk"}, usage=None),
    chunk({"content": " — café ☕."}, usage=None),
    chunk({}, "stop", usage=None),
    chunk(None, usage=OPENAI_USAGE),
    "[DONE]",
]


def tool_piece(index: int, arguments: str, call_id: str | None = None) -> dict[str, Any]:
    piece: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        piece.update(id=call_id, type="function")
        piece["function"]["name"] = "get_weather"
    return piece


OPENAI_TOOL_STREAM: list[dict[str, Any] | str] = [
    chunk(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [tool_piece(0, "", "call_4U9TQvdD0I1YfAWFbGiJtvNK")],
            "refusal": None,
        }
    ),
    chunk({"tool_calls": [tool_piece(0, '{"lo')]}),
    chunk({"tool_calls": [tool_piece(0, 'cation": "Paris, France"}')]}),
    chunk({"tool_calls": [tool_piece(1, "", "call_Qw2VxbZ3XXnKWl0PBGm4ARQd")]}),
    chunk({"tool_calls": [tool_piece(1, '{"location": "Lyon, France"}')]}),
    chunk({}, "tool_calls"),
    chunk(None, usage={"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120}),
    "[DONE]",
]


# ---------------------------------------------------------------- helpers


def translate(translator: Any, body: bytes, chunk_size: int | None = None) -> list[bytes]:
    """Upstream bytes -> client frames, the way the pipeline drives a translator."""
    parser = SSEParser()
    size = chunk_size or len(body) or 1
    frames: list[bytes] = []
    for start in range(0, len(body), size):
        for event in parser.feed(body[start : start + size]):
            frames.extend(translator.feed(event))
    for event in parser.flush():
        frames.extend(translator.feed(event))
    frames.extend(translator.finish())
    return frames


def parse_frames(frames: list[bytes]) -> list[SSEEvent]:
    """Each frame must be exactly one complete event."""
    events = []
    for frame in frames:
        assert frame.endswith(b"\n\n")
        [event] = SSEParser().feed(frame)
        events.append(event)
    return events


def transport(body: bytes) -> sdk_httpx.Client:
    def answer(request: sdk_httpx.Request) -> sdk_httpx.Response:
        return sdk_httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return sdk_httpx.Client(transport=sdk_httpx.MockTransport(answer))


def openai_client(body: bytes) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway.invalid/v1",
        http_client=transport(body),
        max_retries=0,
    )


def anthropic_client(body: bytes) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="http://gateway.invalid",
        http_client=transport(body),
        max_retries=0,
    )


def sdk_final_message(body: bytes) -> anthropic.types.Message:
    with anthropic_client(body).messages.stream(
        model="m", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def sdk_final_completion(body: bytes) -> Any:
    with openai_client(body).chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_completion()


def to_openai(
    events: list[dict[str, Any]], include_usage: bool = True, chunk_size: int | None = None
) -> list[bytes]:
    translator = AnthropicToOpenAIStream(
        model="claude-sonnet-4-5",
        created=CREATED,
        response_id="chatcmpl-sf-1",
        include_usage=include_usage,
    )
    frames = translate(translator, anthropic_sse(events), chunk_size)
    translator.feed(SSEEvent(None, '{"type":"message_stop"}'))  # anything after the end is ignored
    return frames


def to_anthropic(
    chunks: list[dict[str, Any] | str], chunk_size: int | None = None
) -> tuple[list[bytes], OpenAIToAnthropicStream]:
    translator = OpenAIToAnthropicStream(model="gpt-4o", message_id="msg_sf_1")
    return translate(translator, openai_sse(chunks), chunk_size), translator


# ---------------------------------------------------------------- Anthropic -> OpenAI chunks


def test_anthropic_tool_stream_to_openai_chunks() -> None:
    frames = to_openai(ANTHROPIC_TOOL_STREAM)
    events = parse_frames(frames)
    assert events[-1].data == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(e.data) for e in events[:-1]]
    assert {(c.id, c.model, c.created, c.object) for c in chunks} == {
        ("chatcmpl-sf-1", "claude-sonnet-4-5", CREATED, "chat.completion.chunk")
    }
    first = chunks[0].choices[0]
    assert (first.delta.role, first.delta.content, first.finish_reason) == ("assistant", "", None)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Okay, let's check the weather for San Francisco, CA:"
    )
    calls = [
        c.choices[0].delta.tool_calls[0]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    opening = calls[0]
    assert (opening.index, opening.id, opening.type) == (
        0,
        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "function",
    )
    assert opening.function is not None and opening.function.name == "get_weather"
    assert all(
        c.id is None and c.function is not None and c.function.name is None for c in calls[1:]
    )
    assert len(calls) == 5  # the empty first partial_json is not sent
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert (
        usage_chunk.usage.prompt_tokens,
        usage_chunk.usage.completion_tokens,
        usage_chunk.usage.total_tokens,
    ) == (1496, 89, 1585)
    assert usage_chunk.usage.prompt_tokens_details is not None
    assert usage_chunk.usage.prompt_tokens_details.cached_tokens == 1024
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_and_whole_translations_agree() -> None:
    """What the openai SDK assembles from our chunks = our translation of the assembled message."""
    message = sdk_final_message(anthropic_sse(ANTHROPIC_TOOL_STREAM))
    expected = anthropic_response_to_openai(
        message.model_dump(), model="claude-sonnet-4-5", created=CREATED
    )
    completion = sdk_final_completion(b"".join(to_openai(ANTHROPIC_TOOL_STREAM)))
    got, want = completion.choices[0], expected["choices"][0]
    assert got.message.content == want["message"]["content"]
    assert got.finish_reason == want["finish_reason"] == "tool_calls"
    [call] = got.message.tool_calls
    [want_call] = want["message"]["tool_calls"]
    assert (call.id, call.function.name) == (want_call["id"], want_call["function"]["name"])
    assert orjson.loads(call.function.arguments) == orjson.loads(want_call["function"]["arguments"])
    assert completion.usage.model_dump(exclude_none=True) == expected["usage"]


def test_translator_reports_usage() -> None:
    translator = AnthropicToOpenAIStream(model="m", created=1, response_id="r", include_usage=False)
    assert translator.usage is None
    translate(translator, anthropic_sse(ANTHROPIC_TOOL_STREAM))
    assert translator.usage == {
        "prompt_tokens": 1496,
        "completion_tokens": 89,
        "total_tokens": 1585,
    }


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_any_upstream_split_gives_the_same_frames(chunk_size: int) -> None:
    assert to_openai(ANTHROPIC_TOOL_STREAM, chunk_size=chunk_size) == to_openai(
        ANTHROPIC_TOOL_STREAM
    )


def test_without_include_usage() -> None:
    events = parse_frames(to_openai(ANTHROPIC_TOOL_STREAM, include_usage=False))
    assert events[-1].data == "[DONE]"
    raw = [orjson.loads(e.data) for e in events[:-1]]
    assert all("usage" not in c and c["choices"] for c in raw)
    assert raw[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_thinking_is_skipped_and_max_tokens_is_length() -> None:
    body = b"".join(to_openai(ANTHROPIC_THINKING_STREAM))
    # (the SDK's .stream() helper refuses finish_reason "length", so read the raw chunks)
    with openai_client(body).chat.completions.create(model="m", messages=[], stream=True) as stream:
        chunks = [c for c in stream if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "27 * 453 = 12,231"
    assert chunks[-1].choices[0].finish_reason == "length"


def test_anthropic_error_event_becomes_an_openai_error() -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    frames = to_openai([*ANTHROPIC_TOOL_STREAM[:4], overloaded, *ANTHROPIC_TOOL_STREAM[4:]])
    last = orjson.loads(parse_frames(frames)[-1].data)
    assert last == {
        "error": {"message": "Overloaded", "type": "api_error", "param": None, "code": "overloaded"}
    }
    with pytest.raises(openai.APIError, match="Overloaded"):
        sdk_final_completion(b"".join(frames))


def test_truncated_anthropic_stream_ends_with_an_error() -> None:
    frames = to_openai(ANTHROPIC_TOOL_STREAM[:6])
    assert b"[DONE]" not in b"".join(frames)
    assert (
        "ended before the response was complete"
        in orjson.loads(parse_frames(frames)[-1].data)["error"]["message"]
    )
    with pytest.raises(openai.APIError):
        sdk_final_completion(b"".join(frames))


def test_anthropic_stream_to_text_completion_chunks() -> None:
    translator = AnthropicToOpenAICompletionStream(
        model="claude-haiku-4-5", created=CREATED, response_id="cmpl-sf-1", include_usage=True
    )
    events = parse_frames(translate(translator, anthropic_sse(ANTHROPIC_THINKING_STREAM)))
    assert events[-1].data == "[DONE]"
    raw = [orjson.loads(e.data) for e in events[:-1]]
    for c in raw[:-2]:  # OpenAI streams finish_reason null, which the SDK model types as required
        assert c["choices"][0]["finish_reason"] is None
        c["choices"][0]["finish_reason"] = "stop"
    chunks = [Completion.model_validate(c) for c in raw]
    assert {c.object for c in chunks} == {"text_completion"}
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "27 * 453 = 12,231"
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 30
    with openai_client(
        b"".join(
            translate(
                AnthropicToOpenAICompletionStream(
                    model="m", created=1, response_id="c", include_usage=False
                ),
                anthropic_sse(ANTHROPIC_TOOL_STREAM),
            )
        )
    ).completions.create(model="m", prompt="hi", stream=True) as stream:
        parts = list(stream)
    assert (
        "".join(p.choices[0].text for p in parts)
        == "Okay, let's check the weather for San Francisco, CA:"
    )
    assert parts[-1].choices[0].finish_reason == "stop"


# ---------------------------------------------------------------- OpenAI chunks -> Anthropic events


def check_events(frames: list[bytes]) -> list[dict[str, Any]]:
    """Every frame is a valid Anthropic stream event whose SSE name is its type."""
    out = []
    for event in parse_frames(frames):
        data = orjson.loads(event.data)
        assert event.event == data["type"]
        if data["type"] != "error":
            STREAM_EVENT.validate_python(data)
        out.append(data)
    return out


def test_openai_text_stream_to_anthropic_events() -> None:
    frames, translator = to_anthropic(OPENAI_TEXT_STREAM)
    events = check_events(frames)
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0]["message"]["id"] == "msg_sf_1"
    assert events[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 93,
            "output_tokens": 46,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1024,
        },
    }
    assert translator.usage == {"input_tokens": 93, "output_tokens": 46}
    message = sdk_final_message(b"".join(frames))
    whole = openai_response_to_anthropic(
        {
            "id": "msg_sf_1",
            "choices": [
                {
                    "message": {"content": "The image shows a wooden boardwalk — café ☕."},
                    "finish_reason": "stop",
                }
            ],
            "usage": OPENAI_USAGE,
        },
        model="gpt-4o",
    )
    assert message.model_dump(exclude_none=True) == anthropic.types.Message.model_validate(
        whole
    ).model_dump(exclude_none=True)


def test_openai_tool_stream_to_anthropic_events() -> None:
    frames, _ = to_anthropic(OPENAI_TOOL_STREAM)
    events = check_events(frames)
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [(s["index"], s["content_block"]["id"]) for s in starts] == [
        (0, "call_4U9TQvdD0I1YfAWFbGiJtvNK"),
        (1, "call_Qw2VxbZ3XXnKWl0PBGm4ARQd"),
    ]
    assert [e["index"] for e in events if e["type"] == "content_block_stop"] == [0, 1]
    message = sdk_final_message(b"".join(frames))
    assert message.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in message.content] == [  # type: ignore[union-attr]
        ("tool_use", "get_weather", {"location": "Paris, France"}),
        ("tool_use", "get_weather", {"location": "Lyon, France"}),
    ]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (80, 40)


@pytest.mark.parametrize("chunk_size", [1, 13])
def test_openai_stream_any_split(chunk_size: int) -> None:
    assert to_anthropic(OPENAI_TOOL_STREAM, chunk_size)[0] == to_anthropic(OPENAI_TOOL_STREAM)[0]


def test_upstream_that_never_reports_usage() -> None:
    no_usage = [c for c in OPENAI_TEXT_STREAM if isinstance(c, str) or c["choices"]]
    frames, translator = to_anthropic(no_usage)
    events = check_events(frames)
    assert events[-2]["usage"] == {"output_tokens": 0}
    assert translator.usage is None
    assert sdk_final_message(b"".join(frames)).usage.output_tokens == 0


def test_usage_in_the_finish_chunk_and_no_done() -> None:
    """vLLM-style: usage rides on the finish chunk; some servers close without [DONE]."""
    chunks: list[dict[str, Any] | str] = [
        chunk({"role": "assistant", "content": "Hi"}),
        chunk({}, "length", usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}),
    ]
    frames, translator = to_anthropic(chunks)
    message = sdk_final_message(b"".join(frames))
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 1)
    assert translator.usage == {"input_tokens": 5, "output_tokens": 1}


def test_azure_filter_chunk_refusal_and_done_without_finish_reason() -> None:
    azure_first = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    frames, _ = to_anthropic(
        [azure_first, chunk({"role": "assistant", "refusal": "I can't help with that."}), "[DONE]"]
    )
    message = sdk_final_message(b"".join(frames))
    assert message.stop_reason == "refusal"
    assert message.content[0].text == "I can't help with that."  # type: ignore[union-attr]


def test_tool_calls_without_index() -> None:
    """Some OpenAI-compatible servers send whole calls, several per chunk, without `index`."""
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    frames, _ = to_anthropic(
        [chunk({"role": "assistant", "tool_calls": calls}), chunk({}, "tool_calls"), "[DONE]"]
    )
    message = sdk_final_message(b"".join(frames))
    assert [(b.id, b.input) for b in message.content] == [("call_a", {"x": 1}), ("call_b", {})]  # type: ignore[union-attr]


def test_openai_error_chunk_becomes_an_anthropic_error_event() -> None:
    error = {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    frames, _ = to_anthropic([*OPENAI_TEXT_STREAM[:2], error, *OPENAI_TEXT_STREAM[2:]])
    events = check_events(frames)
    assert events[-1] == {
        "type": "error",
        "error": {"type": "api_error", "message": error["error"]["message"]},
    }
    with pytest.raises(anthropic.APIError, match="server had an error"):
        sdk_final_message(b"".join(frames))


def test_truncated_openai_stream_ends_with_an_error() -> None:
    frames, _ = to_anthropic(OPENAI_TEXT_STREAM[:3])
    events = check_events(frames)
    assert events[-1]["type"] == "error"
    assert not any(e["type"] == "message_stop" for e in events)
    with pytest.raises(anthropic.APIError):
        sdk_final_message(b"".join(frames))


def test_empty_but_complete_stream() -> None:
    frames, _ = to_anthropic(["[DONE]"])
    assert [e["type"] for e in check_events(frames)] == [
        "message_start",
        "message_delta",
        "message_stop",
    ]
    assert sdk_final_message(b"".join(frames)).content == []
