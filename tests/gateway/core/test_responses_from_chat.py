"""Chat Completions request -> Responses request (a chat client served by a Responses upstream).

Each produced input item parses as the openai SDK's `ResponseInputItem`, each tool as its
`FunctionTool`; and the round trip chat -> Responses -> chat gives the conversation back.
"""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import FunctionTool, ResponseInputItem
from pydantic import TypeAdapter

from gateway.core.errors import InvalidRequest
from gateway.core.responses_translate import chat_request_to_responses, responses_request_to_chat

INPUT_ITEM = TypeAdapter(ResponseInputItem)
CHAT: dict[str, Any] = {
    "model": "gpt-4.1",
    "messages": [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/p.png", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "21C"},
        {"role": "assistant", "content": "It is 21C."},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        }
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "max_completion_tokens": 100,
    "temperature": 0.3,
    "reasoning_effort": "low",
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
    },
    "stream": True,
    "stream_options": {"include_usage": True},
    "seed": 7,
}


def test_chat_request_to_responses() -> None:
    out = chat_request_to_responses(CHAT)
    for item in out["input"]:
        INPUT_ITEM.validate_python(item)
    for tool in out["tools"]:
        FunctionTool.model_validate(tool)
    assert [i.get("role") or i["type"] for i in out["input"]] == [
        "developer",
        "user",
        "function_call",
        "function_call_output",
        "assistant",
        "user",
    ]
    assert out["input"][1]["content"][1] == {
        "type": "input_image",
        "image_url": "https://x.test/p.png",
        "detail": "low",
    }
    assert out["store"] is False
    assert out["max_output_tokens"] == 100
    assert out["reasoning"] == {"effort": "low"}
    assert out["text"]["format"] == {
        "type": "json_schema",
        "name": "w",
        "schema": {"type": "object"},
        "strict": True,
    }
    assert out["parallel_tool_calls"] is False
    assert "seed" not in out
    assert "stream_options" not in out


def test_round_trip_gives_the_conversation_back() -> None:
    back = responses_request_to_chat(chat_request_to_responses(CHAT))
    assert back["messages"] == CHAT["messages"]
    assert back["tools"] == CHAT["tools"]
    assert back["response_format"] == CHAT["response_format"]
    assert back["max_completion_tokens"] == 100
    assert back["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"stop": ["\n"]}, "stop"),
        ({"logprobs": True}, "logprobs"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
    ],
)
def test_what_cannot_be_carried_is_refused(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat_request_to_responses({**CHAT, **extra})
    assert caught.value.param == param
