"""Assembling what a client received into the whole response.

The mock upstream gives both forms of one answer (its stream and its plain body are functions of
the same request), so an assembled mock stream must equal the mock's plain body exactly; the
gateway's own stream translations must assemble to the plain translations; and the wire-level
cases real providers produce (tool calls without index, repeated names, logprobs, refusals,
thinking with signatures, citations, errors mid-stream, cut streams) are checked one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pytest

from gateway.core.sse import SSEParser
from gateway.core.stream_assemble import (
    AnthropicAssembler,
    AssembledStream,
    OpenAIChatAssembler,
    OpenAICompletionAssembler,
    SSECapture,
    StreamAssembler,
    assembler_for,
)
from gateway.core.translate import (
    AnthropicToOpenAICompletionStream,
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_response_to_openai,
    anthropic_response_to_openai_completion,
    openai_response_to_anthropic,
)
from mockllm import anthropic_content, openai_content

CREATED = 1741569952
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": WEATHER}]
USER = [{"role": "user", "content": "What should I pack for a week in Lisbon?"}]


def capture(assembler: StreamAssembler, frames: Iterable[bytes], step: int = 0) -> AssembledStream:
    """Feed raw bytes, split every `step` bytes (0: frame by frame), as a socket may split them."""
    cap = SSECapture(assembler)
    raw = b"".join(frames)
    if step:
        for i in range(0, len(raw), step):
            cap.feed(raw[i : i + step])
    else:
        cap.feed(raw)
    return cap.result()


def events(assembler: StreamAssembler, items: Iterable[dict[str, Any] | str]) -> AssembledStream:
    for item in items:
        assembler.feed(item if isinstance(item, str) else orjson.dumps(item))
    return assembler.result()


def plain(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("stream", "stream_options")}


# ---------------------------------------------------------------- the mock's two forms agree

CHAT_REQUESTS = {
    "text": {"model": "gpt-4o", "messages": USER},
    "tool": {"model": "gpt-4o", "messages": USER, "tools": OPENAI_TOOLS, "tool_choice": "required"},
    "json": {"model": "gpt-4o", "messages": USER, "response_format": {"type": "json_object"}},
    "two choices": {"model": "gpt-4o", "messages": USER, "n": 2},
    "cut": {"model": "gpt-4o", "messages": USER, "max_tokens": 3},
}


@pytest.mark.parametrize("usage", [True, False])
@pytest.mark.parametrize("name", list(CHAT_REQUESTS))
def test_mock_chat_stream_assembles_to_its_plain_body(name: str, usage: bool) -> None:
    request = {**CHAT_REQUESTS[name], "stream": True}
    if usage:
        request["stream_options"] = {"include_usage": True}
    frames = openai_content.chat_stream_frames(request, created=CREATED).frames
    expected = openai_content.chat(plain(request), created=CREATED)
    if not usage:
        del expected["usage"]
    for step in (0, 1, 7):
        got = capture(OpenAIChatAssembler(), frames, step)
        assert got == AssembledStream(expected, completed=True, error=False)


@pytest.mark.parametrize(
    "extra", [{}, {"n": 2}, {"echo": True}, {"prompt": ["one", "two"]}, {"max_tokens": 2}]
)
def test_mock_completion_stream_assembles_to_its_plain_body(extra: dict[str, Any]) -> None:
    request = {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time", **extra}
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    frames = openai_content.completion_stream_frames(streamed, created=CREATED).frames
    got = capture(OpenAICompletionAssembler(), frames, 5)
    expected = openai_content.completion(request, created=CREATED)
    assert got == AssembledStream(expected, completed=True, error=False)


@pytest.mark.parametrize(
    "request_",
    [
        {"model": "claude-x", "max_tokens": 200, "messages": USER},
        {
            "model": "claude-x",
            "max_tokens": 200,
            "messages": USER,
            "tools": ANTHROPIC_TOOLS,
            "tool_choice": {"type": "any"},  # the mock calls a tool only when told to
        },
        {"model": "claude-x", "max_tokens": 3, "messages": USER},
        {"model": "claude-x", "max_tokens": 200, "messages": USER, "stop_sequences": ["e"]},
    ],
    ids=["text", "tool", "cut", "stop-sequence"],
)
def test_mock_anthropic_stream_assembles_to_its_message(request_: dict[str, Any]) -> None:
    frames = anthropic_content.message_stream_frames(request_).frames
    for step in (0, 3):
        got = capture(AnthropicAssembler(), frames, step)
        assert got == AssembledStream(anthropic_content.message(request_), True, False)


# ---------------------------------------------------------------- after the gateway's translation


def translated(translator: Any, frames: list[bytes]) -> list[bytes]:
    parser = SSEParser()
    out = [f for frame in frames for event in parser.feed(frame) for f in translator.feed(event)]
    return out + [f for e in parser.flush() for f in translator.feed(e)] + translator.finish()


@pytest.mark.parametrize("tools", [None, ANTHROPIC_TOOLS])
def test_anthropic_upstream_translated_to_chat_assembles_like_the_plain_translation(
    tools: list[dict[str, Any]] | None,
) -> None:
    request: dict[str, Any] = {"model": "claude-x", "max_tokens": 200, "messages": USER}
    if tools:
        request["tools"] = tools
        request["tool_choice"] = {"type": "any"}  # the mock calls a tool only when told to
    message = anthropic_content.message(request)
    translator = AnthropicToOpenAIStream(
        model="claude-x", created=CREATED, response_id=message["id"], include_usage=True
    )
    frames = translated(translator, anthropic_content.message_stream_frames(request).frames)
    got = capture(OpenAIChatAssembler(), frames)
    expected = anthropic_response_to_openai(message, model="claude-x", created=CREATED)
    assert got.completed and not got.error
    assert got.body is not None
    # the stream carries the upstream's JSON text, the plain translation re-encodes it compactly
    for body in (got.body, expected):
        for call in body["choices"][0]["message"].get("tool_calls", ()):
            call["function"]["arguments"] = orjson.loads(call["function"]["arguments"])
    assert got.body == expected


def test_anthropic_upstream_translated_to_completions_assembles_like_the_plain_translation() -> (
    None
):
    request = {"model": "claude-x", "max_tokens": 200, "messages": USER}
    message = anthropic_content.message(request)
    translator = AnthropicToOpenAICompletionStream(
        model="claude-x", created=CREATED, response_id=message["id"], include_usage=True
    )
    frames = translated(translator, anthropic_content.message_stream_frames(request).frames)
    got = capture(OpenAICompletionAssembler(), frames)
    expected = anthropic_response_to_openai_completion(message, model="claude-x", created=CREATED)
    assert got.completed and got.body == expected


@pytest.mark.parametrize("tools", [None, OPENAI_TOOLS])
def test_openai_upstream_translated_to_anthropic_assembles_like_the_plain_translation(
    tools: list[dict[str, Any]] | None,
) -> None:
    request: dict[str, Any] = {"model": "gpt-4o", "messages": USER}
    if tools:
        request["tools"] = tools
        request["tool_choice"] = "required"  # the mock calls a tool only when told to
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    chat = openai_content.chat(request, created=CREATED)
    translator = OpenAIToAnthropicStream(model="gpt-4o", message_id=chat["id"])
    frames = translated(
        translator, openai_content.chat_stream_frames(streamed, created=CREATED).frames
    )
    got = capture(AnthropicAssembler(), frames)
    assert got.completed and not got.error
    assert got.body == openai_response_to_anthropic(chat, model="gpt-4o")


# ---------------------------------------------------------------- completeness and errors


def test_a_chat_stream_cut_before_its_finish_reason_is_incomplete() -> None:
    request = {"model": "gpt-4o", "messages": USER, "n": 2, "stream": True}
    frames = openai_content.chat_stream_frames(request, created=CREATED).frames
    finals = [i for i, f in enumerate(frames) if b'"finish_reason":"' in f]
    assert len(finals) == 2
    got = capture(OpenAIChatAssembler(), frames[: finals[1]])  # one choice finished, not both
    assert got.body is not None and not got.completed and not got.error
    assert got.body["choices"][1]["finish_reason"] is None


def test_an_anthropic_stream_without_message_stop_is_incomplete() -> None:
    request = {"model": "claude-x", "max_tokens": 100, "messages": USER}
    frames = anthropic_content.message_stream_frames(request).frames
    got = capture(AnthropicAssembler(), frames[:-1])
    assert got.body is not None and got.body["stop_reason"] == "end_turn"
    assert not got.completed and not got.error


def test_nothing_received_gives_no_body() -> None:
    for name in ("chat", "completions", "messages"):
        assembler = assembler_for("anthropic" if name == "messages" else "openai", name)
        assert capture(assembler, [b": keep-alive\n\n", b"data: [DONE]\n\n"]) == AssembledStream(
            None, False, False
        )


def test_an_openai_error_frame_marks_the_stream_failed() -> None:
    request = {"model": "gpt-4o", "messages": USER, "stream": True}
    frames = openai_content.chat_stream_frames(request, created=CREATED).frames
    error = b'data: {"error":{"message":"upstream went away","type":"api_error"}}\n\n'
    got = capture(OpenAIChatAssembler(), [*frames[:3], error])
    assert got.error and not got.completed
    # even when a finish_reason came before the error
    got = capture(OpenAIChatAssembler(), [*frames[:-1], error])
    assert got.error and not got.completed


def test_an_anthropic_error_event_marks_the_stream_failed() -> None:
    request = {"model": "claude-x", "max_tokens": 100, "messages": USER}
    frames = anthropic_content.message_stream_frames(request).frames
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n'
    got = capture(AnthropicAssembler(), [*frames[:3], error, *frames[3:]])
    assert got.error and not got.completed


def test_capture_past_max_bytes_reports_oversize_and_keeps_nothing() -> None:
    request = {"model": "gpt-4o", "messages": USER, "stream": True}
    frames = openai_content.chat_stream_frames(request, created=CREATED).frames
    cap = SSECapture(OpenAIChatAssembler(), max_bytes=len(frames[0]) + 10)
    for frame in frames:
        cap.feed(frame)
    assert cap.result() == AssembledStream(None, completed=False, error=False, oversize=True)
    roomy = SSECapture(OpenAIChatAssembler(), max_bytes=sum(map(len, frames)))
    for frame in frames:
        roomy.feed(frame)
    assert roomy.result().completed


def test_assembler_for_picks_by_wire_and_route() -> None:
    assert isinstance(assembler_for("openai", "chat"), OpenAIChatAssembler)
    assert isinstance(assembler_for("openai", "completions"), OpenAICompletionAssembler)
    assert isinstance(assembler_for("anthropic", "messages"), AnthropicAssembler)


# ---------------------------------------------------------------- shapes seen on the wire


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> Any:
    choice = {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}
    choice.update(extra.pop("choice", {}))
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m"} | {
        "choices": [choice],
        **extra,
    }


def test_tool_calls_without_index_are_told_apart_by_id_and_names_are_not_repeated() -> None:
    got = events(
        OpenAIChatAssembler(),
        [
            chunk({"role": "assistant", "content": None}),
            chunk({"tool_calls": [{"id": "a", "type": "function", "function": {"name": "f"}}]}),
            chunk({"tool_calls": [{"function": {"name": "f", "arguments": '{"x":'}}]}),
            chunk({"tool_calls": [{"function": {"arguments": "1}"}}]}),
            chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
            chunk(finish="tool_calls"),
            "[DONE]",
        ],
    )
    message = got.body["choices"][0]["message"] if got.body else {}
    assert got.completed
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]


def test_refusal_logprobs_and_legacy_function_call() -> None:
    lp1 = {"content": [{"token": "No", "logprob": -0.1, "bytes": [78], "top_logprobs": []}]}
    lp2 = {"content": [{"token": ".", "logprob": -0.2, "bytes": [46], "top_logprobs": []}]}
    got = events(
        OpenAIChatAssembler(),
        [
            chunk({"role": "assistant", "content": "", "refusal": None}, system_fingerprint=None),
            chunk({"refusal": "I can't"}, choice={"logprobs": lp1}),
            chunk({"refusal": " help."}, choice={"logprobs": lp2}),
            chunk({"function_call": {"name": "lookup", "arguments": ""}}),
            chunk({"function_call": {"arguments": '{"q": 1}'}}),
            chunk(finish="stop", usage=None),
            chunk(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
            | {"choices": []},
        ],
    )
    assert got.body is not None and got.completed
    choice = got.body["choices"][0]
    assert choice["message"]["refusal"] == "I can't help."
    assert choice["message"]["content"] == ""
    assert choice["message"]["function_call"] == {"name": "lookup", "arguments": '{"q": 1}'}
    assert choice["logprobs"] == {"content": lp1["content"] + lp2["content"]}
    assert got.body["usage"]["total_tokens"] == 7
    assert got.body["system_fingerprint"] is None


def test_unparseable_and_unknown_frames_are_skipped() -> None:
    got = events(
        OpenAIChatAssembler(),
        [
            "not json",
            "[1, 2]",
            chunk({"role": "assistant", "content": "Hi"}, obfuscation="xyz"),
            chunk({"content": " there"}, choice={"content_filter_results": {}}),
            chunk(finish="stop"),
        ],
    )
    assert got.completed and got.body is not None
    assert got.body["choices"][0]["message"]["content"] == "Hi there"
    assert "obfuscation" not in got.body


def anthropic_stream(*blocks: tuple[dict[str, Any], list[dict[str, Any]]]) -> list[Any]:
    out: list[Any] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 0},
            },
        },
        {"type": "ping"},
    ]
    for index, (block, deltas) in enumerate(blocks):
        out.append({"type": "content_block_start", "index": index, "content_block": block})
        out += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        out.append({"type": "content_block_stop", "index": index})
    out.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 40, "server_tool_use": {"web_search_requests": 1}},
        }
    )
    out.append({"type": "message_stop"})
    return out


def test_anthropic_thinking_citations_server_tools_and_redacted_blocks() -> None:
    citation = {"type": "web_search_result_location", "url": "https://x.test", "cited_text": "c"}
    result_block = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [{"type": "web_search_result", "url": "https://x.test", "title": "X"}],
    }
    got = events(
        AnthropicAssembler(),
        anthropic_stream(
            (
                {"type": "thinking", "thinking": "", "signature": ""},
                [
                    {"type": "thinking_delta", "thinking": "Let me "},
                    {"type": "thinking_delta", "thinking": "think."},
                    {"type": "signature_delta", "signature": "EqQBCgIYAh"},
                ],
            ),
            ({"type": "redacted_thinking", "data": "EmwKAhgB"}, []),
            (
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                [
                    {"type": "input_json_delta", "partial_json": ""},
                    {"type": "input_json_delta", "partial_json": '{"query": "lis'},
                    {"type": "input_json_delta", "partial_json": 'bon weather"}'},
                ],
            ),
            (result_block, []),
            (
                {"type": "text", "text": "", "citations": []},
                [
                    {"type": "citations_delta", "citation": citation},
                    {"type": "text_delta", "text": "Mild, "},
                    {"type": "text_delta", "text": "with rain."},
                ],
            ),
            ({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}, []),
            (
                {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}},
                [{"type": "input_json_delta", "partial_json": '{"broken": '}],
            ),
        ),
    )
    assert got.completed and not got.error and got.body is not None
    assert got.body["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCgIYAh"},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "lisbon weather"},
        },
        result_block,
        {"type": "text", "text": "Mild, with rain.", "citations": [citation]},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        {
            "type": "tool_use",
            "id": "toolu_2",
            "name": "g",
            "input": {"_raw_arguments": '{"broken": '},
        },
    ]
    assert got.body["stop_reason"] == "end_turn"
    assert got.body["usage"] == {
        "input_tokens": 12,
        "output_tokens": 40,
        "cache_read_input_tokens": 0,
        "server_tool_use": {"web_search_requests": 1},
    }


def test_result_can_be_taken_twice() -> None:
    assembler = AnthropicAssembler()
    for event in anthropic_stream(
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "a"}])
    ):
        assembler.feed(orjson.dumps(event))
    assert assembler.result() == assembler.result()
    assert assembler.result().body["content"] == [{"type": "text", "text": "a"}]  # type: ignore[index]
