"""Responses request bodies -> Chat Completions and Anthropic Messages bodies.

Inputs are shaped as the official `openai` SDK sends them (`client.responses.create(...)`), and
the conversation of a `previous_response_id` arrives as stored output items.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import Response

from gateway.core.errors import InvalidRequest
from gateway.core.responses_request import responses_request_to_chat
from gateway.core.responses_to_anthropic import responses_request_to_anthropic

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
# A first turn's stored output, as the store gives it back for previous_response_id.
PREVIOUS: list[dict[str, Any]] = [
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
    {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [],
        "encrypted_content": "gAAAA...",
    },
    {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_abc",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
        "status": "completed",
    },
]


def test_string_input_with_instructions_and_options() -> None:
    body = {
        "model": "gpt-4.1",
        "instructions": "Be brief.",
        "input": "Say hello",
        "max_output_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "metadata": {"team": "a"},
        "user": "u-1",
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "text"}, "verbosity": "low"},
        "store": True,
        "stream": True,
    }
    assert responses_request_to_chat(body) == {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u-1",
        "max_completion_tokens": 50,
        "verbosity": "low",
        "reasoning_effort": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_items_previous_and_tools_to_chat() -> None:
    body = {
        "model": "gpt-4.1",
        "input": [
            {"type": "function_call_output", "call_id": "call_abc", "output": '{"temp":21}'},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "And this picture?"},
                    {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
                ],
            },
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
        "text": {
            "format": {
                "type": "json_schema",
                "name": "answer",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
    }
    out = responses_request_to_chat(body, previous=PREVIOUS)
    assert out["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"temp":21}'},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this picture?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
            ],
        },
    ]
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER_TOOL["parameters"],
                "strict": True,
            },
        }
    ]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert out["parallel_tool_calls"] is False
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
    }


def test_previous_output_message_and_calls_share_an_assistant_turn() -> None:
    previous = [
        {"role": "user", "content": "hi"},
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
        },
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{}"},
    ]
    out = responses_request_to_chat({"model": "m", "input": []}, previous=previous)
    assistant = out["messages"][1]
    assert assistant["content"] == "Checking."
    assert [c["id"] for c in assistant["tool_calls"]] == ["c1", "c2"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "tools": [{"type": "code_interpreter", "container": "auto"}]}, "tools[0]"),
        ({"input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]}, "tools[0]"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        ({"input": [{"role": "wizard", "content": "x"}]}, "input[0].role"),
        ({"input": "x", "background": True}, "background"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input[0].content[0]",
        ),
        (
            {"input": "x", "tools": [WEATHER_TOOL], "tool_choice": {"type": "web_search"}},
            "tool_choice",
        ),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0]"),
        ({}, "input"),
    ],
)
def test_what_cannot_be_carried_is_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        responses_request_to_chat({"model": "m", **body})
    assert caught.value.param == param
    assert caught.value.status == 400


def test_to_anthropic_pairs_tool_use_and_result() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "instructions": "You are terse.",
        "input": [{"type": "function_call_output", "call_id": "call_abc", "output": "21C"}],
        "tools": [WEATHER_TOOL],
    }
    out = responses_request_to_anthropic(body, previous=PREVIOUS)
    assert out["system"] == "You are terse."
    assert out["max_tokens"] == 4096
    assert out["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_abc",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_abc", "content": "21C"}],
        },
    ]
    assert out["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER_TOOL["parameters"],
            "description": "Current weather for a city",
        }
    ]
    assert "thinking" not in out


def test_to_anthropic_thinking_from_reasoning_effort() -> None:
    body = {"model": "claude", "input": "Prove it.", "reasoning": {"effort": "medium"}}
    out = responses_request_to_anthropic(body)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert out["max_tokens"] == 4096 + 4096
    limited = responses_request_to_anthropic({**body, "max_output_tokens": 3000})
    assert limited["max_tokens"] == 3000
    assert limited["thinking"]["budget_tokens"] < 3000
    assert "thinking" not in responses_request_to_anthropic({**body, "max_output_tokens": 900})
    assert "thinking" not in responses_request_to_anthropic({**body, "temperature": 0.5})
    forced = {**body, "tools": [WEATHER_TOOL], "tool_choice": "required"}
    assert "thinking" not in responses_request_to_anthropic(forced)
    assert "thinking" not in responses_request_to_anthropic(
        {**body, "reasoning": {"effort": "minimal"}}
    )


def test_to_anthropic_stream_and_json_format() -> None:
    body = {
        "model": "claude",
        "input": "List two colours.",
        "stream": True,
        "text": {"format": {"type": "json_schema", "name": "c", "schema": {"type": "object"}}},
    }
    out = responses_request_to_anthropic(body)
    assert out["stream"] is True
    assert "stream_options" not in out
    assert "JSON Schema" in out["system"]


def test_request_echo_is_a_valid_response_shape() -> None:
    """The request fields the Response echoes keep the SDK's types (tools, tool_choice, text)."""
    from gateway.core.responses_response import response_object

    request = {
        "model": "m",
        "input": "x",
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
        "reasoning": {"effort": "high"},
        "metadata": {"k": "v"},
    }
    body = response_object(
        request,
        response_id="resp_1",
        created_at=1,
        model="m",
        status="completed",
        output=[],
        usage=None,
    )
    parsed = Response.model_validate(body)
    assert parsed.tools[0].type == "function"
    assert parsed.tool_choice == "required"


@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda role, text: {"role": role, "content": text},
                st.sampled_from(["user", "assistant", "system", "developer"]),
                st.text(max_size=20),
            ),
            st.builds(
                lambda cid: {
                    "type": "function_call",
                    "call_id": cid,
                    "name": "f",
                    "arguments": "{}",
                },
                st.from_regex(r"call_[a-z0-9]{1,8}", fullmatch=True),
            ),
            st.builds(
                lambda cid, out: {"type": "function_call_output", "call_id": cid, "output": out},
                st.from_regex(r"call_[a-z0-9]{1,8}", fullmatch=True),
                st.text(max_size=20),
            ),
            st.just({"type": "reasoning", "id": "rs_1", "summary": []}),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_call_and_output_survives(items: list[dict[str, Any]]) -> None:
    """No function call, call output or message is lost or reordered on the way to chat."""
    if all(item.get("type") == "reasoning" for item in items):
        return
    out = responses_request_to_chat({"model": "m", "input": items})
    calls = [c["id"] for m in out["messages"] for c in m.get("tool_calls") or ()]
    assert calls == [i["call_id"] for i in items if i.get("type") == "function_call"]
    results = [m["tool_call_id"] for m in out["messages"] if m["role"] == "tool"]
    assert results == [i["call_id"] for i in items if i.get("type") == "function_call_output"]
    texts = [m["content"] for m in out["messages"] if m["role"] != "tool" and m["content"]]
    assert texts == [i["content"] for i in items if "role" in i and i["content"]]


def test_claude_thinking_comes_back_on_the_tool_turn() -> None:
    """Turn 1's Anthropic answer (thinking + tool_use) is stored as Responses output; turn 2 sends
    the tool result with previous_response_id: the signed thinking opens the assistant turn again
    and thinking stays on, as Anthropic requires for a tool-use continuation."""
    from gateway.core.responses_response import anthropic_response_to_responses

    first = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Use the tool.", "signature": "EqQBsig"},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }
    request = {"model": "claude", "input": "Weather?", "reasoning": {"effort": "low"}}
    stored = anthropic_response_to_responses(first, request, response_id="resp_1", created_at=1)
    previous = [{"type": "message", "role": "user", "content": "Weather?"}, *stored["output"]]
    turn = {
        "model": "claude",
        "input": [{"type": "function_call_output", "call_id": "toolu_1", "output": "21C"}],
        "reasoning": {"effort": "low"},
        "tools": [WEATHER_TOOL],
    }
    out = responses_request_to_anthropic(turn, previous=previous)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert out["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "Use the tool.",
        "signature": "EqQBsig",
    }
    assert out["messages"][1]["content"][1]["type"] == "tool_use"
    # Reasoning from another provider cannot be sent to Claude: thinking stays off this turn.
    foreign = [
        {**item, "encrypted_content": "gAAAAB-openai"} if item.get("type") == "reasoning" else item
        for item in previous
    ]
    out = responses_request_to_anthropic(turn, previous=foreign)
    assert "thinking" not in out
    assert all(block["type"] != "thinking" for block in out["messages"][1]["content"])


def test_images_in_tool_outputs_follow_the_tool_messages() -> None:
    """A screenshot returned by a tool: chat tool messages hold text only, so the image goes in a
    user message after all the results of the turn (nothing may come between them)."""
    image = "data:image/png;base64,iVBORw0KGgo="
    items = [
        {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "ls", "arguments": "{}"},
        {
            "type": "function_call_output",
            "call_id": "c1",
            "output": [
                {"type": "input_text", "text": "Screenshot:"},
                {"type": "input_image", "image_url": image, "detail": "auto"},
            ],
        },
        {"type": "function_call_output", "call_id": "c2", "output": "a.txt"},
        {"role": "user", "content": "What do you see?"},
    ]
    messages = responses_request_to_chat({"model": "m", "input": items})["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "tool", "user", "user"]
    assert messages[1]["content"] == "Screenshot:"
    assert messages[3]["content"] == [
        {"type": "image_url", "image_url": {"url": image, "detail": "auto"}}
    ]
    anthropic = responses_request_to_anthropic({"model": "m", "input": items})
    results = anthropic["messages"][1]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "image", "text"]
