"""Upstream streams are untrusted input: whatever JSON arrives, the translators never raise, and
every event they emit is still a valid Responses event (or chat chunk / error body)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.core.errors import InvalidRequest
from gateway.core.responses_chat_stream import ResponsesToChatStream
from gateway.core.responses_from_chat import chat_request_to_responses
from gateway.core.responses_request import responses_request_to_chat
from gateway.core.responses_response import (
    anthropic_response_to_responses,
    chat_response_to_responses,
    response_object,
    responses_response_to_chat,
)
from gateway.core.responses_stream import AnthropicToResponsesStream, ChatToResponsesStream
from gateway.core.responses_to_anthropic import responses_request_to_anthropic

EVENT = TypeAdapter(ResponseStreamEvent)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 3), st.text(max_size=6), st.sampled_from(["", "{"])
)
KEYS = st.sampled_from(
    [
        "type",
        "index",
        "delta",
        "content",
        "tool_calls",
        "function",
        "arguments",
        "name",
        "id",
        "finish_reason",
        "choices",
        "usage",
        "error",
        "message",
        "content_block",
        "text",
        "partial_json",
        "stop_reason",
        "thinking",
        "signature",
        "reasoning_content",
        "refusal",
        "output_index",
        "item",
        "response",
        "input",
        "prompt_tokens",
        "input_tokens",
    ]
)
TYPES = st.sampled_from(
    [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "error",
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "signature_delta",
        "text",
        "tool_use",
        "thinking",
        "function_call",
        "response.output_text.delta",
        "response.output_item.added",
        "response.completed",
        "response.function_call_arguments.delta",
        "response.failed",
        "response.incomplete",
    ]
)
JSON = st.recursive(
    st.one_of(SCALARS, TYPES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(KEYS, inner, max_size=5),
    ),
    max_leaves=20,
)
OBJECTS = st.lists(st.dictionaries(KEYS, JSON, max_size=6), max_size=8)


def check_events(events: list[dict[str, Any]]) -> None:
    for event in events:
        EVENT.validate_python(event)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_chat_translator_survives_anything(chunks: list[dict[str, Any]]) -> None:
    stream = ChatToResponsesStream({}, response_id="resp_f", created_at=0, model="m")
    check_events([e for c in chunks for e in stream.feed(c)] + stream.finish())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_anthropic_translator_survives_anything(events: list[dict[str, Any]]) -> None:
    stream = AnthropicToResponsesStream({}, response_id="resp_f", created_at=0, model="m")
    check_events([o for e in events for o in stream.feed(e)] + stream.finish())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_reverse_translator_survives_anything(events: list[dict[str, Any]]) -> None:
    stream = ResponsesToChatStream(completion_id="c", created=0, model="m", include_usage=True)
    for chunk in [c for e in events for c in stream.feed(e)] + stream.finish():
        if "error" in chunk:
            assert isinstance(chunk["error"]["message"], str)
        else:
            ChatCompletionChunk.model_validate(chunk)


REQUEST_KEYS = st.sampled_from(
    [
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "format",
        "reasoning",
        "effort",
        "max_output_tokens",
        "temperature",
        "stream",
        "type",
        "role",
        "content",
        "call_id",
        "name",
        "arguments",
        "output",
        "image_url",
        "file_data",
        "parameters",
        "parallel_tool_calls",
        "top_logprobs",
        "metadata",
        "schema",
        "mode",
        "detail",
    ]
)
REQUEST_TYPES = st.sampled_from(
    [
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "input_text",
        "input_image",
        "input_file",
        "output_text",
        "refusal",
        "function",
        "json_schema",
        "json_object",
        "allowed_tools",
        "user",
        "assistant",
        "system",
        "developer",
        "auto",
        "required",
        "low",
        "high",
    ]
)
REQUEST_JSON = st.recursive(
    st.one_of(SCALARS, REQUEST_TYPES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(REQUEST_KEYS, inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(REQUEST_KEYS, REQUEST_JSON, max_size=8), st.lists(REQUEST_JSON, max_size=3))
def test_request_translators_answer_400_or_a_body(
    body: dict[str, Any], previous: list[Any]
) -> None:
    """A client's body either translates or is refused with InvalidRequest (a 400), never a 500."""
    items = [item for item in previous if isinstance(item, dict)]
    for translate in (responses_request_to_chat, responses_request_to_anthropic):
        try:
            out = translate(body, previous=items)
        except InvalidRequest:
            continue
        assert isinstance(out, dict)
    with contextlib.suppress(InvalidRequest):
        chat_request_to_responses(body)
    response_object(
        body,
        response_id="resp_f",
        created_at=0,
        model="m",
        status="completed",
        output=[],
        usage=None,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, JSON, max_size=8))
def test_whole_response_translators_survive_anything(body: dict[str, Any]) -> None:
    for translate in (chat_response_to_responses, anthropic_response_to_responses):
        Response.model_validate(translate(body, {}, response_id="resp_f", created_at=0))
    ChatCompletion.model_validate(responses_response_to_chat(body, completion_id="c"))
