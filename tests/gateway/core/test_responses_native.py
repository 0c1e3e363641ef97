"""A native Responses upstream answering a chat client: OpenAI's own event stream -> chat chunks.

The recorded stream has what the real API sends and the translation must read past: a reasoning
item with summary events, `obfuscation` fields, a function call whose added item already carries
its name and call id, and `response.completed` with the full output and usage. It is parsed with
the openai SDK's event union and, after translation, read by its chat stream accumulator.
"""

from __future__ import annotations

from typing import Any

from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.core.responses_chat_stream import ResponsesToChatStream

EVENT = TypeAdapter(ResponseStreamEvent)
RESPONSE: dict[str, Any] = {
    "id": "resp_68b1",
    "object": "response",
    "created_at": 1756400000,
    "status": "in_progress",
    "model": "gpt-5-2025-08-07",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
REASONING = {"id": "rs_68b1", "type": "reasoning", "summary": []}
MESSAGE = {"id": "msg_68b1", "type": "message", "role": "assistant", "status": "in_progress"}
CALL = {
    "id": "fc_68b1",
    "type": "function_call",
    "status": "in_progress",
    "arguments": "",
    "call_id": "call_Xy",
    "name": "get_weather",
}
TEXT = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
USAGE = {
    "input_tokens": 50,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 70,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 120,
}


def native_stream() -> list[dict[str, Any]]:
    final_message = {**MESSAGE, "status": "completed", "content": [{**TEXT, "text": "Checking."}]}
    final_call = {**CALL, "status": "completed", "arguments": '{"city":"Paris"}'}
    summary = {"type": "summary_text", "text": "Weather lookup."}
    where = {"item_id": "rs_68b1", "output_index": 0, "summary_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": RESPONSE},
        {"type": "response.in_progress", "response": RESPONSE},
        {"type": "response.output_item.added", "output_index": 0, "item": REASONING},
        {"type": "response.reasoning_summary_part.added", **where, "part": {**summary, "text": ""}},
        {
            "type": "response.reasoning_summary_text.delta",
            **where,
            "delta": "Weather lookup.",
            "obfuscation": "x",
        },
        {"type": "response.reasoning_summary_text.done", **where, "text": "Weather lookup."},
        {"type": "response.reasoning_summary_part.done", **where, "part": summary},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**REASONING, "summary": [summary]},
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {**MESSAGE, "content": []},
        },
        {
            "type": "response.content_part.added",
            "item_id": "msg_68b1",
            "output_index": 1,
            "content_index": 0,
            "part": TEXT,
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_68b1",
            "output_index": 1,
            "content_index": 0,
            "delta": "Checking",
            "logprobs": [],
            "obfuscation": "ab",
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_68b1",
            "output_index": 1,
            "content_index": 0,
            "delta": ".",
            "logprobs": [],
            "obfuscation": "abcd",
        },
        {
            "type": "response.output_text.done",
            "item_id": "msg_68b1",
            "output_index": 1,
            "content_index": 0,
            "text": "Checking.",
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "item_id": "msg_68b1",
            "output_index": 1,
            "content_index": 0,
            "part": {**TEXT, "text": "Checking."},
        },
        {"type": "response.output_item.done", "output_index": 1, "item": final_message},
        {"type": "response.output_item.added", "output_index": 2, "item": CALL},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_68b1",
            "output_index": 2,
            "delta": '{"city":',
            "obfuscation": "q",
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_68b1",
            "output_index": 2,
            "delta": '"Paris"}',
            "obfuscation": "q",
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_68b1",
            "output_index": 2,
            "arguments": '{"city":"Paris"}',
        },
        {"type": "response.output_item.done", "output_index": 2, "item": final_call},
        {
            "type": "response.completed",
            "response": {
                **RESPONSE,
                "status": "completed",
                "output": [{**REASONING, "summary": [summary]}, final_message, final_call],
                "usage": USAGE,
            },
        },
    ]
    return [{**e, "sequence_number": n} for n, e in enumerate(events)]


def test_native_stream_to_chat_chunks() -> None:
    events = native_stream()
    for event in events:
        EVENT.validate_python(event)
    stream = ResponsesToChatStream(
        completion_id="chatcmpl-N", created=1756400000, model="gpt-5", include_usage=True
    )
    chunks = [c for e in events for c in stream.feed(e)] + stream.finish()
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for c in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(c))
    completion = state.get_final_completion()
    choice = completion.choices[0]
    assert choice.message.content == "Checking."
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_Xy", "get_weather", '{"city":"Paris"}')
    ]
    assert completion.usage is not None
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 64
    assert stream.usage is not None and stream.usage["total_tokens"] == 120


def test_native_error_event_ends_the_chat_stream() -> None:
    stream = ResponsesToChatStream(completion_id="c", created=1, model="m", include_usage=False)
    error = {
        "type": "error",
        "sequence_number": 2,
        "code": "rate_limit_exceeded",
        "message": "Slow down",
    }
    EVENT.validate_python(error)
    chunks = [c for e in [*native_stream()[:2], error] for c in stream.feed(e)]
    assert chunks == [
        {
            "error": {
                "message": "Slow down",
                "type": "api_error",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
    ]
    assert stream.finish() == []
