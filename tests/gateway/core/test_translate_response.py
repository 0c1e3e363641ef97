"""Whole-response and error translation, checked by parsing the output with the SDK models."""

from __future__ import annotations

from typing import Any

import anthropic.types
import openai.types
import pytest
from openai.types.chat import ChatCompletion

from gateway.core.translate import (
    anthropic_error_to_openai,
    anthropic_response_to_openai,
    anthropic_response_to_openai_completion,
    openai_error_to_anthropic,
    openai_response_to_anthropic,
)

CREATED = 1741569952

# Recorded shapes (ids and counts as the APIs return them).
ANTHROPIC_TEXT = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 503,
        "service_tier": "standard",
    },
}
ANTHROPIC_TOOL_USE = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-1-20250805",
    "content": [
        {
            "type": "thinking",
            "thinking": "The user wants weather.",
            "signature": "EqQBCgIYAhIM1gbcDa9G",
        },
        {"type": "text", "text": "I'll check the weather."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1800,
        "output_tokens": 71,
    },
}
OPENAI_TEXT = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The image shows a wooden boardwalk.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "length",
        }
    ],
    "usage": {
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
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}
OPENAI_TOOL_CALLS = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1699896916,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{\n"location": "Boston, MA"\n}',
                        },
                    },
                    {
                        "id": "call_def456",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{"location": "Paris',
                        },
                    },
                ],
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
}


def test_anthropic_text_to_chat_completion() -> None:
    out = anthropic_response_to_openai(ANTHROPIC_TEXT, model="claude-sonnet-4-5", created=CREATED)
    parsed = ChatCompletion.model_validate(out)
    assert parsed.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert parsed.object == "chat.completion"
    assert parsed.created == CREATED
    assert parsed.model == "claude-sonnet-4-5"
    choice = parsed.choices[0]
    assert (choice.finish_reason, choice.logprobs) == ("stop", None)
    assert choice.message.content == "Hi! My name is Claude."
    assert choice.message.tool_calls is None
    assert choice.message.refusal is None
    assert parsed.usage is not None
    assert (
        parsed.usage.prompt_tokens,
        parsed.usage.completion_tokens,
        parsed.usage.total_tokens,
    ) == (
        2095,
        503,
        2598,
    )


def test_anthropic_tool_use_to_chat_completion() -> None:
    out = anthropic_response_to_openai(ANTHROPIC_TOOL_USE, model="claude-opus-4-1", created=CREATED)
    parsed = ChatCompletion.model_validate(out)
    message = parsed.choices[0].message
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert message.content == "I'll check the weather."  # thinking is left out
    assert message.tool_calls is not None
    [call] = message.tool_calls
    assert call.type == "function"
    assert call.id == "toolu_01A09q90qw90lq917835lq9"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"location":"San Francisco, CA","unit":"celsius"}'
    # Total input is uncached + cache writes + cache reads; reads are the cached part.
    assert out["usage"] == {
        "prompt_tokens": 1912,
        "completion_tokens": 71,
        "total_tokens": 1983,
        "prompt_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 100},
    }


def test_only_tool_calls_means_content_none() -> None:
    body = {**ANTHROPIC_TOOL_USE, "content": ANTHROPIC_TOOL_USE["content"][2:]}
    message = anthropic_response_to_openai(body, model="m", created=CREATED)["choices"][0][
        "message"
    ]
    assert message["content"] is None
    assert len(message["tool_calls"]) == 1


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "stop"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        (None, "stop"),
    ],
)
def test_stop_reasons(stop_reason: str | None, finish_reason: str) -> None:
    out = anthropic_response_to_openai(
        {**ANTHROPIC_TEXT, "stop_reason": stop_reason}, model="m", created=1
    )
    assert ChatCompletion.model_validate(out).choices[0].finish_reason == finish_reason


def test_anthropic_to_text_completion() -> None:
    body = {**ANTHROPIC_TEXT, "stop_reason": "max_tokens"}
    out = anthropic_response_to_openai_completion(body, model="claude-haiku-4-5", created=CREATED)
    parsed = openai.types.Completion.model_validate(out)
    assert parsed.object == "text_completion"
    assert parsed.choices[0].text == "Hi! My name is Claude."
    assert parsed.choices[0].finish_reason == "length"
    assert parsed.usage is not None and parsed.usage.total_tokens == 2598
    tool = anthropic_response_to_openai_completion(ANTHROPIC_TOOL_USE, model="m", created=CREATED)
    assert openai.types.Completion.model_validate(tool).choices[0].finish_reason == "stop"


def test_openai_text_to_anthropic_message() -> None:
    out = openai_response_to_anthropic(OPENAI_TEXT, model="gpt-4o")
    parsed = anthropic.types.Message.model_validate(out)
    assert parsed.id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert (parsed.type, parsed.role, parsed.model) == ("message", "assistant", "gpt-4o")
    assert [block.type for block in parsed.content] == ["text"]
    assert parsed.content[0].text == "The image shows a wooden boardwalk."  # type: ignore[union-attr]
    assert (parsed.stop_reason, parsed.stop_sequence) == ("max_tokens", None)
    assert out["usage"] == {
        "input_tokens": 93,  # 1117 prompt tokens, 1024 of them read from the cache
        "output_tokens": 46,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1024,
    }


def test_openai_tool_calls_to_anthropic_message() -> None:
    out = openai_response_to_anthropic(OPENAI_TOOL_CALLS, model="gpt-4o-mini")
    parsed = anthropic.types.Message.model_validate(out)
    assert parsed.stop_reason == "tool_use"
    first, second = parsed.content
    assert first.type == "tool_use" and second.type == "tool_use"
    assert (first.id, first.name, first.input) == (
        "call_abc123",
        "get_current_weather",
        {"location": "Boston, MA"},
    )
    assert second.input == {"_raw_arguments": '{"location": "Paris'}  # broken JSON is kept


def test_openai_refusal_to_anthropic_message() -> None:
    body = {
        **OPENAI_TEXT,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": "I'm sorry, I can't help with that.",
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    parsed = anthropic.types.Message.model_validate(openai_response_to_anthropic(body, model="m"))
    assert parsed.stop_reason == "refusal"
    assert parsed.content[0].text == "I'm sorry, I can't help with that."  # type: ignore[union-attr]


def test_openai_compatible_oddities() -> None:
    """No usage (some servers), content parts in the message, an empty answer."""
    body: dict[str, Any] = {
        "id": "cmpl-7f0e",
        "object": "chat.completion",
        "created": 1,
        "model": "llama-3.1-8b",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
                "finish_reason": "stop",
            }
        ],
    }
    out = anthropic.types.Message.model_validate(openai_response_to_anthropic(body, model="llama"))
    assert out.content[0].text == "Hello"  # type: ignore[union-attr]
    assert (out.usage.input_tokens, out.usage.output_tokens) == (0, 0)
    empty = openai_response_to_anthropic({**body, "choices": []}, model="llama")
    assert anthropic.types.Message.model_validate(empty).content == []


def test_message_round_trip_keeps_meaning() -> None:
    back = openai_response_to_anthropic(
        anthropic_response_to_openai(ANTHROPIC_TOOL_USE, model="m", created=1), model="m"
    )
    assert back["content"] == ANTHROPIC_TOOL_USE["content"][1:]
    assert back["stop_reason"] == "tool_use"
    assert back["usage"] == {
        "input_tokens": 12,
        "output_tokens": 71,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1800,
    }


# ---------------------------------------------------------------- errors

ANTHROPIC_ERRORS = [
    (
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": "req_011",
        },
        ("api_error", "overloaded"),
    ),
    (
        {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "Number of request tokens has exceeded your per-minute rate limit",
            },
        },
        ("rate_limit_error", "rate_limit_exceeded"),
    ),
    (
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
        },
        ("invalid_request_error", None),
    ),
    (
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        },
        ("authentication_error", "invalid_api_key"),
    ),
    (
        {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-9"}},
        ("invalid_request_error", "not_found"),
    ),
]


@pytest.mark.parametrize(("body", "expected"), ANTHROPIC_ERRORS)
def test_anthropic_error_to_openai(body: dict[str, Any], expected: tuple[str, str | None]) -> None:
    out = anthropic_error_to_openai(body)
    error = openai.types.ErrorObject.model_validate(out["error"])
    assert (error.type, error.code) == expected
    assert error.message == body["error"]["message"]
    assert set(out["error"]) == {"message", "type", "param", "code"}


OPENAI_ERRORS = [
    (
        {
            "error": {
                "message": "Incorrect API key provided: sk-abc.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        "authentication_error",
    ),
    (
        {
            "error": {
                "message": "Rate limit reached for gpt-4o",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
        "rate_limit_error",
    ),
    (
        {
            "error": {
                "message": "The model `gpt-9` does not exist",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        },
        "not_found_error",
    ),
    (
        {
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
        "billing_error",
    ),
    (
        {
            "error": {
                "message": "'messages' is a required property",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
        "invalid_request_error",
    ),
    (
        {
            "error": {
                "message": "The server had an error",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
        "api_error",
    ),
]


@pytest.mark.parametrize(("body", "expected_type"), OPENAI_ERRORS)
def test_openai_error_to_anthropic(body: dict[str, Any], expected_type: str) -> None:
    out = openai_error_to_anthropic(body)
    parsed = anthropic.types.ErrorResponse.model_validate(out)
    assert parsed.error.type == expected_type
    assert parsed.error.message == body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detail": "Not Found"}, "Not Found"),  # FastAPI-based servers (vLLM)
        ({"error": "model 'llama9' not found"}, "model 'llama9' not found"),  # Ollama
        ({"message": "Internal Server Error"}, "Internal Server Error"),
        ({"error": {"code": 500}}, '{"code":500}'),
        ({}, "upstream error"),
        (None, "upstream error"),
        (["a"], "['a']"),
        ("Bad Gateway", "Bad Gateway"),
    ],
)
def test_odd_error_bodies_never_raise(body: Any, message: str) -> None:
    to_anthropic = anthropic.types.ErrorResponse.model_validate(openai_error_to_anthropic(body))
    assert to_anthropic.error.message == message
    to_openai = openai.types.ErrorObject.model_validate(anthropic_error_to_openai(body)["error"])
    assert (to_openai.message, to_openai.type) == (message, "api_error")
