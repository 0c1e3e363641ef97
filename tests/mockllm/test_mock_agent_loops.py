"""When the mock calls a tool (mockllm.tool_use), driven by the official openai and anthropic SDKs
against `sfctl mock-upstream`'s server and against the gateway's in-process mock provider: a
forcing tool_choice, a user turn that asks for a tool by name, text otherwise, text after a tool
result (so an agent loop ends), sub-agent tools never called by the trigger, streams, determinism.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from mockllm.server import MockBehaviour, start_server

from support.gateway import ADMIN_KEY, running_gateway


def _function(name: str, **properties: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def _tool(name: str, **properties: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {"name": name, "description": f"The {name} tool", "input_schema": schema}


STRING = {"type": "string"}
# Claude Code's shape: the sub-agent launcher comes first, as in the agent that looped
CLAUDE_TOOLS: Any = [
    _tool("Task", description=STRING, prompt=STRING, subagent_type=STRING),
    _tool("Bash", command=STRING),
    _tool("get_weather", city=STRING, unit={"enum": ["c", "f"]}),
]
OPENAI_TOOLS: Any = [
    _function("Agent", prompt=STRING),
    _function("get_weather", city=STRING, unit={"enum": ["c", "f"]}),
    _function("get_time", zone=STRING),
]


@pytest.fixture(params=["mock-upstream", "gateway-mock-provider"])
async def base_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The base URL (no /v1) of the mock: served directly, or by the gateway's mock provider."""
    if request.param == "mock-upstream":
        async with await start_server(MockBehaviour()) as mock:
            yield mock.url
        return
    async with running_gateway(tmp_path) as gw:
        yield gw.url


@pytest.fixture
async def oai(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=base_url + "/v1", api_key=ADMIN_KEY, max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def claude(base_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    # both serve the Messages API under /anthropic (the SDK appends /v1/messages)
    async with anthropic.AsyncAnthropic(
        base_url=base_url + "/anthropic", api_key=ADMIN_KEY, max_retries=0
    ) as client:
        yield client


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


# --- OpenAI chat completions -----------------------------------------------------------------


async def openai_turn(
    sdk: openai.AsyncOpenAI, messages: list[Any], *, stream: bool = False, **extra: Any
) -> tuple[str, str | None, list[Any]]:
    """(finish_reason, text, tool calls) of one reply, streamed or not."""
    args: Any = {"model": "gpt-4o-mini", "messages": messages, "tools": OPENAI_TOOLS, **extra}
    if not stream:
        completion = await sdk.chat.completions.create(**args)
    else:
        async with sdk.chat.completions.stream(**args) as events:
            completion = await events.get_final_completion()
    choice = completion.choices[0]
    return str(choice.finish_reason), choice.message.content, list(choice.message.tool_calls or ())


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("required", "get_weather"),  # the first tool that does not start a sub-agent
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
        ({"type": "function", "function": {"name": "Agent"}}, "Agent"),  # named: even a sub-agent
    ],
    ids=["required", "named", "named-subagent"],
)
async def test_openai_tool_choice_forces_the_call(
    oai: openai.AsyncOpenAI, stream: bool, tool_choice: Any, expected: str
) -> None:
    finish, text, calls = await openai_turn(
        oai, user("Say hello."), stream=stream, tool_choice=tool_choice
    )
    assert finish == "tool_calls" and not text
    (call,) = calls
    assert call.function.name == expected
    assert set(json.loads(call.function.arguments)) == set(
        next(t for t in OPENAI_TOOLS if t["function"]["name"] == expected)["function"][
            "parameters"
        ]["properties"]
    )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_openai_without_a_trigger_is_text_and_none_never_calls(
    oai: openai.AsyncOpenAI, stream: bool
) -> None:
    for extra in ({}, {"tool_choice": "auto"}):
        finish, text, calls = await openai_turn(
            oai, user("What is the weather in Porto?"), stream=stream, **extra
        )
        assert (finish, calls) == ("stop", []) and text and text.startswith("Mock reply")
    finish, _, calls = await openai_turn(
        oai, user("Use get_weather for Porto."), stream=stream, tool_choice="none"
    )
    assert (finish, calls) == ("stop", [])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_openai_two_turn_loop_ends_with_text(oai: openai.AsyncOpenAI, stream: bool) -> None:
    """An agent loop: the user asks for a tool, the agent runs it, the answer is text."""
    messages = user("Please call `get_time` for Lisbon, then get_weather tool for Porto.")
    finish, _, calls = await openai_turn(oai, messages, stream=stream)
    assert finish == "tool_calls" and [c.function.name for c in calls] == ["get_time"]
    messages = [
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "14:05 WET"},
    ]
    for tool_choice in ("auto", "required"):  # after a tool result: text, even when forced
        finish, text, calls = await openai_turn(
            oai, messages, stream=stream, tool_choice=tool_choice
        )
        assert (finish, calls) == ("stop", [])
        assert text and "the get_time tool returned 14:05 WET." in text


async def test_openai_subagent_tool_is_not_called_by_the_trigger(oai: openai.AsyncOpenAI) -> None:
    finish, text, calls = await openai_turn(oai, user("Use the Agent tool to research this."))
    assert (finish, calls) == ("stop", []) and text
    _, _, calls = await openai_turn(oai, user("Use the Agent tool, then call get_time."))
    assert [c.function.name for c in calls] == ["get_time"]


async def test_openai_answers_are_deterministic(oai: openai.AsyncOpenAI) -> None:
    for messages in (user("Call get_weather for Oslo."), user("Tell me about Oslo.")):
        first = await oai.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS
        )
        again = await oai.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS
        )
        assert first.choices[0].message == again.choices[0].message


# --- Anthropic messages ----------------------------------------------------------------------


async def anthropic_turn(
    sdk: anthropic.AsyncAnthropic, messages: list[Any], *, stream: bool = False, **extra: Any
) -> anthropic.types.Message:
    args: Any = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 512,
        "messages": messages,
        "tools": CLAUDE_TOOLS,
        **extra,
    }
    if not stream:
        return await sdk.messages.create(**args)
    async with sdk.messages.stream(**args) as events:
        return await events.get_final_message()


def tool_uses(message: anthropic.types.Message) -> list[Any]:
    return [b for b in message.content if b.type == "tool_use"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "any"}, "Bash"),  # the first tool that does not start a sub-agent
        ({"type": "tool", "name": "get_weather"}, "get_weather"),
        ({"type": "tool", "name": "Task"}, "Task"),  # named: even a sub-agent
    ],
    ids=["any", "named", "named-subagent"],
)
async def test_anthropic_tool_choice_forces_the_call(
    claude: anthropic.AsyncAnthropic, stream: bool, tool_choice: Any, expected: str
) -> None:
    message = await anthropic_turn(
        claude, user("Say hello."), stream=stream, tool_choice=tool_choice
    )
    assert message.stop_reason == "tool_use"
    (block,) = tool_uses(message)
    schema = next(t for t in CLAUDE_TOOLS if t["name"] == expected)["input_schema"]
    assert block.name == expected and set(block.input) == set(schema["properties"])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_anthropic_claude_code_turn_ends(
    claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    """Claude Code's shape: its tools on every request, its prompt as text blocks with a
    <system-reminder> that names a tool. A plain prompt is answered with text; a prompt that asks
    for a tool gets one call, and its result gets text."""
    reminder = "<system-reminder>If it helps, use the Bash tool.</system-reminder>"
    plain = [
        {"type": "text", "text": reminder},
        {"type": "text", "text": "Say hello in five words"},
    ]
    message = await anthropic_turn(claude, [{"role": "user", "content": plain}], stream=stream)
    assert message.stop_reason == "end_turn" and not tool_uses(message)
    none = await anthropic_turn(
        claude, user("Use the Bash tool."), stream=stream, tool_choice={"type": "none"}
    )
    assert none.stop_reason == "end_turn" and not tool_uses(none)

    messages: list[Any] = user("Use the Bash tool to run `date`, or the get_weather tool.")
    message = await anthropic_turn(claude, messages, stream=stream)
    assert message.stop_reason == "tool_use"
    (block,) = tool_uses(message)
    assert block.name == "Bash" and set(block.input) == {"command"}
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": block.id, "content": "Thu Dec 3 2026"},
                {"type": "text", "text": "Use the Bash tool again."},
            ],
        },
    ]
    for tool_choice in ({"type": "auto"}, {"type": "any"}):  # after a tool result: text
        answer = await anthropic_turn(claude, messages, stream=stream, tool_choice=tool_choice)
        assert answer.stop_reason == "end_turn" and not tool_uses(answer)
        (text,) = answer.content
        assert text.type == "text" and "the Bash tool returned Thu Dec 3 2026." in text.text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_anthropic_system_message_after_the_user_turn(
    claude: anthropic.AsyncAnthropic, stream: bool
) -> None:
    """Claude Code 2.1 sends a `system` message with its agent list after the user's turn: it is
    accepted, and the user's turn before it still decides (a call, then text after its result)."""
    agents = {"role": "system", "content": "Available agent types for the Agent tool: ..."}
    messages: list[Any] = [*user("Use the Bash tool to run a command"), agents]
    message = await anthropic_turn(claude, messages, stream=stream)
    assert [b.name for b in tool_uses(message)] == ["Bash"]
    (block,) = tool_uses(message)
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "ok"}],
        },
        agents,
    ]
    answer = await anthropic_turn(claude, messages, stream=stream)
    assert answer.stop_reason == "end_turn" and not tool_uses(answer)


async def test_anthropic_subagent_tool_is_not_called_by_the_trigger(
    claude: anthropic.AsyncAnthropic,
) -> None:
    message = await anthropic_turn(claude, user("Use the Task tool to explore the repo."))
    assert message.stop_reason == "end_turn" and not tool_uses(message)
    message = await anthropic_turn(claude, user("Use the Task tool, or call get_weather."))
    assert [b.name for b in tool_uses(message)] == ["get_weather"]


async def test_anthropic_answers_are_deterministic(claude: anthropic.AsyncAnthropic) -> None:
    for messages in (user("Call get_weather for Oslo."), user("Tell me about Oslo.")):
        first = await anthropic_turn(claude, messages)
        again = await anthropic_turn(claude, messages)
        assert first.content == again.content and first.id == again.id
