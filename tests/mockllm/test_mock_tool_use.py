"""mockllm.tool_use: the rules that decide when the mock calls a tool, on both wires."""

from __future__ import annotations

from typing import Any

import pytest

from mockllm import content
from mockllm.tool_use import choose_tool, is_subagent_tool, requested_tools, visible_text

CLAUDE_CODE = ["Task", "Bash", "Glob", "Read", "Write", "TodoWrite", "TaskOutput", "WebFetch"]


@pytest.mark.parametrize(
    "name",
    ["Task", "Agent", "agent", "dispatch_agent", "spawn-subagent", "SubAgent", "spanish_agent"],
)
def test_subagent_launchers(name: str) -> None:
    assert is_subagent_tool(name)


@pytest.mark.parametrize(
    "name", ["TaskOutput", "create_task", "Bash", "get_weather", "agenda", "reagent", "Tasks"]
)
def test_tools_that_are_not_subagent_launchers(name: str) -> None:
    assert not is_subagent_tool(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("use get_weather", ["get_weather"]),
        ("Please call the get_weather tool for Porto.", ["get_weather"]),
        ("Using `get_time`, tell me the hour", ["get_time"]),
        ("INVOKE get_time now", ["get_time"]),
        ("the get_time function, then use get_weather", ["get_time", "get_weather"]),
        ("call get_weather, then call get_weather again", ["get_weather"]),
        ("What is the weather in Porto?", []),
        ("get_weather for Porto", []),  # named but not asked for
        ("use get_weather_v2", []),  # a longer identifier is not the name
        ("use Get_Weather", []),  # names are case-sensitive
    ],
)
def test_requested_tools(text: str, expected: list[str]) -> None:
    assert requested_tools(text, ["get_weather", "get_time"]) == expected


def test_plain_english_prompts_do_not_call_claude_codes_tools() -> None:
    for prompt in ("Write a haiku about rain", "Read me a poem", "Say hello in five words"):
        assert choose_tool(CLAUDE_CODE, "auto", None, prompt) is None
    assert choose_tool(CLAUDE_CODE, "auto", None, "Use the Read tool on README.md") == "Read"


def test_system_reminders_are_not_read() -> None:
    reminder = "<system-reminder>Consider using the TodoWrite tool.</system-reminder>"
    assert visible_text(reminder + "hi") == " hi"
    assert choose_tool(CLAUDE_CODE, "auto", None, reminder + "\nSay hi") is None
    assert choose_tool(CLAUDE_CODE, "auto", None, reminder + "\nrun Bash") == "Bash"


@pytest.mark.parametrize(
    ("mode", "forced", "prompt", "expected"),
    [
        ("auto", None, "Use the Task tool", None),  # a sub-agent: never by trigger
        ("auto", None, "Use the Task tool, then run Glob", "Glob"),
        ("auto", "Task", "hello", "Task"),  # forced by name: called
        ("required", None, "hello", "Bash"),  # the first tool that is not a sub-agent
        ("required", None, "call WebFetch", "WebFetch"),
        ("none", None, "call WebFetch", None),
        ("required", None, None, None),  # after a tool result: text, even when forced
        ("auto", "Bash", None, None),
    ],
)
def test_choose_tool(
    mode: Any, forced: str | None, prompt: str | None, expected: str | None
) -> None:
    assert choose_tool(CLAUDE_CODE, mode, forced, prompt) == expected


def test_required_with_only_subagent_tools_still_calls_one() -> None:
    assert choose_tool(["Task", "Agent"], "required", None, "hello") == "Task"


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def chat(text: str | list[Any], **extra: Any) -> dict[str, Any]:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}
    return content.openai_chat(body, created=1)


def test_openai_text_parts_are_read_and_every_choice_agrees() -> None:
    parts = [
        {"type": "text", "text": "Weather in Oslo?"},
        {"type": "text", "text": "Use get_weather"},
    ]
    reply = chat(parts, tools=[WEATHER], n=3)
    assert [c["finish_reason"] for c in reply["choices"]] == ["tool_calls"] * 3
    assert chat("Weather in Oslo?", tools=[WEATHER])["choices"][0]["finish_reason"] == "stop"


def test_an_assistant_turn_last_is_continued_with_text() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "Use get_weather"},
            {"role": "assistant", "content": "Sure"},
        ],
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    assert content.openai_chat(body, created=1)["choices"][0]["finish_reason"] == "stop"


def tool_result_body(result: str, **extra: Any) -> dict[str, Any]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "Use get_weather"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": result},
        ],
        "tools": [WEATHER],
        **extra,
    }


def test_the_answer_to_a_tool_result_quotes_it_briefly_and_obeys_the_limits() -> None:
    long = " ".join(f"w{i}" for i in range(40))
    text = content.openai_chat(tool_result_body(long), created=1)["choices"][0]["message"]
    assert text["content"].endswith(
        "the get_weather tool returned w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 ..."
    )
    cut = content.openai_chat(tool_result_body("sunny", max_tokens=3), created=1)
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 3
    stopped = content.openai_chat(tool_result_body("sunny", stop=["returned"]), created=1)
    assert stopped["choices"][0]["message"]["content"].endswith("tool ")
    empty = content.openai_chat(tool_result_body(""), created=1)["choices"][0]["message"]
    assert empty["content"].endswith("the get_weather tool returned nothing.")
    stream = content.openai_chat_stream({**tool_result_body("sunny"), "stream": True}, created=1)
    assert b'"finish_reason":"stop"' in stream[-2]


def test_anthropic_tool_result_blocks_are_answered_with_text_quoting_them() -> None:
    tool = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}
    body = {
        "model": "claude-x",
        "max_tokens": 100,
        "tools": [tool],
        "tool_choice": {"type": "any"},
        "messages": [
            {"role": "user", "content": "Use lookup"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "found it"}],
                    },
                    {"type": "text", "text": "use lookup again"},
                ],
            },
        ],
    }
    message = content.anthropic_message(body)
    assert message["stop_reason"] == "end_turn"
    assert message["content"][0]["text"].endswith("the lookup tool returned found it.")
    assert message == content.anthropic_message(body)


def test_offering_tools_without_asking_for_one_leaves_the_text_as_it_is() -> None:
    reply = chat("What is the capital of France?")["choices"][0]["message"]["content"]
    assert (
        reply
        == chat("What is the capital of France?", tools=[WEATHER])["choices"][0]["message"][
            "content"
        ]
    )
