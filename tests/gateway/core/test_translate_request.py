"""Request translation, checked against the official SDKs' request types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from anthropic.types import message_create_params
from openai.types import completion_create_params
from openai.types.chat import completion_create_params as chat_create_params
from pydantic import TypeAdapter

from gateway.core.errors import InvalidRequest
from gateway.core.translate import (
    anthropic_request_to_openai,
    openai_completion_request_to_anthropic,
    openai_request_to_anthropic,
)

ANTHROPIC_PARAMS = TypeAdapter(message_create_params.MessageCreateParamsNonStreaming)
ANTHROPIC_STREAM_PARAMS = TypeAdapter(message_create_params.MessageCreateParamsStreaming)
OPENAI_PARAMS = TypeAdapter(chat_create_params.CompletionCreateParamsNonStreaming)
OPENAI_STREAM_PARAMS = TypeAdapter(chat_create_params.CompletionCreateParamsStreaming)
OPENAI_COMPLETION_PARAMS = TypeAdapter(completion_create_params.CompletionCreateParamsNonStreaming)

PNG_B64 = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
    "additionalProperties": False,
}


def force(value: Any) -> Any:
    """Walk a validated TypedDict: the SDKs type arrays as Iterable, checked lazily by pydantic."""
    if isinstance(value, dict):
        return {key: force(item) for key, item in value.items()}
    if isinstance(value, list | tuple | Iterator):
        return [force(item) for item in value]
    return value


def valid_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    adapter = ANTHROPIC_STREAM_PARAMS if body.get("stream") else ANTHROPIC_PARAMS
    force(adapter.validate_python(body))
    return body


def valid_openai(body: dict[str, Any]) -> dict[str, Any]:
    adapter = OPENAI_STREAM_PARAMS if body.get("stream") else OPENAI_PARAMS
    force(adapter.validate_python(body))
    return body


# A multi-turn agent conversation as the openai SDK sends it.
OPENAI_CONVERSATION: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "messages": [
        {"role": "system", "content": "You are a helpful travel assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What's the weather where this photo was taken?"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "high"},
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/paris.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me check both cities.",
            "tool_calls": [
                {
                    "id": "call_8GkqbqIS3aS4DO0CfM9MHzbw",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"location":"Paris, France","unit":"celsius"}',
                    },
                },
                {
                    "id": "call_Qw2VxbZ3XXnKWl0PBGm4ARQd",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Lyon, France"}'},
                },
            ],
            "refusal": None,
        },
        {
            "role": "tool",
            "tool_call_id": "call_8GkqbqIS3aS4DO0CfM9MHzbw",
            "content": '{"temperature": 18, "conditions": "cloudy"}',
        },
        {
            "role": "tool",
            "tool_call_id": "call_Qw2VxbZ3XXnKWl0PBGm4ARQd",
            "content": [{"type": "text", "text": '{"temperature": 21}'}],
        },
        {"role": "user", "content": "Which one is warmer?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get current temperature for a given location.",
                "parameters": WEATHER_SCHEMA,
                "strict": True,
            },
        }
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "max_completion_tokens": 1024,
    "temperature": 0.7,
    "top_p": 0.9,
    "stop": ["\n\nHuman:"],
    "user": "user-1234",
    "frequency_penalty": 0.5,
    "seed": 42,
}


def test_openai_conversation_to_anthropic() -> None:
    out = valid_anthropic(openai_request_to_anthropic(OPENAI_CONVERSATION))
    assert out == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are a helpful travel assistant.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What's the weather where this photo was taken?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/paris.jpg"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check both cities."},
                    {
                        "type": "tool_use",
                        "id": "call_8GkqbqIS3aS4DO0CfM9MHzbw",
                        "name": "get_weather",
                        "input": {"location": "Paris, France", "unit": "celsius"},
                    },
                    {
                        "type": "tool_use",
                        "id": "call_Qw2VxbZ3XXnKWl0PBGm4ARQd",
                        "name": "get_weather",
                        "input": {"location": "Lyon, France"},
                    },
                ],
            },
            {
                "role": "user",  # both tool results and the next question: one user turn
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_8GkqbqIS3aS4DO0CfM9MHzbw",
                        "content": '{"temperature": 18, "conditions": "cloudy"}',
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_Qw2VxbZ3XXnKWl0PBGm4ARQd",
                        "content": [{"type": "text", "text": '{"temperature": 21}'}],
                    },
                    {"type": "text", "text": "Which one is warmer?"},
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Get current temperature for a given location.",
                "input_schema": WEATHER_SCHEMA,
            }
        ],
        "tool_choice": {"type": "auto"},
        "temperature": 0.7,
        "top_p": 0.9,
        "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "user-1234"},
    }


def test_input_is_not_mutated() -> None:
    before = orjson.dumps(OPENAI_CONVERSATION)
    openai_request_to_anthropic(OPENAI_CONVERSATION)
    assert orjson.dumps(OPENAI_CONVERSATION) == before


def test_system_and_developer_messages_become_system_blocks() -> None:
    out = openai_request_to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "And again"},
            ],
        }
    )
    valid_anthropic(out)
    assert out["system"] == [
        {"type": "text", "text": "Be terse."},
        {"type": "text", "text": "Answer in French."},
    ]
    assert out["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "And again"}],
        }
    ]


def test_tool_results_open_the_merged_user_turn() -> None:
    out = openai_request_to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "Look it up"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": ""},
                        }
                    ],
                },
                {"role": "user", "content": "also this"},
                {"role": "tool", "tool_call_id": "call_1", "content": "found"},
            ],
        }
    )
    valid_anthropic(out)
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {}}
    ]
    assert [b["type"] for b in out["messages"][2]["content"]] == ["tool_result", "text"]


def test_tool_ids_are_made_acceptable_to_anthropic() -> None:
    call = {"id": "functions.get_weather:0", "type": "function"}
    call["function"] = {"name": "get_weather", "arguments": '{"location": "Oslo"}'}
    out = openai_request_to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "-3 C"},
            ],
        }
    )
    valid_anthropic(out)
    assert out["messages"][1]["content"][0]["id"] == "functions_get_weather_0"
    assert out["messages"][2]["content"][0]["tool_use_id"] == "functions_get_weather_0"


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, None, None),
    ],
)
def test_tool_choice(tool_choice: Any, parallel: Any, expected: Any) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": OPENAI_CONVERSATION["tools"],
    }
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    out = valid_anthropic(openai_request_to_anthropic(body))
    assert out.get("tool_choice") == expected


@pytest.mark.parametrize(
    ("extra", "expected_max"),
    [({}, 4096), ({"max_tokens": 50}, 50), ({"max_tokens": 50, "max_completion_tokens": 70}, 70)],
)
def test_max_tokens(extra: dict[str, Any], expected_max: int) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    assert openai_request_to_anthropic(body)["max_tokens"] == expected_max
    assert openai_request_to_anthropic(body, default_max_tokens=99)["max_tokens"] == (
        99 if not extra else expected_max
    )


def test_sampling_options() -> None:
    out = openai_request_to_anthropic(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 1.6,
            "stop": "END",
            "stream": True,
            "stream_options": {"include_usage": True},
            "safety_identifier": "hashed-user",
            "n": 1,
        }
    )
    valid_anthropic(out)
    assert out["temperature"] == 1  # OpenAI allows up to 2, Anthropic up to 1
    assert out["stop_sequences"] == ["END"]
    assert out["stream"] is True
    assert "stream_options" not in out
    assert out["metadata"] == {"user_id": "hashed-user"}


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA, "strict": True},
        },
    ],
)
def test_json_mode_becomes_a_system_instruction(response_format: dict[str, Any]) -> None:
    out = openai_request_to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Paris?"},
            ],
            "response_format": response_format,
        }
    )
    valid_anthropic(out)
    first, instruction = out["system"]
    assert first == {"type": "text", "text": "Be terse."}
    assert "JSON object" in instruction["text"]
    if response_format["type"] == "json_schema":
        assert orjson.dumps(WEATHER_SCHEMA).decode() in instruction["text"]


def test_pdf_file_part_becomes_a_document() -> None:
    out = openai_request_to_anthropic(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "file",
                            "file": {
                                "filename": "report.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0xLjQ=",
                            },
                        },
                        {"type": "text", "text": "Summarise"},
                    ],
                }
            ],
        }
    )
    valid_anthropic(out)
    assert out["messages"][0]["content"][0] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
        "title": "report.pdf",
    }


def user(content: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content}]}


def test_bare_image_url_string_is_accepted() -> None:
    part = {"type": "image_url", "image_url": "https://example.com/a.png"}
    out = valid_anthropic(openai_request_to_anthropic(user([part])))
    assert out["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**user("hi"), "n": 2}, "n"),
        ({**user("hi"), "logprobs": True, "top_logprobs": 3}, "logprobs"),
        ({**user("hi"), "modalities": ["text", "audio"]}, "modalities"),
        ({**user("hi"), "functions": [{"name": "f", "parameters": {}}]}, "functions"),
        (
            user([{"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}]),
            "messages[0].content[0]",
        ),
        (user([{"type": "file", "file": {"file_id": "file-abc"}}]), "messages[0].content[0]"),
        (
            user([{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]),
            "messages[0].content[0]",
        ),
        (
            user([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}]),
            "messages[0].content[0]",
        ),
        (
            user([{"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}]),
            "messages[0].content[0]",
        ),
        (user(["not an object"]), "messages[0].content[0]"),
        (user([{"type": "file", "file": "JVBERi0="}]), "messages[0].content[0]"),
        (user([{"type": "text"}]), "messages[0].content[0]"),
        ({"model": "m", "messages": "hi"}, "messages"),
        (
            {"model": "m", "messages": [{"role": "function", "name": "f", "content": "1"}]},
            "messages[0].role",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{bad"},
                            }
                        ],
                    }
                ],
            },
            "messages[0].tool_calls[0]",
        ),
        ({"model": "m", "messages": [{"role": "tool", "content": "orphan"}]}, "messages[0]"),
        ({**user("hi"), "tools": [{"type": "custom", "custom": {"name": "grammar"}}]}, "tools[0]"),
    ],
)
def test_untranslatable_openai_requests(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        openai_request_to_anthropic(body)
    assert caught.value.param == param
    assert caught.value.status == 400


# ---------------------------------------------------------------- legacy completions


def test_completion_request_to_anthropic() -> None:
    body = {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": ["Say this is a test"],
        "max_tokens": 7,
        "temperature": 0,
        "stop": "\n",
        "stream": False,
        "user": "u",
    }
    assert OPENAI_COMPLETION_PARAMS.validate_python(body)
    out = valid_anthropic(openai_completion_request_to_anthropic(body))
    assert out == {
        "model": "gpt-3.5-turbo-instruct",
        "max_tokens": 7,
        "messages": [{"role": "user", "content": "Say this is a test"}],
        "temperature": 0,
        "stop_sequences": ["\n"],
        "stream": False,
        "metadata": {"user_id": "u"},
    }
    assert (
        openai_completion_request_to_anthropic({"model": "m", "prompt": "x"})["max_tokens"] == 4096
    )


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": [1212, 318]}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "a", "echo": True}, "echo"),
        ({"prompt": "a", "suffix": "end"}, "suffix"),
        ({"prompt": "a", "logprobs": 2}, "logprobs"),
        ({"prompt": "a", "best_of": 3}, "best_of"),
        ({"prompt": "a", "n": 2}, "n"),
    ],
)
def test_untranslatable_completion_requests(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        openai_completion_request_to_anthropic({"model": "m", **extra})
    assert caught.value.param == param


# ---------------------------------------------------------------- Anthropic -> OpenAI

# A computer-use style conversation as the anthropic SDK sends it.
ANTHROPIC_CONVERSATION: dict[str, Any] = {
    "model": "gpt-4o",
    "max_tokens": 2048,
    "system": [
        {"type": "text", "text": "You are a QA agent."},
        {"type": "text", "text": "Long reference text...", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {"role": "user", "content": "Check the login page"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "thinking",
                    "thinking": "I should take a screenshot.",
                    "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h",
                },
                {"type": "text", "text": "Taking a screenshot."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "screenshot",
                    "input": {"url": "https://example.com/login"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                    "content": [
                        {"type": "text", "text": "Screenshot taken"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": PNG_B64,
                            },
                        },
                    ],
                },
                {
                    "type": "text",
                    "text": "What do you see?",
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/ref.png"}},
            ],
        },
    ],
    "tools": [
        {
            "name": "screenshot",
            "description": "Capture a page",
            "input_schema": {
                "type": "object",
                "properties": {"url": {"type": "string"}},
                "required": ["url"],
            },
            "cache_control": {"type": "ephemeral"},
        }
    ],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "temperature": 0.2,
    "top_p": 0.95,
    "top_k": 40,
    "stop_sequences": ["STOP"],
    "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
    "stream": True,
}


def test_anthropic_conversation_to_openai() -> None:
    valid_anthropic(ANTHROPIC_CONVERSATION)
    out = valid_openai(anthropic_request_to_openai(ANTHROPIC_CONVERSATION))
    assert out == {
        "model": "gpt-4o",
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "You are a QA agent."},
                    {"type": "text", "text": "Long reference text..."},
                ],
            },
            {"role": "user", "content": "Check the login page"},
            {
                "role": "assistant",
                "content": "Taking a screenshot.",
                "tool_calls": [
                    {
                        "id": "toolu_01A09q90qw90lq917835lq9",
                        "type": "function",
                        "function": {
                            "name": "screenshot",
                            "arguments": '{"url":"https://example.com/login"}',
                        },
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
                "content": "Screenshot taken",
            },
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                    {"type": "text", "text": "What do you see?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/ref.png"}},
                ],
            },
        ],
        "max_completion_tokens": 2048,
        "temperature": 0.2,
        "top_p": 0.95,
        "stop": ["STOP"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "13803d75-b4b5-4c3e-b2a2-6f21399b021b",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "screenshot",
                    "description": "Capture a page",
                    "parameters": {
                        "type": "object",
                        "properties": {"url": {"type": "string"}},
                        "required": ["url"],
                    },
                },
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "any"}, "required"),
        (
            {"type": "tool", "name": "screenshot"},
            {"type": "function", "function": {"name": "screenshot"}},
        ),
    ],
)
def test_anthropic_tool_choice(tool_choice: dict[str, Any], expected: Any) -> None:
    body = {**ANTHROPIC_CONVERSATION, "tool_choice": tool_choice, "stream": False}
    out = valid_openai(anthropic_request_to_openai(body))
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out
    assert "stream" not in out


def test_anthropic_string_system_documents_and_structured_output() -> None:
    out = anthropic_request_to_openai(
        {
            "model": "gpt-4o",
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBERi0xLjQ=",
                            },
                            "title": "r.pdf",
                        },
                        {
                            "type": "document",
                            "source": {
                                "type": "text",
                                "media_type": "text/plain",
                                "data": "plain notes",
                            },
                        },
                        {"type": "text", "text": "Summarise"},
                    ],
                },
                {"role": "assistant", "content": "Sure:"},
            ],
            "output_config": {"format": {"type": "json_schema", "schema": WEATHER_SCHEMA}},
        }
    )
    valid_openai(out)
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    assert out["messages"][1]["content"] == [
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=", "filename": "r.pdf"},
        },
        {"type": "text", "text": "plain notes"},
        {"type": "text", "text": "Summarise"},
    ]
    assert out["messages"][2] == {"role": "assistant", "content": "Sure:"}
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": WEATHER_SCHEMA},
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]},
            "tools[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "file", "file_id": "file_011"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "document",
                                "source": {"type": "url", "url": "https://x/a.pdf"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "server_tool_use",
                                "id": "srvtoolu_1",
                                "name": "web_search",
                                "input": {},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        ({"messages": [{"role": "tool", "content": "hi"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": "x"}]}]},
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, 3]}]},
            "messages[0].content[1]",
        ),
    ],
)
def test_untranslatable_anthropic_requests(body: dict[str, Any], param: str) -> None:
    base = {"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(InvalidRequest) as caught:
        anthropic_request_to_openai({**base, **body})
    assert caught.value.param == param


def test_the_sdk_checks_are_not_vacuous() -> None:
    bad_image = user(
        [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "x"}}]
    )
    with pytest.raises(ValueError, match="validation error"):
        valid_anthropic({**bad_image, "max_tokens": 5})
    with pytest.raises(ValueError, match="validation error"):
        valid_openai(user([{"type": "image_url", "image_url": {"url": "x", "detail": "huge"}}]))


def test_anthropic_system_messages_between_turns_become_openai_system_messages() -> None:
    """Claude Code 2.1 sends `system` messages among the turns; they keep their place."""
    body = {
        "model": "m",
        "max_tokens": 10,
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "text", "text": "Agents: explore, plan"}]},
        ],
    }
    out = anthropic_request_to_openai(body)
    assert [(m["role"], m["content"]) for m in out["messages"]] == [
        ("system", "You are terse."),
        ("user", "hi"),
        ("system", "Agents: explore, plan"),
    ]
