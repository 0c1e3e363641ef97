"""When the cache is looked up and when an answer is stored: every rule, both ways."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic.types import Message
from multidict import CIMultiDict
from openai.types import Completion
from openai.types.chat import ChatCompletion

from gateway.core.cache_policy import (
    DEFAULT_POLICY,
    CachePolicy,
    Reason,
    RequestDecision,
    ResponseDecision,
    request_decision,
    response_decision,
)

OPEN = RequestDecision(lookup=True, store=True, reason=None)
STORE = ResponseDecision(store=True, reason=None)
TOOLS = [
    {
        "type": "function",
        "function": {"name": "charge_card", "parameters": {"type": "object", "properties": {}}},
    }
]


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], **extra}


def messages(**extra: Any) -> dict[str, Any]:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 256}
    return {**body, "messages": [{"role": "user", "content": "Hi"}], **extra}


def refused(reason: Reason, *, lookup: bool = False, store: bool = False) -> RequestDecision:
    return RequestDecision(lookup=lookup, store=store, reason=reason)


# ---------------------------------------------------------------- requests: the client's headers


def test_a_plain_request_is_looked_up_and_stored() -> None:
    assert request_decision(chat(), {}) == OPEN
    assert request_decision(messages(), {"content-type": "application/json"}) == OPEN


@pytest.mark.parametrize(
    ("headers", "decision"),
    [
        ({"x-smartflow-cache": "bypass"}, refused(Reason.CLIENT_BYPASS)),
        ({"X-Smartflow-Cache": "BYPASS"}, refused(Reason.CLIENT_BYPASS)),
        ({"x-smartflow-cache": "refresh"}, refused(Reason.CLIENT_NO_CACHE, store=True)),
        ({"x-smartflow-cache": "no-store"}, refused(Reason.CLIENT_NO_STORE, lookup=True)),
        ({"Cache-Control": "no-cache"}, refused(Reason.CLIENT_NO_CACHE, store=True)),
        ({"cache-control": "max-age=0"}, refused(Reason.CLIENT_NO_CACHE, store=True)),
        ({"Pragma": "no-cache"}, refused(Reason.CLIENT_NO_CACHE, store=True)),
        ({"Cache-Control": "no-store"}, refused(Reason.CLIENT_NO_STORE, lookup=True)),
        ({"Cache-Control": "No-Store, max-age=60"}, refused(Reason.CLIENT_NO_STORE, lookup=True)),
        ({"Cache-Control": "no-cache, no-store"}, refused(Reason.CLIENT_NO_CACHE)),
    ],
)
def test_the_client_can_opt_out(headers: dict[str, str], decision: RequestDecision) -> None:
    assert request_decision(chat(), headers) == decision


@pytest.mark.parametrize(
    "headers",
    [
        {"cache-control": "max-age=60"},
        {"cache-control": "public"},
        {"x-smartflow-cache": "miss"},  # a response value echoed back means nothing
        {"pragma": "something-else"},
    ],
)
def test_other_cache_headers_change_nothing(headers: dict[str, str]) -> None:
    assert request_decision(chat(), headers) == OPEN


def test_repeated_headers_are_all_read() -> None:
    headers = CIMultiDict([("Cache-Control", "max-age=60"), ("cache-control", "no-store")])
    assert request_decision(chat(), headers) == refused(Reason.CLIENT_NO_STORE, lookup=True)


# ---------------------------------------------------------------- requests: their content


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (chat(n=2), Reason.MULTIPLE_CHOICES),
        (
            {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "best_of": 3},
            Reason.MULTIPLE_CHOICES,
        ),
        (
            chat(modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}),
            Reason.OUTPUT_MODALITY,
        ),
        (chat(audio={"voice": "alloy", "format": "mp3"}), Reason.OUTPUT_MODALITY),
        (chat(modalities=["image", "text"]), Reason.OUTPUT_MODALITY),
        (chat(tools=TOOLS, tool_choice="required"), Reason.FORCED_TOOL_CALL),
        (
            chat(
                tools=TOOLS, tool_choice={"type": "function", "function": {"name": "charge_card"}}
            ),
            Reason.FORCED_TOOL_CALL,
        ),
        (
            chat(
                tools=TOOLS,
                tool_choice={
                    "type": "allowed_tools",
                    "allowed_tools": {
                        "mode": "required",
                        "tools": [{"type": "function", "function": {"name": "charge_card"}}],
                    },
                },
            ),
            Reason.FORCED_TOOL_CALL,
        ),
        (
            messages(
                tools=[{"name": "charge", "input_schema": {"type": "object"}}],
                tool_choice={"type": "any"},
            ),
            Reason.FORCED_TOOL_CALL,
        ),
        (
            messages(
                tools=[{"name": "charge", "input_schema": {"type": "object"}}],
                tool_choice={"type": "tool", "name": "charge"},
            ),
            Reason.FORCED_TOOL_CALL,
        ),
        (
            messages(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
            Reason.LIVE_TOOLS,
        ),
        (messages(tools=[{"type": "web_fetch_20250910", "name": "web_fetch"}]), Reason.LIVE_TOOLS),
        (
            messages(tools=[{"type": "code_execution_20250825", "name": "code_execution"}]),
            Reason.LIVE_TOOLS,
        ),
        (
            messages(mcp_servers=[{"type": "url", "url": "https://mcp.example.com", "name": "x"}]),
            Reason.LIVE_TOOLS,
        ),
        (chat(web_search_options={}), Reason.LIVE_TOOLS),
        (chat(temperature=1.2), Reason.TEMPERATURE),
        (chat(temperature=2), Reason.TEMPERATURE),
    ],
)
def test_requests_the_cache_must_not_answer(body: dict[str, Any], reason: Reason) -> None:
    assert request_decision(body, {}) == refused(reason)


@pytest.mark.parametrize(
    "body",
    [
        chat(n=1),
        chat(n=None),
        chat(modalities=["text"]),
        chat(audio=None),
        chat(tools=TOOLS),
        chat(tools=TOOLS, tool_choice="auto"),
        chat(tools=TOOLS, tool_choice="none"),
        chat(tools=TOOLS, tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "auto"}}),
        messages(
            tools=[{"name": "t", "input_schema": {"type": "object"}}], tool_choice={"type": "auto"}
        ),
        messages(
            tools=[{"name": "t", "input_schema": {"type": "object"}}], tool_choice={"type": "none"}
        ),
        messages(tools=[{"type": "bash_20250124", "name": "bash"}]),  # client tools: not live
        chat(temperature=0),
        chat(temperature=0.7),
        chat(temperature=1),  # the providers' default, where absent requests are
        chat(temperature=1.0),
        messages(temperature=1.0),
        chat(seed=42, temperature=0.9),  # seed is part of the key, not a reason to skip
        chat(temperature="warm"),  # not a number: validation answers it, not the cache
        chat(web_search_options=None),
        messages(mcp_servers=[]),
    ],
)
def test_requests_the_cache_may_answer(body: dict[str, Any]) -> None:
    assert request_decision(body, {}) == OPEN


def test_policy_opt_ins() -> None:
    hot = chat(temperature=1.5)
    assert request_decision(hot, {}) == refused(Reason.TEMPERATURE)
    assert request_decision(hot, {}, policy=CachePolicy(max_temperature=None)) == OPEN
    strict = CachePolicy(max_temperature=0.5)
    assert request_decision(chat(temperature=0.7), {}, policy=strict) == refused(Reason.TEMPERATURE)
    assert request_decision(chat(), {}, policy=strict) == OPEN  # absent is not above the bound
    forced = chat(tools=TOOLS, tool_choice="required")
    assert request_decision(forced, {}, policy=CachePolicy(cache_tool_calls=True)) == OPEN
    assert CachePolicy(max_temperature=1.0, cache_tool_calls=False) == DEFAULT_POLICY


def test_the_content_rule_wins_over_the_clients_no_cache() -> None:
    decision = request_decision(chat(n=3), {"cache-control": "no-cache"})
    assert decision == refused(Reason.MULTIPLE_CHOICES)
    bypass = request_decision(chat(n=3), {"x-smartflow-cache": "bypass"})
    assert bypass == refused(Reason.CLIENT_BYPASS)


# ---------------------------------------------------------------- responses


def openai_response(**message: Any) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "Open Settings, then Security.", **message},
        "logprobs": None,
        "finish_reason": "stop",
    }
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [choice],
        "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
        "system_fingerprint": "fp_06737a9306",
    }


def openai_with(finish: str | None = "stop", **message: Any) -> dict[str, Any]:
    body = openai_response(**message)
    body["choices"][0]["finish_reason"] = finish
    return body


def anthropic_response(stop: str | None = "end_turn", content: Any = None) -> dict[str, Any]:
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content if content is not None else [{"type": "text", "text": "Hi!"}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 6},
    }


TOOL_CALL = {
    "id": "call_abc123",
    "type": "function",
    "function": {"name": "charge_card", "arguments": '{"amount": 42}'},
}
TOOL_USE = {"type": "tool_use", "id": "toolu_01A", "name": "charge", "input": {"amount": 42}}


def test_fixtures_are_responses_the_sdks_parse() -> None:
    ChatCompletion.model_validate(openai_response())
    ChatCompletion.model_validate(openai_with("tool_calls", content=None, tool_calls=[TOOL_CALL]))
    Message.model_validate(anthropic_response())
    Message.model_validate(anthropic_response("tool_use", [TOOL_USE]))
    Completion.model_validate(LEGACY)


LEGACY: dict[str, Any] = {
    "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
    "object": "text_completion",
    "created": 1589478378,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": "Hello there", "index": 0, "logprobs": None, "finish_reason": "stop"}],
}


@pytest.mark.parametrize(
    "body",
    [
        openai_response(),
        openai_with("stop", content="Hi", refusal=None),
        anthropic_response(),
        anthropic_response("stop_sequence"),
        LEGACY,
    ],
)
def test_complete_answers_are_stored(body: dict[str, Any]) -> None:
    assert response_decision(200, body, {"content-type": "application/json"}) == STORE


def test_a_multichoice_answer_is_stored_when_every_choice_is_complete() -> None:
    body = openai_response()
    second = copy.deepcopy(body["choices"][0])
    second["index"] = 1
    body["choices"].append(second)
    assert response_decision(200, body, {}) == STORE
    body["choices"][1]["finish_reason"] = None
    assert response_decision(200, body, {}).reason is Reason.INCOMPLETE


@pytest.mark.parametrize(
    ("status", "body", "headers", "reason"),
    [
        (500, {"error": {"message": "boom", "type": "server_error"}}, {}, Reason.STATUS),
        (429, {"error": {"message": "slow down"}}, {}, Reason.STATUS),
        (400, anthropic_response(), {}, Reason.STATUS),
        (
            200,
            {"error": {"message": "upstream said no", "type": "invalid_request_error"}},
            {},
            Reason.ERROR,
        ),
        (
            200,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            {},
            Reason.ERROR,
        ),
        (200, openai_response(), {"Cache-Control": "no-store"}, Reason.UPSTREAM_NO_STORE),
        (200, openai_response(), {"cache-control": "private, max-age=0"}, Reason.UPSTREAM_NO_STORE),
        (200, openai_with("content_filter", content=""), {}, Reason.CONTENT_FILTER),
        (
            200,
            openai_with("tool_calls", content=None, tool_calls=[TOOL_CALL]),
            {},
            Reason.TOOL_CALLS,
        ),
        (200, openai_with("stop", content=None, tool_calls=[TOOL_CALL]), {}, Reason.TOOL_CALLS),
        (200, openai_with("function_call", content=None), {}, Reason.TOOL_CALLS),
        (
            200,
            openai_with("stop", content=None, refusal="I can't help with that."),
            {},
            Reason.REFUSAL,
        ),
        (200, openai_with(None), {}, Reason.INCOMPLETE),
        (200, openai_with("stop", content=""), {}, Reason.EMPTY),
        (200, openai_with("stop", content=None), {}, Reason.EMPTY),
        (200, {**openai_response(), "choices": []}, {}, Reason.EMPTY),
        (200, {}, {}, Reason.EMPTY),
        (200, None, {}, Reason.EMPTY),
        (200, {**LEGACY, "choices": [{**LEGACY["choices"][0], "text": ""}]}, {}, Reason.EMPTY),
        (
            200,
            {**LEGACY, "choices": [{**LEGACY["choices"][0], "finish_reason": None}]},
            {},
            Reason.INCOMPLETE,
        ),
        (200, anthropic_response("model_context_window_exceeded"), {}, Reason.TRUNCATED),
        (200, anthropic_response("refusal"), {}, Reason.CONTENT_FILTER),
        (200, anthropic_response("tool_use", [TOOL_USE]), {}, Reason.TOOL_CALLS),
        (200, anthropic_response("pause_turn"), {}, Reason.INCOMPLETE),
        (200, anthropic_response(None), {}, Reason.INCOMPLETE),
        (200, anthropic_response("end_turn", []), {}, Reason.EMPTY),
        (200, anthropic_response("end_turn", [{"type": "text", "text": ""}]), {}, Reason.EMPTY),
    ],
)
def test_answers_that_are_not_stored(
    status: int, body: Any, headers: dict[str, str], reason: Reason
) -> None:
    assert response_decision(status, body, headers) == ResponseDecision(False, reason)


def test_stream_errors_and_cancelled_streams_are_not_stored() -> None:
    body = openai_response()
    assert response_decision(200, body, {}, stream_error=True).reason is Reason.STREAM_ERROR
    assert response_decision(200, body, {}, completed=False).reason is Reason.INCOMPLETE
    assert response_decision(200, body, {}, completed=True) == STORE


def test_tool_calls_are_stored_for_a_key_that_opts_in() -> None:
    policy = CachePolicy(cache_tool_calls=True)
    tool_call = openai_with("tool_calls", content=None, tool_calls=[TOOL_CALL])
    assert response_decision(200, tool_call, {}, policy=policy) == STORE
    assert response_decision(
        200, anthropic_response("tool_use", [TOOL_USE]), {}, policy=policy
    ) == (STORE)
    refused = openai_with("content_filter")  # the opt-in covers tool calls, nothing else
    assert response_decision(200, refused, {}, policy=policy).reason is Reason.CONTENT_FILTER


def test_upstream_cache_headers_that_allow_storing() -> None:
    for value in ("max-age=3600", "public", "no-transform", "s-maxage=60"):
        assert response_decision(200, openai_response(), {"Cache-Control": value}) == STORE


def test_reasons_are_stable_strings_for_counters() -> None:
    values = [reason.value for reason in Reason]
    assert len(values) == len(set(values))
    assert all(value == value.lower() and " " not in value for value in values)
    assert f"{Reason.TRUNCATED}" == "truncated"


def test_an_answer_cut_off_at_the_clients_own_limit_is_stored() -> None:
    """max_tokens is in the key: only the same request with the same limit gets it back."""
    assert response_decision(200, openai_with("length"), {}) == STORE
    legacy = {**LEGACY, "choices": [{**LEGACY["choices"][0], "finish_reason": "length"}]}
    assert response_decision(200, legacy, {}) == STORE
    assert response_decision(200, anthropic_response("max_tokens"), {}) == STORE
