"""The tools Codex CLI sends to `/v1/responses` (function, namespace, custom with a grammar,
client tool search, web search), through the translation to chat and Anthropic and back.

The request below has the shapes Codex 0.171.0 sends (recorded). Every answer and stream produced
is checked with the openai SDK's own models: `Response`, the `ResponseStreamEvent` union, and its
stream accumulator, which must rebuild the same output.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from anthropic.types import RawMessageStreamEvent
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseInputItem, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.core.errors import InvalidRequest
from gateway.core.responses_request import responses_request_to_chat
from gateway.core.responses_response import (
    anthropic_response_to_responses,
    chat_response_to_responses,
)
from gateway.core.responses_stream import AnthropicToResponsesStream, ChatToResponsesStream
from gateway.core.responses_to_anthropic import responses_request_to_anthropic
from gateway.core.responses_tools import flat_name

EVENT = TypeAdapter(ResponseStreamEvent)
INPUT_ITEM = TypeAdapter(ResponseInputItem)
ANTHROPIC_EVENT = TypeAdapter(RawMessageStreamEvent)
GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\n'
EXEC = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command in a PTY.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string"}},
        "required": ["cmd"],
        "additionalProperties": False,
    },
}
SPAWN = {
    "type": "function",
    "name": "spawn_agent",
    "description": "Spawn a sub-agent.",
    "strict": False,
    "parameters": {"type": "object", "properties": {"message": {"type": "string"}}},
}
SEARCH_PARAMETERS = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "limit": {"type": "number"}},
    "required": ["query"],
    "additionalProperties": False,
}
CODEX_TOOLS: list[dict[str, Any]] = [
    EXEC,
    {"type": "web_search", "external_web_access": False},
    {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "Tools for working with sub-agents.",
        "tools": [SPAWN],
    },
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Use the `apply_patch` tool to edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR},
    },
    {
        "type": "tool_search",
        "execution": "client",
        "description": "Search the deferred tools.",
        "parameters": SEARCH_PARAMETERS,
    },
]
LOADED_TOOL = {
    "type": "namespace",
    "name": "mcp__docs",
    "description": "The docs server.",
    "tools": [{"type": "function", "name": "fetch", "parameters": {"type": "object"}}],
}
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"


def codex_request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-5.5",
        "instructions": "You are Codex.",
        "input": [
            {
                "type": "message",
                "id": "msg_u1",
                "role": "user",
                "content": [{"type": "input_text", "text": "go"}],
            }
        ],
        "tools": copy.deepcopy(CODEX_TOOLS),
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "medium"},
        "text": {"verbosity": "low"},
        **extra,
    }


def chat_functions(chat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in chat["tools"]}


def test_codex_tools_become_chat_functions() -> None:
    chat = responses_request_to_chat(codex_request())
    functions = chat_functions(chat)
    assert list(functions) == [
        "exec_command",
        "multi_agent_v1__spawn_agent",
        "apply_patch",
        "tool_search",
    ]  # web_search is dropped
    assert functions["exec_command"]["parameters"] == EXEC["parameters"]
    assert functions["exec_command"]["strict"] is False
    spawn = functions["multi_agent_v1__spawn_agent"]
    assert spawn["parameters"] == SPAWN["parameters"]
    assert "Spawn a sub-agent." in spawn["description"]
    assert "Tools for working with sub-agents." in spawn["description"]
    patch = functions["apply_patch"]
    assert patch["parameters"]["required"] == ["input"]
    assert patch["parameters"]["properties"] == {"input": {"type": "string"}}
    assert "lark grammar" in patch["description"] and GRAMMAR in patch["description"]
    assert functions["tool_search"] == {
        "name": "tool_search",
        "description": "Search the deferred tools.",
        "parameters": SEARCH_PARAMETERS,
    }
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True
    assert chat["verbosity"] == "low" and chat["reasoning_effort"] == "medium"


def history() -> list[dict[str, Any]]:
    """A Codex turn's input after calls of every kind (items with ids, as Codex sends them)."""
    return [
        {"type": "message", "id": "m1", "role": "user", "content": "go"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {
            "type": "web_search_call",
            "id": "ws_1",
            "status": "completed",
            "action": {"type": "search", "query": "docs"},
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "c_spawn",
            "name": "spawn_agent",
            "namespace": "multi_agent_v1",
            "arguments": '{"message":"x"}',
        },
        {"type": "function_call_output", "call_id": "c_spawn", "output": "spawned"},
        {
            "type": "custom_tool_call",
            "id": "ctc_1",
            "call_id": "c_patch",
            "name": "apply_patch",
            "input": PATCH,
        },
        {"type": "custom_tool_call_output", "call_id": "c_patch", "output": "Success."},
        {
            "type": "tool_search_call",
            "id": "tsc_1",
            "call_id": "c_search",
            "execution": "client",
            "arguments": {"query": "docs", "limit": 3},
            "status": "completed",
        },
        {
            "type": "tool_search_output",
            "id": "tso_1",
            "call_id": "c_search",
            "execution": "client",
            "status": "completed",
            "tools": [LOADED_TOOL],
        },
    ]


def test_history_of_every_call_kind_goes_upstream() -> None:
    for item in history():
        INPUT_ITEM.validate_python(item)  # the shapes are the API's
    chat = responses_request_to_chat(codex_request(input=history()))
    messages = chat["messages"][1:]  # after the instructions
    assert [m["role"] for m in messages] == ["user", *["assistant", "tool"] * 3]
    calls = [m["tool_calls"][0] for m in messages if m["role"] == "assistant"]
    assert [(c["id"], c["function"]["name"]) for c in calls] == [
        ("c_spawn", "multi_agent_v1__spawn_agent"),
        ("c_patch", "apply_patch"),
        ("c_search", "tool_search"),
    ]
    assert orjson.loads(calls[1]["function"]["arguments"]) == {"input": PATCH}
    assert orjson.loads(calls[2]["function"]["arguments"]) == {"query": "docs", "limit": 3}
    results = [m for m in messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["c_spawn", "c_patch", "c_search"]
    assert results[1]["content"] == "Success."
    found = orjson.loads(results[2]["content"])["tools"]
    assert [t["name"] for t in found] == ["mcp__docs__fetch"]
    # the tools the search loaded are callable from now on
    assert "mcp__docs__fetch" in chat_functions(chat)


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"tools": [EXEC, {"type": "code_interpreter", "container": "auto"}]}, "tools[1]"),
        ({"tools": [{"type": "mcp", "server_label": "x"}]}, "tools[0]"),
        ({"tools": [{"type": "local_shell"}]}, "tools[0]"),
        (
            {"tools": [{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}]},
            "tools[0].tools[0]",
        ),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"tools": [{"type": "web_search"}], "tool_choice": "required"}, "tool_choice"),
        ({"tools": [{**EXEC, "name": "tool_search"}, CODEX_TOOLS[4]]}, "tools[1]"),
        ({"input": [{"type": "custom_tool_call", "name": "apply_patch", "input": ""}]}, "input[0]"),
    ],
)
def test_what_cannot_run_on_a_translation_path_is_refused(
    change: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        responses_request_to_chat(codex_request(**change))
    assert caught.value.param == param and caught.value.status == 400


def test_only_dropped_tools_send_no_tools_and_custom_choice_is_forced() -> None:
    chat = responses_request_to_chat(codex_request(tools=[{"type": "web_search"}]))
    assert "tools" not in chat and "tool_choice" not in chat
    forced = responses_request_to_chat(
        codex_request(tool_choice={"type": "custom", "name": "apply_patch"})
    )
    assert forced["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    allowed = responses_request_to_chat(
        codex_request(
            tool_choice={
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "spawn_agent"}, {"type": "web_search"}],
            }
        )
    )
    names = [t["function"]["name"] for t in allowed["tool_choice"]["allowed_tools"]["tools"]]
    assert names == ["multi_agent_v1__spawn_agent"]


def test_flat_names_fit_chat_and_anthropic_rules() -> None:
    long = flat_name("mcp__a.very.long.server.name.with.dots", "x" * 60)
    assert len(long) <= 64 and all(c.isalnum() or c in "_-" for c in long)
    assert long == flat_name("mcp__a.very.long.server.name.with.dots", "x" * 60)
    assert long != flat_name("mcp__a.very.long.server.name.with.dots", "x" * 61)
    assert flat_name(None, "exec_command") == "exec_command"


def chat_answer() -> dict[str, Any]:
    def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
        return {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }

    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-5.5",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        call("c1", "multi_agent_v1__spawn_agent", '{"message":"x"}'),
                        call("c2", "apply_patch", orjson.dumps({"input": PATCH}).decode()),
                        call("c3", "tool_search", '{"query":"docs","limit":2}'),
                        call("c4", "exec_command", '{"cmd":"ls"}'),
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    ChatCompletion.model_validate(body)
    return body


def check_calls(output: list[dict[str, Any]]) -> None:
    spawn, patch, search, command = output
    assert spawn["type"] == "function_call"
    assert (spawn["name"], spawn["namespace"], spawn["arguments"]) == (
        "spawn_agent",
        "multi_agent_v1",
        '{"message":"x"}',
    )
    assert patch["type"] == "custom_tool_call"
    assert (patch["name"], patch["input"], patch["call_id"]) == ("apply_patch", PATCH, "c2")
    assert "namespace" not in patch and patch["id"].startswith("ctc_")
    assert search["type"] == "tool_search_call" and search["execution"] == "client"
    assert search["arguments"] == {"query": "docs", "limit": 2} and search["call_id"] == "c3"
    assert command["type"] == "function_call" and "namespace" not in command


def test_a_chat_answer_calls_every_kind_of_tool() -> None:
    response = chat_response_to_responses(
        chat_answer(), codex_request(), response_id="resp_1", created_at=1
    )
    Response.model_validate(response)
    check_calls(response["output"])
    # the calls go upstream again as they came (the next turn's history)
    chat = responses_request_to_chat(codex_request(input=[*history()[:1], *response["output"]]))
    again = chat["messages"][-1]["tool_calls"]
    sent = chat_answer()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in again] == [c["function"]["name"] for c in sent]
    assert [orjson.loads(c["function"]["arguments"]) for c in again] == [
        orjson.loads(c["function"]["arguments"]) for c in sent
    ]


def test_an_anthropic_answer_calls_every_kind_of_tool() -> None:
    def use(call_id: str, name: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"type": "tool_use", "id": call_id, "name": name, "input": value}

    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "stop_reason": "tool_use",
        "content": [
            use("c1", "multi_agent_v1__spawn_agent", {"message": "x"}),
            use("c2", "apply_patch", {"input": PATCH}),
            use("c3", "tool_search", {"query": "docs", "limit": 2}),
            use("c4", "exec_command", {"cmd": "ls"}),
        ],
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    response = anthropic_response_to_responses(
        body, codex_request(), response_id="resp_2", created_at=1
    )
    Response.model_validate(response)
    check_calls(response["output"])


def test_anthropic_request_carries_the_tools_and_history() -> None:
    out = responses_request_to_anthropic(codex_request(input=history()))
    names = [t["name"] for t in out["tools"]]
    assert names == [
        "exec_command",
        "multi_agent_v1__spawn_agent",
        "apply_patch",
        "tool_search",
        "mcp__docs__fetch",
    ]
    uses = [
        block
        for message in out["messages"]
        if message["role"] == "assistant"
        for block in message["content"]
        if block["type"] == "tool_use"
    ]
    assert [(u["name"], u["input"]) for u in uses] == [
        ("multi_agent_v1__spawn_agent", {"message": "x"}),
        ("apply_patch", {"input": PATCH}),
        ("tool_search", {"query": "docs", "limit": 3}),
    ]


def replay(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Validate every event, run the SDK's accumulator; the final response as JSON."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    state: ResponseStreamState[object] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        state.handle_event(EVENT.validate_python(event))
    final = events[-1]["response"]
    Response.model_validate(final)
    assert state._completed_response is not None
    rebuilt = state._completed_response.model_dump(mode="json", exclude_none=True)
    assert [i["type"] for i in rebuilt["output"]] == [i["type"] for i in final["output"]]
    return dict(final)


def tool_delta(
    index: int, *, id_: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id_:
        call.update(id=id_, type="function")
        call["function"]["name"] = name
    return call


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-5.5",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    ChatCompletionChunk.model_validate(body)
    return body


def test_a_chat_stream_streams_every_kind_of_call() -> None:
    patch_args = orjson.dumps({"input": PATCH}).decode()
    chunks = [
        chunk(
            {
                "role": "assistant",
                "tool_calls": [tool_delta(0, id_="c1", name="multi_agent_v1__spawn_agent")],
            }
        ),
        chunk({"tool_calls": [tool_delta(0, args='{"message":"x"}')]}),
        chunk({"tool_calls": [tool_delta(1, id_="c2", name="apply_patch", args=patch_args[:9])]}),
        chunk({"tool_calls": [tool_delta(1, args=patch_args[9:])]}),
        chunk({"tool_calls": [tool_delta(2, id_="c3", name="tool_search")]}),
        chunk({"tool_calls": [tool_delta(2, args='{"query":"docs","limit":2}')]}),
        chunk({"tool_calls": [tool_delta(3, id_="c4", name="exec_command", args='{"cmd":"ls"}')]}),
        chunk({}, "tool_calls"),
    ]
    stream = ChatToResponsesStream(codex_request(), response_id="resp_3", created_at=1, model="m")
    events = [e for c in chunks for e in stream.feed(c)] + stream.finish()
    kinds = [e["type"] for e in events]
    by_item = [[e["type"] for e in events if e.get("output_index") == i] for i in range(4)]
    assert by_item[1] == [  # the custom call: its input goes out when the call closes
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
    ]
    assert by_item[2] == ["response.output_item.added", "response.output_item.done"]
    assert "response.function_call_arguments.delta" in by_item[0]
    assert kinds.count("response.output_item.added") == 4
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert added[1] == {
        "id": "ctc_3_1",
        "type": "custom_tool_call",
        "call_id": "c2",
        "name": "apply_patch",
        "input": "",
    }
    done = {e["type"]: e for e in events if e.get("output_index") == 1}
    assert done["response.custom_tool_call_input.delta"]["delta"] == PATCH
    assert done["response.custom_tool_call_input.done"]["input"] == PATCH
    final = replay(events)
    assert final["status"] == "completed"
    check_calls(final["output"])


def test_a_late_custom_input_piece_joins_the_final_item() -> None:
    args = orjson.dumps({"input": PATCH}).decode()
    chunks = [
        chunk({"tool_calls": [tool_delta(0, id_="c2", name="apply_patch", args=args[:5])]}),
        chunk({"tool_calls": [tool_delta(1, id_="c4", name="exec_command", args="{}")]}),
        chunk({"tool_calls": [tool_delta(0, args=args[5:])]}),  # after its item closed
        chunk({}, "tool_calls"),
    ]
    stream = ChatToResponsesStream(codex_request(), response_id="resp_4", created_at=1, model="m")
    events = [e for c in chunks for e in stream.feed(c)] + stream.finish()
    assert events[-1]["response"]["output"][0]["input"] == PATCH
    Response.model_validate(events[-1]["response"])


def test_an_anthropic_stream_streams_custom_and_namespaced_calls() -> None:
    def start(index: int, call_id: str, name: str) -> dict[str, Any]:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        return {"type": "content_block_start", "index": index, "content_block": block}

    def piece(index: int, partial: str) -> dict[str, Any]:
        delta = {"type": "input_json_delta", "partial_json": partial}
        return {"type": "content_block_delta", "index": index, "delta": delta}

    message: dict[str, Any] = {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    upstream = [
        {"type": "message_start", "message": message},
        start(0, "c1", "multi_agent_v1__spawn_agent"),
        piece(0, '{"message":"x"}'),
        {"type": "content_block_stop", "index": 0},
        start(1, "c2", "apply_patch"),
        piece(1, orjson.dumps({"input": PATCH}).decode()),
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]
    for event in upstream:
        ANTHROPIC_EVENT.validate_python(event)
    stream = AnthropicToResponsesStream(
        codex_request(), response_id="resp_5", created_at=1, model="claude"
    )
    events = [e for event in upstream for e in stream.feed(event)]
    final = replay(events)
    spawn, patch = final["output"]
    assert (spawn["namespace"], spawn["name"]) == ("multi_agent_v1", "spawn_agent")
    assert patch == {
        "id": "ctc_5_1",
        "type": "custom_tool_call",
        "call_id": "c2",
        "name": "apply_patch",
        "input": PATCH,
    }
    assert "response.custom_tool_call_input.done" in [e["type"] for e in events]
