"""A stored Responses `Response` told again as a new response: for cache hits on /v1/responses.

A hit is a new response (its own id, items and `created_at`, the asking request's settings
echoed), so it is rebuilt through the same emitter the stream translators use, with the stored
text cut into deltas of a few words as a model streams them. The whole answer is the events'
last response; a streamed one is the events themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from gateway.core.cache_replay import split_text
from gateway.core.responses_events import ResponsesEmitter
from gateway.core.responses_json import as_dict, as_list, as_str
from gateway.core.responses_response import (
    ResponseIds,
    chat_usage_to_responses,
    finish_reason_of_response,
)
from gateway.core.responses_tools import CALL_TYPES, chat_call

_PART_KINDS = {"output_text": ("text", "text"), "refusal": ("refusal", "refusal")}


def _message(em: ResponsesEmitter, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = em.open_message()
    for part in map(as_dict, as_list(item.get("content"))):
        kind = _PART_KINDS.get(as_str(part.get("type")))
        if kind is None:
            continue
        out.extend(em.open_part(kind[0]))
        for piece in split_text(as_str(part.get(kind[1]))):
            out.extend(em.part_delta(piece))
    return out


def _reasoning(em: ResponsesEmitter, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = em.open_reasoning()
    for part in map(as_dict, as_list(item.get("content"))):
        if part.get("type") == "reasoning_text":
            out.extend(em.open_part("reasoning"))
            for piece in split_text(as_str(part.get("text"))):
                out.extend(em.part_delta(piece))
    if item.get("encrypted_content"):
        em.output[-1]["encrypted_content"] = item["encrypted_content"]
    return out


def replay_events(
    stored: Mapping[str, Any], request: Mapping[str, Any], **ids: Unpack[ResponseIds]
) -> list[dict[str, Any]]:
    """The event sequence of `stored` as a new response to `request`, ending with
    `response.completed` (or `.incomplete`) carrying the whole new Response."""
    em = ResponsesEmitter(request, model=as_str(stored.get("model")), **ids)
    out = em.start()
    for item in map(as_dict, as_list(stored.get("output"))):
        kind = item.get("type")
        if kind == "message":
            out.extend(_message(em, item))
        elif kind in CALL_TYPES:  # function, custom and tool-search calls, namespaces kept
            name, arguments = chat_call(item)
            out.extend(em.open_call(as_str(item.get("call_id")), name))
            out.extend(em.call_arguments(len(em.output) - 1, arguments))
        elif kind == "reasoning":
            out.extend(_reasoning(em, item))
    usage = as_dict(stored.get("usage")) or chat_usage_to_responses(None)
    out.extend(em.complete(finish_reason_of_response(stored), usage))
    return out
