"""Property: translating a request to the other format and back preserves its meaning.

"Meaning" is what the model sees: the system text, then the sequence of (role, content) pieces
with message boundaries between same-role messages removed (Anthropic needs strict alternation,
so those messages are merged), tool calls with parsed arguments, tool results, the tools and the
tool-choice. Both directions are checked, and every intermediate body must parse with the target
SDK's request type.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import orjson
from anthropic.types import message_create_params
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import completion_create_params
from pydantic import TypeAdapter

from gateway.core.translate import anthropic_request_to_openai, openai_request_to_anthropic

ANTHROPIC_PARAMS = TypeAdapter(message_create_params.MessageCreateParamsNonStreaming)
OPENAI_PARAMS = TypeAdapter(completion_create_params.CompletionCreateParamsNonStreaming)
PROPERTY = settings(max_examples=150, deadline=None, database=None)


def force(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: force(item) for key, item in value.items()}
    if isinstance(value, list | tuple | Iterator):
        return [force(item) for item in value]
    return value


# ---------------------------------------------------------------- strategies

texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,20}", fullmatch=True)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(texts, json_values, max_size=4)
image_urls = st.sampled_from(
    [
        "https://example.com/cat.png",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
        "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2w==",
    ]
)
openai_user_parts = st.lists(
    st.one_of(
        texts.map(lambda t: {"type": "text", "text": t}),
        image_urls.map(lambda u: {"type": "image_url", "image_url": {"url": u}}),
    ),
    min_size=1,
    max_size=3,
)
tools = st.lists(
    st.fixed_dictionaries(
        {
            "name": names,
            "description": texts,
            "parameters": st.just({"type": "object", "properties": {"q": {"type": "string"}}}),
        }
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t["name"],
)


@st.composite
def openai_turns(draw: st.DrawFn, counter: list[int]) -> list[dict[str, Any]]:
    """One or more messages: a user message, a plain assistant message, or a tool round."""
    kind = draw(st.sampled_from(["user_text", "user_parts", "assistant", "tool_round"]))
    if kind == "user_text":
        return [{"role": "user", "content": draw(texts)}]
    if kind == "user_parts":
        return [{"role": "user", "content": draw(openai_user_parts)}]
    if kind == "assistant":
        return [{"role": "assistant", "content": draw(texts)}]
    calls = []
    for _ in range(draw(st.integers(1, 3))):
        counter[0] += 1
        calls.append(
            {
                "id": f"call_{counter[0]}",
                "type": "function",
                "function": {
                    "name": draw(names),
                    "arguments": orjson.dumps(draw(arguments)).decode(),
                },
            }
        )
    assistant = {"role": "assistant", "content": draw(st.none() | texts), "tool_calls": calls}
    results = [
        {
            "role": "tool",
            "tool_call_id": c["id"],
            "content": draw(
                texts
                | st.lists(texts.map(lambda t: {"type": "text", "text": t}), min_size=1, max_size=2)
            ),
        }
        for c in calls
    ]
    return [assistant, *results]


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    counter = [0]
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append(
            {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(texts)}
        )
    messages.append({"role": "user", "content": draw(texts)})
    for _ in range(draw(st.integers(0, 5))):
        messages.extend(draw(openai_turns(counter)))
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": messages,
        "max_tokens": draw(st.integers(1, 8192)),
    }
    if draw(st.booleans()):
        drawn_tools = draw(tools)
        body["tools"] = [{"type": "function", "function": t} for t in drawn_tools]
        body["tool_choice"] = draw(
            st.sampled_from(["auto", "none", "required"])
            | st.sampled_from(drawn_tools).map(
                lambda t: {"type": "function", "function": {"name": t["name"]}}
            )
        )
        if draw(st.booleans()):
            body["parallel_tool_calls"] = False
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        body["stop"] = draw(st.lists(texts, min_size=1, max_size=4))
    return body


# ---------------------------------------------------------------- meaning


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    return [p["text"] for p in content or () if p.get("text")]


def openai_meaning(body: dict[str, Any]) -> dict[str, Any]:
    system: list[str] = []
    pieces: list[tuple[Any, ...]] = []
    for m in body["messages"]:
        role = m["role"]
        if role in ("system", "developer"):
            system.extend(_texts(m["content"]))
        elif role == "user":
            parts = (
                [{"type": "text", "text": m["content"]}]
                if isinstance(m["content"], str)
                else m["content"]
            )
            for p in parts:
                pieces.append(
                    ("user", "text", p["text"])
                    if p["type"] == "text"
                    else ("user", "image", p["image_url"]["url"])
                )
        elif role == "assistant":
            pieces.extend(("assistant", "text", t) for t in _texts(m.get("content")))
            for c in m.get("tool_calls") or ():
                f = c["function"]
                pieces.append(
                    ("assistant", "call", c["id"], f["name"], orjson.loads(f["arguments"]))
                )
        else:
            pieces.append(("tool", m["tool_call_id"], tuple(_texts(m["content"]))))
    return {
        "system": system,
        "pieces": pieces,
        "tools": body.get("tools"),
        "tool_choice": body.get("tool_choice") if body.get("tools") else None,
        # With tool_choice "none" no tool runs: parallelism is moot (and Anthropic has no field)
        "parallel": body.get("parallel_tool_calls") is False
        and bool(body.get("tools"))
        and body.get("tool_choice") != "none",
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens"),
        "temperature": body.get("temperature"),
        "stop": body.get("stop"),
    }


def anthropic_meaning(body: dict[str, Any]) -> dict[str, Any]:
    system = body.get("system")
    pieces: list[tuple[Any, ...]] = []
    for m in body["messages"]:
        blocks = (
            [{"type": "text", "text": m["content"]}]
            if isinstance(m["content"], str)
            else m["content"]
        )
        for b in blocks:
            if b["type"] == "text":
                pieces.append((m["role"], "text", b["text"]))
            elif b["type"] == "image":
                pieces.append(
                    (m["role"], "image", orjson.dumps(b["source"], option=orjson.OPT_SORT_KEYS))
                )
            elif b["type"] == "tool_use":
                pieces.append((m["role"], "call", b["id"], b["name"], b["input"]))
            else:
                pieces.append(("tool", b["tool_use_id"], tuple(_texts(b.get("content")))))
    return {
        "system": _texts(system),
        "pieces": pieces,
        "tools": body.get("tools"),
        "tool_choice": body.get("tool_choice"),
        "max_tokens": body["max_tokens"],
        "temperature": body.get("temperature"),
        "stop": body.get("stop_sequences"),
    }


# ---------------------------------------------------------------- properties


@PROPERTY
@given(openai_requests())
def test_openai_to_anthropic_and_back(body: dict[str, Any]) -> None:
    force(OPENAI_PARAMS.validate_python(body))
    anthropic_body = openai_request_to_anthropic(body)
    force(ANTHROPIC_PARAMS.validate_python(anthropic_body))
    roles = [m["role"] for m in anthropic_body["messages"]]
    assert all(a != b for a, b in pairwise(roles)), "roles must alternate"
    back = anthropic_request_to_openai(anthropic_body)
    force(OPENAI_PARAMS.validate_python(back))
    assert openai_meaning(back) == openai_meaning(body)


@PROPERTY
@given(openai_requests())
def test_anthropic_to_openai_and_back(openai_body: dict[str, Any]) -> None:
    """Start from valid Anthropic requests (made by translating generated OpenAI ones)."""
    body = openai_request_to_anthropic(openai_body)
    back = openai_request_to_anthropic(anthropic_request_to_openai(body))
    force(ANTHROPIC_PARAMS.validate_python(back))
    assert anthropic_meaning(back) == anthropic_meaning(body)
