"""OpenAI Responses API translation: the module the `/v1/responses` endpoint calls.

Pure, like `translate`: ids, times and the stored conversation are passed in; what cannot be
carried raises `InvalidRequest` naming the parameter. Split by kind of payload:

- requests: `responses_request_to_chat` (OpenAI-compatible upstreams),
  `responses_request_to_anthropic` (Anthropic), and the reverse `chat_request_to_responses`
  (a chat client served by a native Responses upstream);
- whole responses: `chat_response_to_responses`, `anthropic_response_to_responses`, and the
  reverse `responses_response_to_chat`;
- streams (incremental: `feed(...)` per upstream chunk/event, `finish()` at the end of the body):
  `ChatToResponsesStream`, `AnthropicToResponsesStream` (events out as JSON objects, framed by
  `encode_response_event`), and the reverse `ResponsesToChatStream` (chunks framed by
  `chat_chunk_frame`).

`previous` is the list of items the store holds for `previous_response_id` (the earlier input
items followed by that response's output items).
"""

from __future__ import annotations

from gateway.core.responses_chat_stream import ResponsesToChatStream, chat_chunk_frame
from gateway.core.responses_events import ResponsesEmitter, encode_response_event
from gateway.core.responses_from_chat import chat_request_to_responses
from gateway.core.responses_request import responses_request_to_chat
from gateway.core.responses_response import (
    ANTHROPIC_THINKING,
    anthropic_response_to_responses,
    chat_response_to_responses,
    chat_usage_to_responses,
    response_object,
    responses_response_to_chat,
    responses_usage_to_chat,
)
from gateway.core.responses_stream import AnthropicToResponsesStream, ChatToResponsesStream
from gateway.core.responses_to_anthropic import responses_request_to_anthropic

__all__ = [
    "ANTHROPIC_THINKING",
    "AnthropicToResponsesStream",
    "ChatToResponsesStream",
    "ResponsesEmitter",
    "ResponsesToChatStream",
    "anthropic_response_to_responses",
    "chat_chunk_frame",
    "chat_request_to_responses",
    "chat_response_to_responses",
    "chat_usage_to_responses",
    "encode_response_event",
    "response_object",
    "responses_request_to_anthropic",
    "responses_request_to_chat",
    "responses_response_to_chat",
    "responses_usage_to_chat",
]
