"""Streams to and from the Responses API, checked with the official SDKs' own stream readers.

Recorded upstream streams (chat.completion.chunk, Anthropic events; each parsed with its SDK's
model first) are translated; every produced event is parsed with openai's `ResponseStreamEvent`
union, the events are framed as SSE and read back, and the stream is fed to the SDK's own
accumulator (`ResponseStreamState`) to prove it rebuilds the right final response. The reverse
translation is read by `ChatCompletionStreamState`, the chat accumulator of the same SDK.
"""

from __future__ import annotations

from typing import Any

import orjson
from anthropic.types import RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._types import omit
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ParsedResponse, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.core.responses_chat_stream import ResponsesToChatStream, chat_chunk_frame
from gateway.core.responses_response import anthropic_response_to_responses
from gateway.core.responses_stream import (
    AnthropicToResponsesStream,
    ChatToResponsesStream,
    encode_response_event,
)
from gateway.core.sse import SSEEvent, SSEParser

EVENT = TypeAdapter(ResponseStreamEvent)
ANTHROPIC_EVENT = TypeAdapter(RawMessageStreamEvent)
REQUEST: dict[str, Any] = {"model": "gpt-4.1", "input": "hi", "stream": True}
TEXT_ITEM = [
    "response.output_item.added",
    "response.content_part.added",
]
TEXT_DONE = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-C1",
        "object": "chat.completion.chunk",
        "created": 1750000000,
        "model": "gpt-4.1-2025-04-14",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


USAGE_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-C1",
    "object": "chat.completion.chunk",
    "created": 1750000000,
    "model": "gpt-4.1-2025-04-14",
    "choices": [],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 7,
        "total_tokens": 19,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
CHAT_TEXT = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Hello"}),
    chunk({"content": " there"}),
    chunk({}, "stop"),
    USAGE_CHUNK,
]


def tool_delta(
    index: int, *, id_: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id_:
        call.update(id=id_, type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


CHAT_TOOLS = [
    chunk({"role": "assistant", "content": None}),
    chunk(tool_delta(0, id_="call_p", name="get_weather")),
    chunk(tool_delta(0, args='{"city":')),
    chunk(tool_delta(0, args='"Paris"}')),
    chunk(tool_delta(1, id_="call_r", name="get_weather")),
    chunk(tool_delta(1, args='{"city":"Rome"}')),
    chunk({}, "tool_calls"),
    USAGE_CHUNK,
]


def translate_chat(chunks: list[dict[str, Any]], *, done: bool = True) -> list[dict[str, Any]]:
    for c in chunks:
        if "error" not in c:  # error bodies are not chunks
            ChatCompletionChunk.model_validate(c)
    stream = ChatToResponsesStream(
        REQUEST, response_id="resp_s1", created_at=1750000001, model="gpt-4.1"
    )
    events = [e for c in chunks for e in stream.feed(c)]
    if done:
        events += stream.feed_sse(SSEEvent(None, "[DONE]"))
    return events + stream.finish()


def replay(events: list[dict[str, Any]]) -> ParsedResponse[object] | None:
    """Frame the events as SSE, parse them back, validate each, run the SDK's accumulator."""
    wire = b"".join(encode_response_event(e) for e in events)
    parser = SSEParser()
    parsed = [*parser.feed(wire[:7]), *parser.feed(wire[7:]), *parser.flush()]
    assert [p.event for p in parsed] == [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    state: ResponseStreamState[object] = ResponseStreamState(input_tools=omit, text_format=omit)
    for frame in parsed:
        state.handle_event(EVENT.validate_python(orjson.loads(frame.data)))
    return state._completed_response


def test_chat_text_stream_order_and_final_response() -> None:
    events = translate_chat(CHAT_TEXT)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        *TEXT_ITEM,
        "response.output_text.delta",
        "response.output_text.delta",
        *TEXT_DONE,
        "response.completed",
    ]
    final = replay(events)
    assert final is not None
    assert final.id == "resp_s1"
    assert final.status == "completed"
    assert final.output_text == "Hello there"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 7)
    assert events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["output"] == []


def test_chat_several_tool_calls() -> None:
    events = translate_chat(CHAT_TOOLS)
    call_events = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        call_events[0],
        "response.function_call_arguments.delta",
        *call_events[1:],
        *call_events,
        "response.completed",
    ]
    final = replay(events)
    assert final is not None
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.id, c.call_id, c.arguments) for c in calls] == [
        ("fc_s1_0", "call_p", '{"city":"Paris"}'),
        ("fc_s1_1", "call_r", '{"city":"Rome"}'),
    ]


def test_chat_length_ends_incomplete_and_cut_stream_fails() -> None:
    events = translate_chat([chunk({"content": "Once upon"}), chunk({}, "length"), USAGE_CHUNK])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    replay(events)
    cut = translate_chat([chunk({"content": "Once upon"})], done=False)
    assert cut[-1]["type"] == "response.failed"
    assert cut[-1]["response"]["error"]["code"] == "server_error"
    replay(cut)
    error = translate_chat([{"error": {"message": "boom", "type": "server_error"}}], done=False)
    assert [e["type"] for e in error][-1] == "response.failed"


ANTHROPIC_STREAM: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 100},
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Need the tool."},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "text_delta", "text": "Let me check"},
    },
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "text_delta", "text": " the weather."},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "content_block_start",
        "index": 3,
        "content_block": {
            "type": "tool_use",
            "id": "toolu_01A",
            "name": "get_weather",
            "input": {},
        },
    },
    {
        "type": "content_block_delta",
        "index": 3,
        "delta": {"type": "input_json_delta", "partial_json": ""},
    },
    {
        "type": "content_block_delta",
        "index": 3,
        "delta": {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'},
    },
    {"type": "content_block_stop", "index": 3},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 30},
    },
    {"type": "message_stop"},
]
ANTHROPIC_MESSAGE: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Need the tool.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Let me check"},
        {"type": "text", "text": " the weather."},
        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 30, "cache_read_input_tokens": 100},
}


def translate_anthropic(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for e in events:
        if e["type"] not in ("ping", "error"):  # the SDK's union leaves these two out
            ANTHROPIC_EVENT.validate_python(e)
    stream = AnthropicToResponsesStream(
        REQUEST, response_id="resp_a1", created_at=7, model="claude"
    )
    out = [
        o for e in events for o in stream.feed_sse(SSEEvent(e["type"], orjson.dumps(e).decode()))
    ]
    return out + stream.finish()


def test_anthropic_stream_order_and_final_response() -> None:
    events = translate_anthropic(ANTHROPIC_STREAM)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        *TEXT_ITEM,
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.content_part.added",
        "response.output_text.delta",
        *TEXT_DONE,
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = replay(events)
    assert final is not None
    assert final.output_text == "Let me check the weather."
    assert final.usage is not None
    assert final.usage.input_tokens == 120
    assert final.usage.output_tokens == 30
    # The stream's final response is the one the whole-message translation gives.
    whole = anthropic_response_to_responses(
        ANTHROPIC_MESSAGE, REQUEST, response_id="resp_a1", created_at=7
    )
    streamed = events[-1]["response"]

    def normal(items: list[dict[str, Any]]) -> list[dict[str, Any]]:  # JSON text spacing aside
        return [
            {**i, "arguments": orjson.loads(i["arguments"])} if "arguments" in i else i
            for i in items
        ]

    assert normal(streamed["output"]) == normal(whole["output"])
    assert streamed["usage"] == whole["usage"]


def test_anthropic_error_and_cut_stream_fail() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = translate_anthropic([ANTHROPIC_STREAM[0], error])
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["message"] == "Overloaded"
    replay(events)
    cut = translate_anthropic(ANTHROPIC_STREAM[:8])
    assert cut[-1]["type"] == "response.failed"
    replay(cut)


def back_to_chat(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    stream = ResponsesToChatStream(
        completion_id="chatcmpl-R", created=9, model="gpt-4.1", include_usage=True
    )
    chunks = [c for e in events for c in stream.feed(e)] + stream.finish()
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for c in chunks:
        assert chat_chunk_frame(c).startswith(b"data: {")
        state.handle_chunk(ChatCompletionChunk.model_validate(c))
    return chunks, state.get_final_completion()


def test_responses_events_back_to_chat_chunks() -> None:
    chunks, completion = back_to_chat(translate_chat(CHAT_TOOLS))
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.arguments) for c in message.tool_calls] == [
        ("call_p", '{"city":"Paris"}'),
        ("call_r", '{"city":"Rome"}'),
    ]
    assert chunks[-1]["usage"]["total_tokens"] == 19
    _, text = back_to_chat(translate_chat(CHAT_TEXT))
    assert text.choices[0].message.content == "Hello there"
    assert text.choices[0].finish_reason == "stop"


def test_failed_responses_stream_gives_an_error_chunk() -> None:
    stream = ResponsesToChatStream(completion_id="c", created=1, model="m", include_usage=False)
    events = translate_chat([chunk({"content": "Hi"})], done=False)
    chunks = [c for e in events for c in stream.feed(e)]
    assert chunks[-1]["error"]["message"].startswith("the upstream stream ended")
    assert stream.finish() == []
    open_stream = ResponsesToChatStream(
        completion_id="c", created=1, model="m", include_usage=False
    )
    open_stream.feed(events[0])
    assert "error" in open_stream.finish()[0]


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=10),
    calls=st.lists(st.lists(st.text(min_size=1, max_size=6), max_size=4), max_size=3),
)
def test_any_split_rebuilds_the_same_response(pieces: list[str], calls: list[list[str]]) -> None:
    """However the upstream splits text and arguments, the SDK rebuilds exactly the same output."""
    chunks = [chunk({"content": p}) for p in pieces]
    for i, parts in enumerate(calls):
        chunks.append(chunk(tool_delta(i, id_=f"call_{i}", name="f")))
        chunks.extend(chunk(tool_delta(i, args=a)) for a in parts)
    chunks += [chunk({}, "tool_calls" if calls else "stop"), USAGE_CHUNK]
    events = translate_chat(chunks)
    final = replay(events)
    assert final is not None
    assert final.output_text == "".join(pieces)
    got = [o.arguments for o in final.output if o.type == "function_call"]
    assert got == ["".join(parts) or "{}" for parts in calls]
    _, completion = back_to_chat(events)
    assert completion.choices[0].message.content == "".join(pieces)


def test_chat_reasoning_content_becomes_a_reasoning_item() -> None:
    """vLLM and DeepSeek stream their reasoning as `reasoning_content` before the answer."""
    events = translate_chat(
        [
            chunk({"role": "assistant", "reasoning_content": "Think"}),
            chunk({"reasoning_content": "ing."}),
            chunk({"content": "Answer"}),
            chunk({}, "stop"),
            USAGE_CHUNK,
        ]
    )
    final = replay(events)
    assert final is not None
    assert [o.type for o in final.output] == ["reasoning", "message"]
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.content is not None
    assert reasoning.content[0].text == "Thinking."
    assert final.output_text == "Answer"
    assert "response.reasoning_text.delta" in [e["type"] for e in events]


def test_anthropic_tool_input_sent_whole_at_block_start() -> None:
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"a": 1}},
    }
    stop_events = [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]
    final = replay(translate_anthropic([ANTHROPIC_STREAM[0], start, *stop_events]))
    assert final is not None
    call = final.output[0]
    assert call.type == "function_call"
    assert call.arguments == '{"a":1}'


@settings(max_examples=40, deadline=None)
@given(pieces=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8))
def test_any_anthropic_split_rebuilds_the_same_response(pieces: list[str]) -> None:
    deltas = [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        for p in pieces
    ]
    events = [
        ANTHROPIC_STREAM[0],
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *deltas,
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    ]
    final = replay(translate_anthropic(events))
    assert final is not None
    assert final.status == "completed"
    assert final.output_text == "".join(pieces)
