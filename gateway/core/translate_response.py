"""Whole (non-streamed) responses and error bodies, OpenAI <-> Anthropic; usage and stop reasons.

Usage semantics differ and are mapped, not copied: Anthropic's `input_tokens` counts only the input
that was neither read from nor written to the prompt cache (total input is input + cache reads +
cache writes), while OpenAI's `prompt_tokens` is the total with `cached_tokens` a part of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import orjson

ANTHROPIC_TO_OPENAI_FINISH: Final[Mapping[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
OPENAI_TO_ANTHROPIC_STOP: Final[Mapping[str, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Error types: Anthropic's -> (OpenAI type, OpenAI code), and OpenAI's -> Anthropic's.
_ANTHROPIC_ERROR_TO_OPENAI: Final[Mapping[str, tuple[str, str | None]]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("authentication_error", "invalid_api_key"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("invalid_request_error", "not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "timeout_error": ("api_error", "timeout"),
    "overloaded_error": ("api_error", "overloaded"),
    "api_error": ("api_error", None),
}
_OPENAI_ERROR_TO_ANTHROPIC: Final[Mapping[str, str]] = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "invalid_api_key": "authentication_error",
    "permission_error": "permission_error",
    "not_found": "not_found_error",
    "model_not_found": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "rate_limit_exceeded": "rate_limit_error",
    "requests": "rate_limit_error",
    "tokens": "rate_limit_error",
    "insufficient_quota": "billing_error",
    "request_too_large": "request_too_large",
    "server_error": "api_error",
    "api_error": "api_error",
    "timeout": "timeout_error",
    "overloaded": "overloaded_error",
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def json_text(value: Any) -> str:
    """Compact JSON text; falls back to the stdlib for what orjson refuses (ints over 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def anthropic_usage_to_openai(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic usage (message or stream totals) -> OpenAI `usage`."""
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_write = _int(usage.get("cache_creation_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + cache_read + cache_write
    completion = _int(usage.get("output_tokens"))
    prompt_details: dict[str, int] = {"cached_tokens": cache_read}
    if cache_write:
        prompt_details["cache_write_tokens"] = cache_write
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
    }
    thinking = _dict(usage.get("output_tokens_details")).get("thinking_tokens")
    if isinstance(thinking, int):
        out["completion_tokens_details"] = {"reasoning_tokens": thinking}
    return out


def openai_usage_to_anthropic(usage: Mapping[str, Any]) -> dict[str, int]:
    """OpenAI `usage` -> Anthropic usage, splitting cache reads and writes out of the prompt."""
    details = _dict(usage.get("prompt_tokens_details"))
    cache_read = _int(details.get("cached_tokens"))
    cache_write = _int(details.get("cache_write_tokens"))
    return {
        "input_tokens": max(_int(usage.get("prompt_tokens")) - cache_read - cache_write, 0),
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def finish_reason_of(stop_reason: Any) -> str:
    return ANTHROPIC_TO_OPENAI_FINISH.get(stop_reason, "stop") if stop_reason else "stop"


def stop_reason_of(finish_reason: Any) -> str:
    return OPENAI_TO_ANTHROPIC_STOP.get(finish_reason, "end_turn") if finish_reason else "end_turn"


def parse_tool_arguments(raw: Any) -> dict[str, Any] | None:
    """A tool call's arguments (JSON text) as an object, or None when they are not one."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def anthropic_response_to_openai(
    body: dict[str, Any], *, model: str, created: int
) -> dict[str, Any]:
    """Anthropic message -> `chat.completion`.

    Thinking blocks have no place in a chat completion and are left out.
    """
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in body.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            arguments = json_text(block.get("input") or {})
            tool_calls.append(
                {
                    "id": block.get("id") or "",
                    "type": "function",
                    "function": {"name": block.get("name") or "", "arguments": arguments},
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": body.get("id") or "",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason_of(body.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": anthropic_usage_to_openai(_dict(body.get("usage"))),
        "system_fingerprint": None,
    }


def anthropic_response_to_openai_completion(
    body: dict[str, Any], *, model: str, created: int
) -> dict[str, Any]:
    """Anthropic message -> legacy `text_completion` (text blocks only)."""
    text = "".join(
        block.get("text") or ""
        for block in body.get("content") or ()
        if block.get("type") == "text"
    )
    finish = finish_reason_of(body.get("stop_reason"))
    return {
        "id": body.get("id") or "",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "text": text,
                "index": 0,
                "logprobs": None,
                "finish_reason": finish if finish != "tool_calls" else "stop",
            }
        ],
        "usage": anthropic_usage_to_openai(_dict(body.get("usage"))),
        "system_fingerprint": None,
    }


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some OpenAI-compatible servers answer with content parts
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def openai_response_to_anthropic(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """`chat.completion` -> Anthropic message (first choice; requests never ask for more).

    A refusal becomes text with stop reason `refusal`. Tool arguments that are not a JSON object
    (a model can emit broken JSON) are kept as `{"_raw_arguments": text}` rather than lost: the
    upstream has already been paid for this answer.
    """
    choices = body.get("choices") or [{}]
    choice = _dict(choices[0])
    message = _dict(choice.get("message"))
    content: list[dict[str, Any]] = []
    text = _message_text(message.get("content"))
    refusal = message.get("refusal")
    if text:
        content.append({"type": "text", "text": text})
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    calls = list(message.get("tool_calls") or ())
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"id": f"call_{len(calls)}", "function": legacy})
    for call in calls:
        function = _dict(call.get("function"))
        raw = function.get("arguments")
        arguments = parse_tool_arguments(raw)
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"call_{len(content)}",
                "name": function.get("name") or "",
                "input": arguments if arguments is not None else {"_raw_arguments": raw},
            }
        )
    stop = "refusal" if refusal else stop_reason_of(choice.get("finish_reason"))
    usage = openai_usage_to_anthropic(_dict(body.get("usage")))
    return {
        "id": body.get("id") or "",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _error_fields(body: Any) -> tuple[str, str | None, str | None]:
    """(message, type, code) from any error body shape seen in the wild."""
    if not isinstance(body, dict):
        return (str(body) if body else "upstream error", None, None)
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        kind, code = error.get("type"), error.get("code")
        return (
            message if isinstance(message, str) and message else json_text(error),
            kind if isinstance(kind, str) else None,
            str(code) if code is not None else None,
        )
    for key in ("message", "detail", "error"):  # {"message": ...}, FastAPI's {"detail": ...}
        value = body.get(key)
        if isinstance(value, str) and value:
            return value, None, None
    return (json_text(body) if body else "upstream error", None, None)


def openai_error_to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI(-compatible) upstream's error body -> Anthropic's. Never raises."""
    message, kind, code = _error_fields(body)
    mapped = _OPENAI_ERROR_TO_ANTHROPIC.get(code or "") or _OPENAI_ERROR_TO_ANTHROPIC.get(
        kind or "", "api_error"
    )
    return {"type": "error", "error": {"type": mapped, "message": message}}


def anthropic_error_to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic upstream's error body -> OpenAI's. Never raises."""
    message, kind, _ = _error_fields(body)
    openai_type, code = _ANTHROPIC_ERROR_TO_OPENAI.get(kind or "", ("api_error", None))
    return {"error": {"message": message, "type": openai_type, "param": None, "code": code}}
