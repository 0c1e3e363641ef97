"""Cache keys: everything that changes the answer is in the key, nothing else, in one spelling."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import message_create_params
from openai.types.chat import completion_create_params as chat_create_params
from pydantic import TypeAdapter

from gateway.core.cache_key import (
    IGNORED_FIELDS,
    KEY_VERSION,
    canonical_json,
    exact_key,
    normalize_text,
    normalized_key,
    request_keys,
    split_conversation,
)

ROOT = Path(__file__).resolve().parents[3]
OPENAI_PARAMS = TypeAdapter(chat_create_params.CompletionCreateParamsNonStreaming)
ANTHROPIC_PARAMS = TypeAdapter(message_create_params.MessageCreateParamsNonStreaming)
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def openai_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful support agent."},
            {"role": "user", "content": "How do I reset my password?"},
        ],
        "temperature": 0.7,
    }
    body.update(extra)
    return body


def anthropic_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 512,
        "system": "You are a helpful support agent.",
        "messages": [{"role": "user", "content": "How do I reset my password?"}],
    }
    body.update(extra)
    return body


def okey(body: dict[str, Any], namespace: str = "team-a") -> str:
    return exact_key(body, wire="openai", namespace=namespace)


def akey(body: dict[str, Any], namespace: str = "team-a") -> str:
    return exact_key(body, wire="anthropic", namespace=namespace)


def test_fixtures_are_requests_the_sdks_accept() -> None:
    OPENAI_PARAMS.validate_python(openai_body(tools=[WEATHER_TOOL], seed=7))
    ANTHROPIC_PARAMS.validate_python(anthropic_body(temperature=0.2))


def test_key_is_a_sha256_hex_digest() -> None:
    key = okey(openai_body())
    assert len(key) == 64
    assert int(key, 16) >= 0


def test_the_canonical_document_is_pinned() -> None:
    """Written out by hand: a change here changes every stored key (bump KEY_VERSION with it)."""
    assert KEY_VERSION == 1
    document = (
        '{"body":{"messages":[{"content":"You are a helpful support agent.","role":"system"},'
        '{"content":"How do I reset my password?","role":"user"}],"model":"gpt-4o-mini",'
        '"temperature":0.7},"extra":null,"norm":false,"ns":"team-a","v":1,"wire":"openai"}'
    )
    assert okey(openai_body()) == hashlib.sha256(document.encode()).hexdigest()
    document = (
        '{"body":{"max_tokens":512,"messages":[{"content":"How do I reset my password?",'
        '"role":"user"}],"model":"claude-sonnet-4-5","system":"You are a helpful support agent."},'
        '"extra":null,"norm":false,"ns":"team-a","v":1,"wire":"anthropic"}'
    )
    assert akey(anthropic_body()) == hashlib.sha256(document.encode()).hexdigest()


def test_same_key_in_another_process_with_another_hash_seed() -> None:
    body = openai_body(logit_bias={"50256": -100, "1234": 5}, stop=["END", "STOP"])
    script = (
        "import json, sys\n"
        "from gateway.core.cache_key import exact_key\n"
        "print(exact_key(json.loads(sys.stdin.read()), wire='openai', namespace='team-a'))\n"
    )
    keys = set()
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(body),
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        keys.add(done.stdout.strip())
    assert keys == {okey(body)}


def test_object_key_order_does_not_matter() -> None:
    body = openai_body(tools=[WEATHER_TOOL])
    shuffled = json.loads(json.dumps(body, sort_keys=True))
    reversed_body = dict(reversed(list(shuffled.items())))
    assert okey(reversed_body) == okey(body)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("0.7", "0.70"),
        ("0.7", "7e-1"),
        ("1", "1.0"),
        ("0", "0.0"),
        ("0.1", "0.10000000000000000"),
    ],
)
def test_numbers_are_compared_by_value(one: str, other: str) -> None:
    first = json.loads(f'{{"model": "m", "messages": [], "temperature": {one}}}')
    second = json.loads(f'{{"model": "m", "messages": [], "temperature": {other}}}')
    assert okey(first) == okey(second)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stream", True),
        ("stream_options", {"include_usage": True}),
        ("user", "user-42"),
        ("safety_identifier", "hash-42"),
        ("metadata", {"trace": "abc"}),
        ("store", True),
        ("service_tier", "flex"),
        ("prompt_cache_key", "conversation-9"),
        ("cache", {"no-cache": False, "ttl": 600}),
    ],
)
def test_fields_that_do_not_change_the_answer_are_ignored(name: str, value: Any) -> None:
    assert name in IGNORED_FIELDS
    assert okey(openai_body(**{name: value})) == okey(openai_body())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("model", "gpt-4o"),
        ("temperature", 0.2),
        ("top_p", 0.9),
        ("frequency_penalty", 0.5),
        ("presence_penalty", 0.5),
        ("logit_bias", {"50256": -100}),
        ("max_tokens", 100),
        ("max_completion_tokens", 100),
        ("seed", 42),
        ("stop", ["END"]),
        ("n", 2),
        ("tools", [WEATHER_TOOL]),
        ("tool_choice", "none"),
        ("parallel_tool_calls", False),
        ("response_format", {"type": "json_object"}),
        ("reasoning_effort", "high"),
        ("verbosity", "low"),
        ("logprobs", True),
        ("a_parameter_from_next_year", 1),  # unknown fields are kept: a miss, never a wrong hit
    ],
)
def test_openai_parameters_that_change_the_answer_change_the_key(name: str, value: Any) -> None:
    assert okey(openai_body(**{name: value})) != okey(openai_body())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("model", "claude-haiku-4-5"),
        ("max_tokens", 1024),
        ("temperature", 0.0),
        ("top_p", 0.5),
        ("top_k", 40),
        ("stop_sequences", ["\n\nHuman:"]),
        ("system", "You are a pirate."),
        ("thinking", {"type": "enabled", "budget_tokens": 2048}),
        ("tools", [{"name": "get_weather", "input_schema": {"type": "object"}}]),
        ("tool_choice", {"type": "any"}),
        ("output_config", {"effort": "low"}),
    ],
)
def test_anthropic_parameters_that_change_the_answer_change_the_key(name: str, value: Any) -> None:
    assert akey(anthropic_body(**{name: value})) != akey(anthropic_body())


def test_metadata_is_ignored_on_anthropic_too() -> None:
    assert akey(anthropic_body(metadata={"user_id": "u1"}, stream=True)) == akey(anthropic_body())


def test_namespace_wire_and_extra_are_in_the_key() -> None:
    body = openai_body()
    assert okey(body, "team-a") != okey(body, "team-b")
    assert exact_key(body, wire="openai", namespace="n") != exact_key(
        body, wire="anthropic", namespace="n"
    )
    plain = exact_key(body, wire="openai", namespace="n")
    beta = exact_key(body, wire="openai", namespace="n", extra={"anthropic-beta": "x"})
    assert beta != plain
    assert exact_key(body, wire="openai", namespace="n", extra={"b": 1.0, "a": [1]}) == exact_key(
        body, wire="openai", namespace="n", extra={"a": [1], "b": 1}
    )


def test_null_is_the_same_as_absent() -> None:
    assert okey(openai_body(seed=None, tools=None, top_p=None)) == okey(openai_body())
    named = openai_body()
    named["messages"][1]["name"] = None
    assert okey(named) == okey(openai_body())


def test_n_of_one_is_the_default() -> None:
    assert okey(openai_body(n=1)) == okey(openai_body())


def test_both_spellings_of_max_tokens_are_one_parameter() -> None:
    assert okey(openai_body(max_tokens=256)) == okey(openai_body(max_completion_tokens=256))
    assert okey(openai_body(max_tokens=256)) != okey(openai_body(max_completion_tokens=257))
    both = openai_body(max_tokens=256, max_completion_tokens=128)
    assert okey(both) != okey(openai_body(max_tokens=256))


def test_stop_is_a_set_of_strings() -> None:
    assert okey(openai_body(stop="END")) == okey(openai_body(stop=["END"]))
    assert okey(openai_body(stop=["A", "B"])) == okey(openai_body(stop=["B", "A", "B"]))
    assert okey(openai_body(stop=["A"])) != okey(openai_body(stop=["B"]))
    one = akey(anthropic_body(stop_sequences=["x", "y"]))
    assert one == akey(anthropic_body(stop_sequences=["y", "x"]))


def test_text_content_has_one_spelling() -> None:
    parts = openai_body()
    parts["messages"][1]["content"] = [{"type": "text", "text": "How do I reset my password?"}]
    assert okey(parts) == okey(openai_body())
    blocks = anthropic_body()
    blocks["messages"][0]["content"] = [{"type": "text", "text": "How do I reset my password?"}]
    blocks["system"] = [{"type": "text", "text": "You are a helpful support agent."}]
    assert akey(blocks) == akey(anthropic_body())


def test_empty_text_parts_carry_nothing_but_two_parts_are_not_one() -> None:
    padded = openai_body()
    padded["messages"][1]["content"] = [
        {"type": "text", "text": ""},
        {"type": "text", "text": "How do I reset my password?"},
    ]
    assert okey(padded) == okey(openai_body())
    split = openai_body()
    split["messages"][1]["content"] = [
        {"type": "text", "text": "How do I reset "},
        {"type": "text", "text": "my password?"},
    ]
    assert okey(split) != okey(openai_body())


def test_every_message_and_its_role_are_in_the_key() -> None:
    other_role = openai_body()
    other_role["messages"][0]["role"] = "developer"
    assert okey(other_role) != okey(openai_body())
    named = openai_body()
    named["messages"][1]["name"] = "alice"
    assert okey(named) != okey(openai_body())
    longer = openai_body()
    longer["messages"].append({"role": "assistant", "content": "Open settings."})
    assert okey(longer) != okey(openai_body())
    case = openai_body()
    case["messages"][1]["content"] = "how do I reset my password?"
    assert okey(case) != okey(openai_body())  # exact means exact: phase 3 normalises


def test_anthropic_cache_control_markers_are_ignored() -> None:
    marked = anthropic_body(
        system=[
            {
                "type": "text",
                "text": "You are a helpful support agent.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        tools=[
            {
                "name": "lookup",
                "input_schema": {"type": "object"},
                "cache_control": {"type": "ephemeral"},
            }
        ],
    )
    marked["messages"][0]["content"] = [
        {
            "type": "text",
            "text": "How do I reset my password?",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    ANTHROPIC_PARAMS.validate_python(marked)
    plain = anthropic_body(tools=[{"name": "lookup", "input_schema": {"type": "object"}}])
    assert akey(marked) == akey(plain)


def image_message(url: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": url}},
        ],
    }


def test_images_are_in_the_key_in_either_spelling() -> None:
    first = openai_body(messages=[image_message(f"data:image/png;base64,{PNG_B64}")])
    second = openai_body(messages=[image_message("https://example.com/cat.png")])
    OPENAI_PARAMS.validate_python(first)
    assert okey(first) != okey(second)
    bare = copy.deepcopy(second)
    bare["messages"][0]["content"][1]["image_url"] = "https://example.com/cat.png"
    assert okey(bare) == okey(second)


def tool_conversation(call_id: str, *, city: str = "Paris", result: str = "18C") -> list[Any]:
    return [
        {"role": "user", "content": f"Weather in {city}?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def test_tool_call_ids_minted_at_random_do_not_split_the_cache() -> None:
    first = openai_body(messages=tool_conversation("call_a1B2c3"), tools=[WEATHER_TOOL])
    second = openai_body(messages=tool_conversation("call_Zz9Yy8"), tools=[WEATHER_TOOL])
    OPENAI_PARAMS.validate_python(first)
    assert okey(first) == okey(second)
    assert okey(first) != okey(
        openai_body(messages=tool_conversation("call_x", result="25C"), tools=[WEATHER_TOOL])
    )
    assert okey(first) != okey(
        openai_body(messages=tool_conversation("call_x", city="Rome"), tools=[WEATHER_TOOL])
    )


def test_tool_results_keep_their_pairing() -> None:
    def two_calls(first_result: str, second_result: str) -> list[Any]:
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            for i in (1, 2)
        ]
        return [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_1", "content": first_result},
            {"role": "tool", "tool_call_id": "call_2", "content": second_result},
        ]

    swapped = two_calls("B", "A")
    swapped[2]["tool_call_id"], swapped[3]["tool_call_id"] = "call_2", "call_1"
    assert okey(openai_body(messages=two_calls("A", "B"))) != okey(openai_body(messages=swapped))


def test_anthropic_tool_use_ids_are_renumbered_too() -> None:
    def conversation(tool_id: str) -> list[Any]:
        return [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": tool_id, "name": "weather", "input": {"c": "P"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "18C"}],
            },
        ]

    first = anthropic_body(messages=conversation("toolu_01AbC"))
    ANTHROPIC_PARAMS.validate_python(first)
    assert akey(first) == akey(anthropic_body(messages=conversation("toolu_09XyZ")))


def test_malformed_bodies_still_get_a_key() -> None:
    for body in (
        {},
        {"messages": "not a list"},
        {"messages": [1, None, "x", {"role": "user", "content": 5}]},
        {"model": "m", "messages": [{"role": "user", "content": [1, {"type": "x"}]}]},
        {"model": "m", "temperature": float("nan"), "stop": 3, "tools": "none"},
        {"model": "m", "prompt": "\ud800 lone surrogate"},
    ):
        assert len(okey(body)) == 64
        assert len(normalized_key(body, wire="openai", namespace="n")) == 64
        split_conversation(body, wire="openai", namespace="n")


def test_canonical_json_sorts_every_level() -> None:
    assert canonical_json({"b": {"d": 1, "c": 2}, "a": [3]}) == b'{"a":[3],"b":{"c":2,"d":1}}'


# ---------------------------------------------------------------- normalized (phase 3)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("  How do I   reset my\tpassword?  ", "how do i reset my password"),
        ("HOW DO I RESET MY PASSWORD", "how do i reset my password"),
        ("\u00bfQu\u00e9 hora es?", "qu\u00e9 hora es"),
        ("\uff28\uff45\uff4c\uff4c\uff4f\u3000\uff57\uff4f\uff52\uff4c\uff44\uff01", "hello world"),
        ("re\u200bset", "reset"),  # zero-width space
        ("Stra\u00dfe", "strasse"),  # case folding, not lowering
        ('"quoted."', "quoted"),
        ("-5 degrees", "-5 degrees"),  # a sign is not punctuation to trim
        ("#1 tip", "#1 tip"),
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # composed
        ("...", ""),
    ],
)
def test_normalize_text(text: str, normalized: str) -> None:
    assert normalize_text(text) == normalized


def test_normalized_key_merges_spellings_the_exact_key_keeps_apart() -> None:
    shouting = openai_body()
    shouting["messages"][1]["content"] = "  HOW do i reset my   password "
    assert okey(shouting) != okey(openai_body())
    assert normalized_key(shouting, wire="openai", namespace="team-a") == normalized_key(
        openai_body(), wire="openai", namespace="team-a"
    )


def test_normalized_and_exact_keys_never_collide() -> None:
    keys = request_keys(openai_body(), wire="openai", namespace="team-a")
    assert keys.exact == okey(openai_body())
    assert keys.normalized != keys.exact


def test_normalized_key_still_separates_different_words_and_parameters() -> None:
    other = openai_body()
    other["messages"][1]["content"] = "How do I reset my pin?"
    assert normalized_key(other, wire="openai", namespace="t") != normalized_key(
        openai_body(), wire="openai", namespace="t"
    )
    assert normalized_key(openai_body(temperature=0), wire="openai", namespace="t") != (
        normalized_key(openai_body(), wire="openai", namespace="t")
    )


def test_tool_results_are_not_normalized() -> None:
    upper = openai_body(messages=tool_conversation("c1", result="Code AB-12"))
    lower = openai_body(messages=tool_conversation("c1", result="code ab-12"))
    assert normalized_key(upper, wire="openai", namespace="t") != normalized_key(
        lower, wire="openai", namespace="t"
    )


# ---------------------------------------------------------------- conversation split (phase 4)


def chat(*turns: str, system: str = "You are a helpful support agent.", **extra: Any) -> Any:
    roles = ["user", "assistant"]
    messages: list[Any] = [{"role": "system", "content": system}] if system else []
    messages += [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return split_conversation(openai_body(messages=messages, **extra), wire="openai", namespace="t")


def test_split_of_a_single_question() -> None:
    split = chat("How do I reset my password?")
    assert split.last_turn_text == "How do I reset my password?"
    assert split.context_turns == ()
    assert split.needs_context is False
    assert split.semantic_ok is True


def test_scope_is_what_must_agree_exactly() -> None:
    base = chat("How do I reset my password?")
    assert chat("How can I change my password?").scope_key == base.scope_key
    assert chat("How do I reset my password?", system="Be terse.").scope_key != base.scope_key
    assert chat("How do I reset my password?", temperature=0).scope_key != base.scope_key
    assert chat("How do I reset my password?", model="gpt-4o").scope_key != base.scope_key
    assert chat("How do I reset my password?", tools=[WEATHER_TOOL]).scope_key != base.scope_key
    other_team = split_conversation(
        openai_body(messages=[{"role": "user", "content": "x"}]), wire="openai", namespace="u"
    )
    same_team = split_conversation(
        openai_body(messages=[{"role": "user", "content": "x"}]), wire="openai", namespace="t"
    )
    assert other_team.scope_key != same_team.scope_key
    assert other_team.context_key != same_team.context_key


def test_the_same_reworded_question_in_the_same_conversation_keeps_its_context() -> None:
    earlier = ("I have the Pro plan.", "Great, how can I help?")
    first = chat(*earlier, "How do I cancel it?")
    second = chat(*earlier, "What's the way to cancel it?")
    assert first.context_key == second.context_key
    assert first.recent_key == second.recent_key
    assert first.last_turn_text != second.last_turn_text
    assert first.context_turns == ("i have the pro plan", "great, how can i help")


def test_the_same_question_after_irrelevant_chatter() -> None:
    plain = chat("How do I reset my password?")
    chatty = chat("Hi there!", "Hello! How can I help?", "How do I reset my password?")
    assert chatty.context_key != plain.context_key  # the strict test fails ...
    assert chatty.scope_key == plain.scope_key  # ... but the scope agrees
    assert chatty.needs_context is False  # ... and the question stands alone
    assert chatty.context_turns == ("hi there", "hello! how can i help")


def test_a_reply_that_leans_on_the_conversation_needs_it() -> None:
    streaming = chat("Can I pause my streaming plan?", "Would you like me to cancel it?", "Yes")
    gym = chat("Can I pause my gym membership?", "Would you like me to cancel it?", "Yes")
    assert streaming.needs_context and gym.needs_context
    assert streaming.last_turn_text == gym.last_turn_text
    assert streaming.context_key != gym.context_key
    assert streaming.recent_key != gym.recent_key


def test_recent_key_ignores_older_turns() -> None:
    tail = ("Can I pause my streaming plan?", "Would you like me to cancel it?", "Yes, cancel it")
    short = chat(*tail)
    long = chat("Hi", "Hello!", *tail)
    assert short.recent_key == long.recent_key
    assert short.context_key != long.context_key


@pytest.mark.parametrize(
    ("text", "needs"),
    [
        ("Yes, cancel it", True),
        ("why?", True),
        ("And what about Rome?", True),
        ("What about the second one?", True),
        ("Can you say that again in French?", True),
        ("How much do they cost per month?", True),
        ("Is there a cheaper one?", False),  # "a ... one": a count, not a reference
        ("How do I reset my password?", False),
        ("Is there a way to reset my password?", False),
        ("Is it possible to reset my password by e-mail?", False),
        ("What are the opening hours of the Louvre?", False),
    ],
)
def test_needs_context(text: str, needs: bool) -> None:
    assert chat("Hello", "Hi! How can I help?", text).needs_context is needs


def test_no_semantic_answer_for_tool_results_prefills_or_attachments_only() -> None:
    tool_turn = split_conversation(
        openai_body(messages=tool_conversation("c1"), tools=[WEATHER_TOOL]),
        wire="openai",
        namespace="t",
    )
    assert tool_turn.semantic_ok is False
    prefill = split_conversation(
        anthropic_body(
            messages=[
                {"role": "user", "content": "Write a haiku"},
                {"role": "assistant", "content": "Autumn"},
            ]
        ),
        wire="anthropic",
        namespace="t",
    )
    assert prefill.semantic_ok is False
    image_only = openai_body(
        messages=[
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
            }
        ]
    )
    assert split_conversation(image_only, wire="openai", namespace="t").semantic_ok is False


def test_attachments_of_the_last_turn_are_part_of_the_scope() -> None:
    cat = split_conversation(
        openai_body(messages=[image_message("https://example.com/cat.png")]),
        wire="openai",
        namespace="t",
    )
    dog = split_conversation(
        openai_body(messages=[image_message("https://example.com/dog.png")]),
        wire="openai",
        namespace="t",
    )
    assert cat.last_turn_text == dog.last_turn_text == "What is in this picture?"
    assert cat.semantic_ok
    assert cat.scope_key != dog.scope_key


def test_anthropic_split_with_system_blocks() -> None:
    body = anthropic_body(
        system=[{"type": "text", "text": "You are terse."}],
        messages=[
            {"role": "user", "content": "I use the EU region."},
            {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]},
            {"role": "user", "content": [{"type": "text", "text": "Where is my data stored?"}]},
        ],
    )
    split = split_conversation(body, wire="anthropic", namespace="t")
    assert split.last_turn_text == "Where is my data stored?"
    assert split.context_turns == ("i use the eu region", "noted")
    same_system_as_string = split_conversation(
        {**body, "system": "You are terse."}, wire="anthropic", namespace="t"
    )
    assert split.scope_key == same_system_as_string.scope_key


def test_system_and_developer_messages_go_to_the_scope_not_the_context() -> None:
    split = chat("Hi", "Hello", "What is the refund policy?", system="Answer in English.")
    assert "answer in english" not in split.context_turns
    assert split.scope_key != chat("Hi", "Hello", "What is the refund policy?").scope_key


def test_tool_calls_render_in_context_turns() -> None:
    messages = [*tool_conversation("c1"), {"role": "user", "content": "And in Rome?"}]
    split = split_conversation(
        openai_body(messages=messages, tools=[WEATHER_TOOL]), wire="openai", namespace="t"
    )
    assert split.context_turns == ("weather in paris", "[call get_weather]", "[result 18c]")
    assert split.needs_context and split.semantic_ok


def test_legacy_completion_prompt_is_one_user_turn() -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5}
    split = split_conversation(body, wire="openai", namespace="t")
    assert split.last_turn_text == "Say hi"
    assert split.semantic_ok
    other = split_conversation({**body, "prompt": "Say bye"}, wire="openai", namespace="t")
    assert other.scope_key == split.scope_key  # the prompt is the question, not the scope
    assert okey(body) != okey({**body, "prompt": "Say bye"})
