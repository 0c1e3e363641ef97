"""mockllm.content: determinism, usage, limits, tools, JSON mode, and the SDKs' models."""

from __future__ import annotations

import base64
import math
from array import array
from typing import Any

import anthropic.types
import openai.types
import openai.types.chat
import orjson
import pytest
from pydantic import TypeAdapter

from mockllm import content
from mockllm.content import MockRequestError

CREATED = 1_732_000_000
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(anthropic.types.RawMessageStreamEvent)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "detailed": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["city", "unit", "days", "detailed"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}


def chat_body(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": text},
        ],
        **extra,
    }


def anthropic_body(text: str = "Write a haiku about rain.", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are a poet.",
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def openai_chunks(frames: list[bytes]) -> list[dict[str, Any]]:
    assert frames[-1] == b"data: [DONE]\n\n"
    out = []
    for frame in frames[:-1]:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
        out.append(orjson.loads(frame[6:]))
    return out


def anthropic_events(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in frames:
        head, data = frame.rstrip(b"\n").split(b"\n")
        assert head.startswith(b"event: ") and data.startswith(b"data: ")
        payload = orjson.loads(data[6:])
        assert payload["type"] == head[7:].decode()
        out.append((payload["type"], payload))
    return out


# --- determinism -----------------------------------------------------------------------------


def test_same_prompt_gives_the_same_answer_and_different_prompts_differ() -> None:
    first = content.openai_chat(chat_body("hello"), created=CREATED)
    again = content.openai_chat(chat_body("hello"), created=CREATED)
    other = content.openai_chat(chat_body("hello!"), created=CREATED)
    assert first == again
    text = first["choices"][0]["message"]["content"]
    assert text != other["choices"][0]["message"]["content"]
    assert text.startswith("Mock reply ")
    assert first["id"] != other["id"]


def test_answers_depend_on_the_prompt_not_on_key_order_or_model() -> None:
    body = chat_body("order")
    reordered = {"messages": [dict(reversed(m.items())) for m in body["messages"]], "model": "x"}
    a = content.openai_chat(body, created=CREATED)["choices"][0]["message"]["content"]
    b = content.openai_chat(reordered, created=CREATED)["choices"][0]["message"]["content"]
    assert a == b


def test_many_prompts_give_many_distinct_answers_of_natural_length() -> None:
    texts = set()
    for i in range(200):
        reply = content.openai_chat(chat_body(f"question {i}"), created=CREATED)
        assert reply["choices"][0]["finish_reason"] == "stop"
        assert 8 <= reply["usage"]["completion_tokens"] <= 48
        texts.add(reply["choices"][0]["message"]["content"])
    assert len(texts) == 200


def test_anthropic_is_deterministic_and_system_prompt_matters() -> None:
    a = content.anthropic_message(anthropic_body())
    assert a == content.anthropic_message(anthropic_body())
    b = content.anthropic_message(anthropic_body(system="You are a lawyer."))
    assert a["content"][0]["text"] != b["content"][0]["text"]


# --- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3])
def test_chat_stream_has_one_content_delta_per_completion_token(n: int) -> None:
    body = chat_body("count me", n=n, stream=True, stream_options={"include_usage": True})
    chunks = openai_chunks(content.openai_chat_stream(body, created=CREATED))
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert all(c["usage"] is None for c in chunks[:-1])
    deltas = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(deltas) == usage["completion_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    whole = content.openai_chat(chat_body("count me", n=n), created=CREATED)
    assert whole["usage"] == usage
    for i in range(n):
        text = "".join(
            c["choices"][0]["delta"].get("content") or ""
            for c in chunks
            if c["choices"] and c["choices"][0]["index"] == i
        )
        assert text == whole["choices"][i]["message"]["content"]
    assert len({c["message"]["content"] for c in whole["choices"]}) == n


def test_stream_without_include_usage_has_null_usage_everywhere() -> None:
    chunks = openai_chunks(content.openai_chat_stream(chat_body(stream=True), created=CREATED))
    assert all(c["usage"] is None for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_prompt_tokens_grow_with_the_prompt_and_the_tools() -> None:
    short = content.openai_chat(chat_body("hi"), created=CREATED)["usage"]["prompt_tokens"]
    text = "a fairly long question about many things " * 20
    long = content.openai_chat(chat_body(text), created=CREATED)["usage"]["prompt_tokens"]
    tools = content.openai_chat(chat_body("hi", tools=[WEATHER_TOOL]), created=CREATED)
    assert short >= 2 * 4 + 3  # two messages of overhead plus the reply priming
    assert long - short >= len(text) // 4 - 1  # "hi" itself was one token
    assert tools["usage"]["prompt_tokens"] > short


def test_anthropic_usage_matches_stream_and_count_tokens() -> None:
    message = content.anthropic_message(anthropic_body())
    events = anthropic_events(content.anthropic_message_stream(anthropic_body()))
    deltas = [e for t, e in events if t == "content_block_delta"]
    final = next(e for t, e in events if t == "message_delta")
    usage = message["usage"]
    assert len(deltas) == usage["output_tokens"] == final["usage"]["output_tokens"]
    assert "".join(d["delta"]["text"] for d in deltas) == message["content"][0]["text"]
    assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0
    counted = content.anthropic_count_tokens(
        {k: v for k, v in anthropic_body().items() if k != "max_tokens"}
    )
    assert counted == {"input_tokens": usage["input_tokens"]}


# --- limits and stop sequences -----------------------------------------------------------------


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_truncates_with_finish_reason_length(field: str) -> None:
    reply = content.openai_chat(chat_body("Tell me more.", **{field: 5}), created=CREATED)
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 5
    assert reply["choices"][0]["message"]["content"].startswith("Mock reply")


def test_generous_max_tokens_does_not_truncate() -> None:
    reply = content.openai_chat(chat_body(max_tokens=48), created=CREATED)
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["choices"][0]["message"]["content"].endswith(".")


def test_anthropic_max_tokens_stop_reason() -> None:
    message = content.anthropic_message(anthropic_body(max_tokens=2))
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 2
    assert message["content"][0]["text"] == "Mock reply"
    assert content.anthropic_message(anthropic_body())["stop_reason"] == "end_turn"


def test_stop_sequences_cut_the_reply() -> None:
    text = content.openai_chat(chat_body(), created=CREATED)["choices"][0]["message"]["content"]
    word = text.split()[4]
    cut = content.openai_chat(chat_body(stop=[word]), created=CREATED)["choices"][0]
    assert cut["finish_reason"] == "stop"
    assert cut["message"]["content"] == text[: text.index(word)]
    message = content.anthropic_message(anthropic_body(stop_sequences=["zzz", " "]))
    assert message["stop_reason"] == "stop_sequence"
    assert message["stop_sequence"] == " "
    assert message["content"][0]["text"] == "Mock"


# --- tools -----------------------------------------------------------------------------------


def test_openai_required_tool_choice_calls_the_first_tool_and_fills_the_schema() -> None:
    body = chat_body(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required")
    reply = content.openai_chat(body, created=CREATED)
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    args = orjson.loads(call["function"]["arguments"])
    assert set(args) == {"city", "unit", "days", "detailed"}
    assert isinstance(args["city"], str) and args["city"]
    assert args["unit"] == "celsius"
    assert isinstance(args["days"], int) and args["detailed"] is True


def test_openai_named_tool_choice_and_none() -> None:
    named = {"type": "function", "function": {"name": "get_time"}}
    body = chat_body(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=named)
    call = content.openai_chat(body, created=CREATED)["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_time"
    assert set(orjson.loads(call["function"]["arguments"])) == {"zone"}
    none = content.openai_chat(chat_body(tools=[WEATHER_TOOL], tool_choice="none"), created=1)
    assert none["choices"][0]["finish_reason"] == "stop"


def test_openai_reply_to_a_tool_result_is_text_even_when_a_call_is_forced() -> None:
    body = chat_body(tools=[WEATHER_TOOL], tool_choice="required")
    first = content.openai_chat(body, created=CREATED)
    call = first["choices"][0]["message"]["tool_calls"][0]
    body["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp": 21}'},
    ]
    reply = content.openai_chat(body, created=CREATED)["choices"][0]
    assert reply["finish_reason"] == "stop"
    assert reply["message"]["content"].startswith("Mock reply")
    assert 'the get_weather tool returned {"temp": 21}.' in reply["message"]["content"]


def test_openai_tool_call_stream_matches_the_whole_reply() -> None:
    body = chat_body("Call get_weather for Porto.", tools=[WEATHER_TOOL])
    body["stream_options"] = {"include_usage": True}
    chunks = openai_chunks(content.openai_chat_stream({**body, "stream": True}, created=CREATED))
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["index"] == 0 and first["type"] == "function"
    assert first["id"].startswith("call_") and first["function"] == {
        "name": "get_weather",
        "arguments": "",
    }
    pieces = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks[1:]
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert len(pieces) == chunks[-1]["usage"]["completion_tokens"]
    whole = content.openai_chat({**body, "stream_options": None}, created=CREATED)
    call = whole["choices"][0]["message"]["tool_calls"][0]
    assert "".join(pieces) == call["function"]["arguments"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_truncated_tool_call_ends_with_length() -> None:
    body = chat_body(tools=[WEATHER_TOOL], tool_choice="required", max_tokens=3)
    reply = content.openai_chat(body, created=CREATED)
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 3


ANTHROPIC_TOOLS = [
    {
        "name": "lookup_order",
        "description": "Find an order",
        "input_schema": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "include_items": {"type": "boolean"},
                "limit": {"type": "integer", "minimum": 5, "maximum": 7},
                "status": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Status"}]},
            },
            "required": ["order_id", "include_items", "limit", "status"],
            "$defs": {"Status": {"type": "string", "enum": ["open", "closed"]}},
        },
    },
    {"name": "other", "input_schema": {"type": "object", "properties": {}}},
]


def test_anthropic_tool_use_and_its_stream() -> None:
    body = anthropic_body("Where is order 42?", tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"})
    message = content.anthropic_message(body)
    assert message["stop_reason"] == "tool_use"
    (block,) = message["content"]
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
    assert block["name"] == "lookup_order"
    assert block["input"]["include_items"] is True and block["input"]["status"] == "open"
    assert 5 <= block["input"]["limit"] <= 7 and isinstance(block["input"]["order_id"], str)
    events = anthropic_events(content.anthropic_message_stream(body))
    start = next(e for t, e in events if t == "content_block_start")
    assert start["content_block"] == {**block, "input": {}}
    partial = [e["delta"]["partial_json"] for t, e in events if t == "content_block_delta"]
    assert len(partial) == message["usage"]["output_tokens"]
    assert orjson.loads("".join(partial)) == block["input"]
    named = content.anthropic_message({**body, "tool_choice": {"type": "tool", "name": "other"}})
    assert named["content"][0]["name"] == "other" and named["content"][0]["input"] == {}


def test_anthropic_truncated_tool_use_keeps_the_complete_members() -> None:
    body = anthropic_body("Use lookup_order for order 42.", tools=ANTHROPIC_TOOLS)
    full = content.anthropic_message(body)["content"][0]["input"]
    cut = content.anthropic_message({**body, "max_tokens": 8})
    assert cut["stop_reason"] == "max_tokens"
    kept = cut["content"][0]["input"]
    assert list(kept.items()) == list(full.items())[: len(kept)]
    assert len(kept) < len(full)


def test_anthropic_reply_to_tool_result_is_text() -> None:
    body = anthropic_body(tools=ANTHROPIC_TOOLS)
    body["messages"] += [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "shipped"}],
        },
    ]
    message = content.anthropic_message(body)
    assert message["stop_reason"] == "end_turn" and message["content"][0]["type"] == "text"


# --- JSON mode -------------------------------------------------------------------------------


def test_json_object_mode_gives_a_json_object() -> None:
    body = chat_body(response_format={"type": "json_object"})
    text = content.openai_chat(body, created=CREATED)["choices"][0]["message"]["content"]
    assert isinstance(orjson.loads(text), dict)
    frames = content.openai_chat_stream({**body, "stream": True}, created=CREATED)
    streamed = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in openai_chunks(frames) if c["choices"]
    )
    assert streamed == text


def test_json_schema_mode_fills_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "year": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "author": {"$ref": "#/$defs/Person"},
        },
        "required": ["title", "year", "tags", "author"],
        "additionalProperties": False,
        "$defs": {
            "Person": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            }
        },
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "book", "schema": schema, "strict": True}}
    text = content.openai_chat(chat_body(response_format=fmt), created=CREATED)
    value = orjson.loads(text["choices"][0]["message"]["content"])
    assert set(value) == {"title", "year", "tags", "author"}
    assert isinstance(value["year"], int) and isinstance(value["tags"][0], str)
    assert isinstance(value["author"]["name"], str)


# --- legacy completions ----------------------------------------------------------------------


def test_completions_one_choice_per_prompt_and_n() -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": ["one", "two"], "n": 2, "max_tokens": 30}
    reply = content.openai_completion(body, created=CREATED)
    assert [c["index"] for c in reply["choices"]] == [0, 1, 2, 3]
    assert len({c["text"] for c in reply["choices"]}) == 4
    openai.types.Completion.model_validate(reply)
    echoed = content.openai_completion(
        {"model": "m", "prompt": "Say hi:", "echo": True}, created=CREATED
    )
    assert echoed["choices"][0]["text"].startswith("Say hi:Mock reply")


def test_completion_stream_matches_and_validates() -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time", "max_tokens": 6}
    whole = content.openai_completion(body, created=CREATED)
    frames = content.openai_completion_stream(
        {**body, "stream": True, "stream_options": {"include_usage": True}}, created=CREATED
    )
    chunks = openai_chunks(frames)
    # The SDK reads stream chunks as Completion objects without validating them (finish_reason is
    # null until the last one): validate the final ones and check the rest have the same shape.
    keys = {frozenset(c) for c in chunks[:-1]} | {frozenset(c["choices"][0]) for c in chunks[:-1]}
    assert keys == {frozenset(chunks[-2]), frozenset(chunks[-2]["choices"][0])}
    openai.types.Completion.model_validate(chunks[-2])
    openai.types.Completion.model_validate(chunks[-1])
    text_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["text"]]
    assert "".join(c["choices"][0]["text"] for c in text_chunks) == whole["choices"][0]["text"]
    assert len(text_chunks) == whole["usage"]["completion_tokens"] == 6
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"] == whole["usage"]


# --- embeddings ------------------------------------------------------------------------------


def test_embeddings_are_unit_deterministic_and_base64_matches_float() -> None:
    body = {"model": "text-embedding-3-small", "input": ["the cat", "the cat!", "the cat"]}
    floats = content.openai_embeddings(body)
    b64 = content.openai_embeddings({**body, "encoding_format": "base64"})
    openai.types.CreateEmbeddingResponse.model_validate(floats)
    vectors = [d["embedding"] for d in floats["data"]]
    assert [len(v) for v in vectors] == [1536] * 3
    for vector in vectors:
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-5)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    for item, vector in zip(b64["data"], vectors, strict=True):
        decoded = array("f", base64.b64decode(item["embedding"]))
        assert decoded.tolist() == vector
    assert floats["usage"]["prompt_tokens"] == floats["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("model", "dims", "expected"),
    [
        ("text-embedding-3-small", 256, 256),
        ("text-embedding-3-small", 77, 77),
        ("text-embedding-3-large", None, 3072),
    ],
)
def test_embedding_dimensions(model: str, dims: int | None, expected: int) -> None:
    body: dict[str, Any] = {"model": model, "input": "hello"}
    if dims is not None:
        body["dimensions"] = dims
    vector = content.openai_embeddings(body)["data"][0]["embedding"]
    assert len(vector) == expected
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-5)


def test_embeddings_accept_token_arrays() -> None:
    reply = content.openai_embeddings(
        {"model": "text-embedding-3-small", "input": [[1, 2, 3], [4]]}
    )
    assert [d["index"] for d in reply["data"]] == [0, 1]
    assert reply["usage"]["prompt_tokens"] == 4


# --- SDK models ------------------------------------------------------------------------------


def test_every_openai_shape_validates_against_the_sdk() -> None:
    for body in (
        chat_body(),
        chat_body(n=2, max_tokens=4),
        chat_body(tools=[WEATHER_TOOL], tool_choice="required"),
        chat_body(tools=[WEATHER_TOOL]),
        chat_body(response_format={"type": "json_object"}),
    ):
        openai.types.chat.ChatCompletion.model_validate(content.openai_chat(body, created=CREATED))
        frames = content.openai_chat_stream(
            {**body, "stream": True, "stream_options": {"include_usage": True}}, created=CREATED
        )
        for chunk in openai_chunks(frames):
            openai.types.chat.ChatCompletionChunk.model_validate(chunk)
    listing = content.openai_models(created=CREATED)
    assert listing["object"] == "list"
    for model in listing["data"]:
        openai.types.Model.model_validate(model)
    assert [m["id"] for m in listing["data"]] == list(content.DEFAULT_MODELS)


def test_every_anthropic_shape_validates_against_the_sdk() -> None:
    for body in (
        anthropic_body(),
        anthropic_body(max_tokens=3),
        anthropic_body(tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"}),
        anthropic_body(tools=ANTHROPIC_TOOLS),
        anthropic_body(stop_sequences=[" "]),
    ):
        anthropic.types.Message.model_validate(content.anthropic_message(body))
        events = anthropic_events(content.anthropic_message_stream(body))
        kinds = [t for t, _ in events]
        assert kinds[:3] == ["message_start", "content_block_start", "ping"]
        assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
        for kind, event in events:
            if kind != "ping":
                STREAM_EVENT.validate_python(event)


# --- rejected bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": "hello"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0]"),
        ({**chat_body(), "max_tokens": 0}, "max_tokens"),
        ({**chat_body(), "n": True}, "n"),
        ({**chat_body(), "tools": [{"type": "function"}]}, "tools[0]"),
        ({**chat_body(), "tool_choice": "auto"}, "tool_choice"),
        ({**chat_body(), "stream_options": {"include_usage": True}}, "stream_options"),
        ({**chat_body(), "response_format": {"type": "yaml"}}, "response_format"),
    ],
)
def test_openai_chat_rejects_bad_bodies(body: dict[str, Any], param: str) -> None:
    with pytest.raises(MockRequestError) as caught:
        content.openai_chat(body, created=CREATED)
    assert caught.value.param == param
    assert str(caught.value)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "claude", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "claude", "max_tokens": 5, "messages": {"role": "user"}}, "messages"),
        ({"model": "claude", "max_tokens": 5, "messages": [{"role": "tool"}]}, "role"),
        ({**anthropic_body(), "tools": [{"name": "t"}]}, "input_schema"),
        ({**anthropic_body(), "tool_choice": {"type": "sometimes"}}, "tool_choice"),
        ({**anthropic_body(), "tool_choice": {"type": "any"}}, "tool_choice"),
    ],
)
def test_anthropic_rejects_bad_bodies(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(MockRequestError, match=needle):
        content.anthropic_message(body)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "text-embedding-3-small"},
        {"model": "text-embedding-3-small", "input": ""},
        {"model": "text-embedding-3-small", "input": []},
        {"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"},
        {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8},
    ],
)
def test_embeddings_reject_bad_bodies(body: dict[str, Any]) -> None:
    with pytest.raises(MockRequestError):
        content.openai_embeddings(body)
