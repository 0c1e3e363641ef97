"""The official `openai` client reads what the translators produce, on the wire.

The translated Responses events are framed as SSE (`encode_response_event`) and served to
`client.responses.stream(...)` / `client.responses.create(...)` through an in-process transport;
the client's own SSE decoder, event parser and accumulator rebuild the final response. The same
for a whole Response body, and for chat chunks produced from a Responses stream.
"""

from __future__ import annotations

from typing import Any

import openai
import orjson

from gateway.core.responses_translate import (
    AnthropicToResponsesStream,
    ChatToResponsesStream,
    ResponsesToChatStream,
    chat_chunk_frame,
    chat_response_to_responses,
    encode_response_event,
)

try:  # the SDKs moved from httpx to its fork httpx2; use the one they take
    import httpx2 as sdk_httpx
except ImportError:  # pragma: no cover - older SDKs
    import httpx as sdk_httpx  # type: ignore[no-redef]

TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}


def client(body: bytes, content_type: str = "text/event-stream") -> openai.OpenAI:
    def answer(request: sdk_httpx.Request) -> sdk_httpx.Response:
        return sdk_httpx.Response(200, headers={"content-type": content_type}, content=body)

    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway.invalid/v1",
        http_client=sdk_httpx.Client(transport=sdk_httpx.MockTransport(answer)),
        max_retries=0,
    )


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-W",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "qwen2.5",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


CHAT_STREAM = [
    chunk({"role": "assistant", "content": "Sure"}),
    chunk({"content": ", checking."}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":'},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
    chunk({}, "tool_calls"),
    {
        **chunk({}),
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    },
]


def responses_sse(request: dict[str, Any]) -> bytes:
    stream = ChatToResponsesStream(request, response_id="resp_w1", created_at=100, model="qwen2.5")
    events = [e for c in CHAT_STREAM for e in stream.feed(c)] + stream.finish()
    return b"".join(encode_response_event(e) for e in events)


def test_sdk_stream_helper_rebuilds_the_response() -> None:
    request = {"model": "qwen2.5", "input": "Weather in Oslo?", "tools": [TOOL], "stream": True}
    with client(responses_sse(request)).responses.stream(
        model="qwen2.5",
        input="Weather in Oslo?",
        tools=[TOOL],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.id == "resp_w1"
    assert final.output_text == "Sure, checking."
    call = final.output[1]
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == ("call_1", "get_weather", '{"city":"Oslo"}')
    assert final.usage is not None and final.usage.total_tokens == 13


def test_sdk_create_stream_reads_every_event() -> None:
    events = list(
        client(responses_sse({"model": "m", "input": "x"})).responses.create(
            model="m", input="x", stream=True
        )
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"


def test_sdk_reads_an_anthropic_stream_translated() -> None:
    anthropic_events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hej"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    stream = AnthropicToResponsesStream({}, response_id="resp_a", created_at=1, model="claude")
    body = b"".join(encode_response_event(o) for e in anthropic_events for o in stream.feed(e))
    with client(body).responses.stream(model="claude", input="hi") as sdk_stream:
        final = sdk_stream.get_final_response()
    assert final.output_text == "Hej"
    assert final.usage is not None and final.usage.output_tokens == 2


def test_sdk_reads_a_whole_response() -> None:
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }
    body = chat_response_to_responses(
        completion, {"model": "m"}, response_id="resp_2", created_at=5
    )
    response = client(orjson.dumps(body), "application/json").responses.create(model="m", input="x")
    assert response.output_text == "Hi"
    assert response.status == "completed"


def test_sdk_chat_stream_reads_chunks_from_a_responses_stream() -> None:
    from gateway.core.sse import SSEParser

    parser = SSEParser()
    reverse = ResponsesToChatStream(
        completion_id="chatcmpl-r", created=1, model="m", include_usage=True
    )
    frames = [
        chat_chunk_frame(c)
        for event in parser.feed(responses_sse({"model": "m", "input": "x"}))
        for c in reverse.feed_sse(event)
    ]
    body = b"".join(frames) + b"data: [DONE]\n\n"
    with client(body).chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Sure, checking."
    assert [c.function.arguments for c in message.tool_calls or []] == ['{"city":"Oslo"}']
    assert final.usage is not None and final.usage.total_tokens == 13
