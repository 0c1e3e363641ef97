"""Whole responses: Chat Completions and Anthropic Messages -> a Responses `Response`, and back.

Ids and times are passed in. Output item ids are derived from `item_prefix` (by default the
response id without its `resp_` prefix): `msg_<prefix>_<n>`, `fc_<prefix>_<n>`, `rs_<prefix>_<n>`
(and `ctc_`/`tsc_` for custom tool and tool search calls), where n is the item's output index, so
the same answer always gets the same ids.

A tool call comes back as the item its tool's type calls for (`responses_tools.call_item`): the
request says which chat function name stands for which namespaced, custom or tool search tool.

The echoed request fields (instructions, tools, tool_choice, sampling, text format, reasoning,
metadata, ...) come from the client's Responses request body, as the API returns them.

Stop reasons: a chat `length` (Anthropic `max_tokens`) makes the response `incomplete` with
reason `max_output_tokens`; `content_filter` (Anthropic `refusal`) makes it `incomplete` with
reason `content_filter`; anything else is `completed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NotRequired, TypedDict, Unpack

from gateway.core.responses_json import as_dict, as_int, as_list, as_str
from gateway.core.responses_tools import CALL_TYPES, ToolRef, call_item, id_kind, tool_refs
from gateway.core.translate_response import anthropic_usage_to_openai, json_text

ANTHROPIC_THINKING: Final = "anthropic-thinking-signature:"
_INCOMPLETE_REASONS: Final[Mapping[str, str]] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}
_ANTHROPIC_FINISH: Final[Mapping[str, str]] = {
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


class ResponseIds(TypedDict):
    """How a translated `Response` is named: the keyword arguments every translator takes.

    `item_prefix` names the output items (by default the response id without `resp_`)."""

    response_id: str
    created_at: int | float
    item_prefix: NotRequired[str | None]


def item_prefix_of(response_id: str) -> str:
    return response_id.removeprefix("resp_")


def prefix_of(ids: ResponseIds) -> str:
    """The output item id prefix: `item_prefix` when given, else derived from the response id."""
    prefix = ids.get("item_prefix")
    return prefix if prefix is not None else item_prefix_of(ids["response_id"])


def anthropic_finish_reason(stop_reason: Any) -> str:
    """The chat finish reason an Anthropic `stop_reason` amounts to."""
    return _ANTHROPIC_FINISH.get(str(stop_reason), "stop")


def item_id(prefix: str, kind: str, index: int) -> str:
    """A deterministic output item id: kind is `msg`, `fc`, `ctc`, `tsc` or `rs`."""
    return f"{kind}_{prefix}_{index}"


def chat_usage_to_responses(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """Chat `usage` -> Responses `usage` (cached and cache-write tokens are part of the input)."""
    usage = usage or {}
    prompt_details = as_dict(usage.get("prompt_tokens_details"))
    completion_details = as_dict(usage.get("completion_tokens_details"))
    input_tokens, output_tokens = (
        as_int(usage.get("prompt_tokens")),
        as_int(usage.get("completion_tokens")),
    )
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": as_int(prompt_details.get("cached_tokens")),
            "cache_write_tokens": as_int(prompt_details.get("cache_write_tokens")),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {
            "reasoning_tokens": as_int(completion_details.get("reasoning_tokens")),
        },
        "total_tokens": as_int(usage.get("total_tokens")) or input_tokens + output_tokens,
    }


def responses_usage_to_chat(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    input_details = as_dict(usage.get("input_tokens_details"))
    prompt, completion = as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens"))
    prompt_details = {"cached_tokens": as_int(input_details.get("cached_tokens"))}
    if as_int(input_details.get("cache_write_tokens")):
        prompt_details["cache_write_tokens"] = as_int(input_details["cache_write_tokens"])
    reasoning = as_int(as_dict(usage.get("output_tokens_details")).get("reasoning_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": as_int(usage.get("total_tokens")) or prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def message_item(
    item_id_: str, texts: list[str], refusal: str | None, status: str
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [output_text_part(text) for text in texts]
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {
        "id": item_id_,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item(item_id_: str, text: str, signature: str | None) -> dict[str, Any]:
    """Thinking as a reasoning item. Claude's signature rides in `encrypted_content`, marked
    with `ANTHROPIC_THINKING`, so the block can go back to Anthropic next turn (and only there)."""
    item: dict[str, Any] = {
        "id": item_id_,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}] if text else [],
    }
    if signature:
        item["encrypted_content"] = ANTHROPIC_THINKING + signature
    return item


def response_object(
    request: Mapping[str, Any],
    *,
    response_id: str,
    created_at: int | float,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
    completed_at: int | float | None = None,
) -> dict[str, Any]:
    """A Responses `Response`, echoing the request's settings as the API does."""
    reasoning = as_dict(request.get("reasoning"))
    text = as_dict(request.get("text")) or {"format": {"type": "text"}}
    tools = request.get("tools")
    metadata = request.get("metadata")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls") is not False,
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": request.get("service_tier"),
        "store": request.get("store") is not False,
        "temperature": request.get("temperature"),
        "text": text,
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": list(tools) if isinstance(tools, list) else [],
        "top_p": request.get("top_p"),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage,
        "user": request.get("user"),
        "metadata": dict(metadata) if isinstance(metadata, dict) else {},
        "completed_at": completed_at,
    }


def status_of(finish_reason: str | None) -> tuple[str, str | None]:
    """(response status, incomplete reason) for a chat finish reason."""
    reason = _INCOMPLETE_REASONS.get(finish_reason or "")
    return ("incomplete", reason) if reason else ("completed", None)


def item_status_of(finish_reason: str | None) -> str:
    """The status of the output item that was open when the model stopped for this reason."""
    return status_of(finish_reason)[0]


def _whole_response(
    body: Mapping[str, Any],
    request: Mapping[str, Any],
    ids: ResponseIds,
    *,
    finish_reason: str | None,
    output: list[dict[str, Any]],
    usage: dict[str, Any],
) -> dict[str, Any]:
    """The finished `Response` for a whole upstream answer (`body`, for its model name)."""
    status, reason = status_of(finish_reason)
    created_at = ids["created_at"]
    return response_object(
        request,
        response_id=ids["response_id"],
        created_at=created_at,
        model=as_str(body.get("model")) or as_str(request.get("model")),
        status=status,
        output=output,
        usage=usage,
        incomplete_reason=reason,
        completed_at=created_at if status == "completed" else None,
    )


def _call_item(
    refs: Mapping[str, ToolRef], prefix: str, index: int, call_id: str, name: str, *, arguments: str
) -> dict[str, Any]:
    """The output item at `index` for a whole answer's call of chat function `name`."""
    ref = refs.get(name)
    cid = item_id(prefix, id_kind(ref), index)
    return call_item(ref, cid, call_id, name, arguments=arguments, status="completed")


def _chat_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(as_str(p.get("text")) for p in content if isinstance(p, dict))
    return ""


def chat_response_to_responses(
    body: Mapping[str, Any], request: Mapping[str, Any], **ids: Unpack[ResponseIds]
) -> dict[str, Any]:
    """`chat.completion` (first choice) -> `Response`."""
    prefix = prefix_of(ids)
    choices = as_list(body.get("choices"))
    choice = as_dict(choices[0] if choices else None)
    message = as_dict(choice.get("message"))
    finish = as_str(choice.get("finish_reason")) or None  # (not a string: no reason given)
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:  # vLLM, DeepSeek and others send it separately
        output.append(reasoning_item(item_id(prefix, "rs", 0), reasoning, None))
    text = _chat_text(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    if text or refusal:
        mid = item_id(prefix, "msg", len(output))
        output.append(message_item(mid, [text] if text else [], refusal, item_status_of(finish)))
    refs = tool_refs(request)
    for call in map(as_dict, as_list(message.get("tool_calls"))):
        function = as_dict(call.get("function"))
        arguments = function.get("arguments")
        output.append(
            _call_item(
                refs,
                prefix,
                len(output),
                as_str(call.get("id")) or f"call_{prefix}_{len(output)}",
                as_str(function.get("name")),
                arguments=arguments if isinstance(arguments, str) else json_text(arguments or {}),
            )
        )
    usage = chat_usage_to_responses(as_dict(body.get("usage")))
    return _whole_response(body, request, ids, finish_reason=finish, output=output, usage=usage)


def anthropic_response_to_responses(
    body: Mapping[str, Any], request: Mapping[str, Any], **ids: Unpack[ResponseIds]
) -> dict[str, Any]:
    """Anthropic message -> `Response`: text blocks in a row share one message item, each
    `tool_use` is a call item (as its tool is), thinking is a reasoning item (redacted thinking
    is left out)."""
    prefix = prefix_of(ids)
    finish = anthropic_finish_reason(body.get("stop_reason"))
    output: list[dict[str, Any]] = []
    refs = tool_refs(request)
    for block in map(as_dict, as_list(body.get("content"))):
        kind = block.get("type")
        last = output[-1] if output else None
        if kind == "text":
            if last is not None and last["type"] == "message":
                last["content"].append(output_text_part(as_str(block.get("text"))))
            else:
                mid = item_id(prefix, "msg", len(output))
                texts = [as_str(block.get("text"))]
                output.append(message_item(mid, texts, None, item_status_of(finish)))
        elif kind == "tool_use":
            output.append(
                _call_item(
                    refs,
                    prefix,
                    len(output),
                    as_str(block.get("id")),
                    as_str(block.get("name")),
                    arguments=json_text(block.get("input") or {}),
                )
            )
        elif kind == "thinking":
            rid = item_id(prefix, "rs", len(output))
            output.append(
                reasoning_item(rid, as_str(block.get("thinking")), as_str(block.get("signature")))
            )
    usage = chat_usage_to_responses(anthropic_usage_to_openai(as_dict(body.get("usage"))))
    return _whole_response(body, request, ids, finish_reason=finish, output=output, usage=usage)


def finish_reason_of_response(response: Mapping[str, Any]) -> str:
    """The chat finish reason a Responses `Response` amounts to."""
    if any(as_dict(item).get("type") in CALL_TYPES for item in as_list(response.get("output"))):
        return "tool_calls"
    reason = as_dict(response.get("incomplete_details")).get("reason")
    if reason == "max_output_tokens":
        return "length"
    if reason == "content_filter":
        return "content_filter"
    return "stop"


def responses_response_to_chat(
    response: Mapping[str, Any], *, completion_id: str | None = None
) -> dict[str, Any]:
    """`Response` -> `chat.completion` (a native Responses upstream answering a chat request).

    Reasoning items have no chat carrier and are left out; refusals become `refusal`.
    """
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in map(as_dict, as_list(response.get("output"))):
        kind = item.get("type")
        if kind == "message":
            for part in map(as_dict, as_list(item.get("content"))):
                if part.get("type") == "output_text":
                    texts.append(as_str(part.get("text")))
                elif part.get("type") == "refusal":
                    refusals.append(as_str(part.get("refusal")))
        elif kind == "function_call":
            function = {
                "name": as_str(item.get("name")),
                "arguments": as_str(item.get("arguments")),
            }
            calls.append(
                {"id": as_str(item.get("call_id")), "type": "function", "function": function}
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": "".join(refusals) if refusals else None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    created = response.get("created_at")
    return {
        "id": completion_id or as_str(response.get("id")),
        "object": "chat.completion",
        "created": int(created) if isinstance(created, int | float) else 0,
        "model": as_str(response.get("model")),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason_of_response(response),
                "logprobs": None,
            }
        ],
        "usage": responses_usage_to_chat(as_dict(response.get("usage"))),
        "system_fingerprint": None,
    }
