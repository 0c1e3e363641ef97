"""Whole responses: chat.completion and Anthropic messages -> Responses `Response`, and back.

Every produced body is parsed with the official SDKs' models (openai's `Response` and
`ChatCompletion`), and recorded upstream shapes are parsed with theirs first.
"""

from __future__ import annotations

from typing import Any

from anthropic.types import Message
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from gateway.core.responses_response import (
    ANTHROPIC_THINKING,
    anthropic_response_to_responses,
    chat_response_to_responses,
    responses_response_to_chat,
)

REQUEST: dict[str, Any] = {
    "model": "gpt-4.1",
    "input": "Weather in Paris and Rome?",
    "instructions": "Be brief.",
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ],
    "metadata": {"team": "a"},
}
CHAT_TOOL_CALLS: dict[str, Any] = {
    "id": "chatcmpl-BmQ3",
    "object": "chat.completion",
    "created": 1750000000,
    "model": "gpt-4.1-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking both.",
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_p",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_r",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 80,
        "completion_tokens": 40,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 10, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_1",
}
ANTHROPIC_MESSAGE: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Need the tool.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Let me check"},
        {"type": "text", "text": " the weather."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"city": "Paris"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 20,
        "output_tokens": 30,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 100,
    },
}


def test_chat_to_response() -> None:
    ChatCompletion.model_validate(CHAT_TOOL_CALLS)
    body = chat_response_to_responses(
        CHAT_TOOL_CALLS, REQUEST, response_id="resp_abc", created_at=1750000001
    )
    response = Response.model_validate(body)
    assert response.status == "completed"
    assert response.output_text == "Checking both."
    assert [(o.type, o.id) for o in response.output] == [
        ("message", "msg_abc_0"),
        ("function_call", "fc_abc_1"),
        ("function_call", "fc_abc_2"),
    ]
    calls = [o for o in response.output if o.type == "function_call"]
    assert [(c.call_id, c.arguments) for c in calls] == [
        ("call_p", '{"city":"Paris"}'),
        ("call_r", '{"city":"Rome"}'),
    ]
    assert response.usage is not None
    assert response.usage.input_tokens == 80
    assert response.usage.input_tokens_details.cached_tokens == 64
    assert response.usage.output_tokens_details.reasoning_tokens == 10
    assert response.usage.total_tokens == 120
    assert response.instructions == "Be brief."
    assert response.metadata == {"team": "a"}
    assert response.model == "gpt-4.1-2025-04-14"


def test_chat_length_is_incomplete() -> None:
    body = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Once"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    response = Response.model_validate(
        chat_response_to_responses(
            body, {"max_output_tokens": 1}, response_id="resp_x", created_at=2
        )
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 1


def test_anthropic_to_response() -> None:
    Message.model_validate(ANTHROPIC_MESSAGE)
    body = anthropic_response_to_responses(
        ANTHROPIC_MESSAGE, REQUEST, response_id="resp_q", created_at=5
    )
    response = Response.model_validate(body)
    assert [o.type for o in response.output] == ["reasoning", "message", "function_call"]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.encrypted_content == ANTHROPIC_THINKING + "EqQBCgIYAhIM"
    assert response.output_text == "Let me check the weather."
    call = response.output[2]
    assert call.type == "function_call"
    assert call.call_id == "toolu_01A09q90qw90lq917835lq9"
    assert call.arguments == '{"city":"Paris"}'
    assert response.usage is not None
    assert response.usage.input_tokens == 125  # uncached + cache reads + cache writes
    assert response.usage.input_tokens_details.cached_tokens == 100
    assert response.usage.input_tokens_details.cache_write_tokens == 5
    assert response.usage.total_tokens == 155


def test_response_back_to_chat() -> None:
    body = chat_response_to_responses(
        CHAT_TOOL_CALLS, REQUEST, response_id="resp_abc", created_at=1750000001
    )
    chat = ChatCompletion.model_validate(responses_response_to_chat(body))
    choice = chat.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking both."
    assert [c.id for c in choice.message.tool_calls or ()] == ["call_p", "call_r"]
    assert chat.usage is not None
    assert chat.usage.prompt_tokens == 80
    assert chat.usage.prompt_tokens_details is not None
    assert chat.usage.prompt_tokens_details.cached_tokens == 64
    assert chat.created == 1750000001


def test_native_response_to_chat() -> None:
    """A Response as OpenAI's API returns it (reasoning item, refusal) -> chat."""
    native = {
        "id": "resp_68af",
        "object": "response",
        "created_at": 1756300000,
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "model": "gpt-5-2025-08-07",
        "output": [
            {"id": "rs_1", "type": "reasoning", "summary": []},
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "incomplete",
                "content": [
                    {"type": "output_text", "text": "Partial", "annotations": [], "logprobs": []}
                ],
            },
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 9,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 16,
            "output_tokens_details": {"reasoning_tokens": 12},
            "total_tokens": 25,
        },
    }
    Response.model_validate(native)
    chat = ChatCompletion.model_validate(responses_response_to_chat(native, completion_id="c-1"))
    assert chat.id == "c-1"
    assert chat.choices[0].finish_reason == "length"
    assert chat.choices[0].message.content == "Partial"
    assert chat.usage is not None
    assert chat.usage.completion_tokens_details is not None
    assert chat.usage.completion_tokens_details.reasoning_tokens == 12
