"""Request bodies: OpenAI Responses (`/v1/responses`) -> Anthropic Messages.

The request goes through the chat shape (`responses_request_to_chat`), whose translation to
Anthropic already pairs tool calls with their results, merges consecutive roles, carries images
and turns `text.format` into a system instruction. On top of that, `reasoning.effort` becomes an
extended-thinking budget where Anthropic accepts one, and Claude's own earlier thinking comes back:
an Anthropic answer's thinking block is returned to the client as a reasoning item whose
`encrypted_content` is the block's signature marked with `ANTHROPIC_THINKING` (see
`responses_response.reasoning_item`); when the client sends that item back (directly, or through
`previous_response_id`), it becomes the thinking block again at the head of the assistant turn
that made the tool call it preceded. Reasoning items from other providers are dropped.

Tools reach Anthropic as the chat shape has them (`responses_tools`: namespaced tools flattened to
`<namespace>__<name>`, custom tools as one-string-argument functions, a client tool search as the
function `tool_search`); Claude's `tool_use` blocks come back through the same mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway.core.responses_json import as_dict, as_list
from gateway.core.responses_request import input_items, responses_request_to_chat
from gateway.core.responses_response import ANTHROPIC_THINKING
from gateway.core.responses_tools import CALL_TYPES
from gateway.core.translate_request import openai_request_to_anthropic

_NOT_ID_CHAR: Final = re.compile(r"[^A-Za-z0-9_-]")  # as translate_request rewrites tool ids
# Thinking budgets per reasoning effort (Anthropic's minimum budget is 1024 tokens).
THINKING_BUDGETS: Final[Mapping[str, int]] = {
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
    "max": 32768,
}
_ANSWER_ROOM: Final = 256  # tokens kept for the answer when max_output_tokens is tight


def _thinking_block(item: Mapping[str, Any]) -> dict[str, Any] | None:
    encrypted = item.get("encrypted_content")
    if not isinstance(encrypted, str) or not encrypted.startswith(ANTHROPIC_THINKING):
        return None
    text = "".join(
        str(part.get("text") or "")
        for part in as_list(item.get("content"))
        if isinstance(part, dict) and part.get("type") == "reasoning_text"
    )
    signature = encrypted[len(ANTHROPIC_THINKING) :]
    return {"type": "thinking", "thinking": text, "signature": signature}


def thinking_by_call(items: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Claude's thinking blocks, by the (Anthropic-safe) id of the tool call they preceded."""
    found: dict[str, list[dict[str, Any]]] = {}
    pending: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "reasoning":
            block = _thinking_block(item)
            if block is not None:
                pending.append(block)
        elif kind in CALL_TYPES:
            if pending and isinstance(item.get("call_id"), str):
                found[_NOT_ID_CHAR.sub("_", item["call_id"])] = pending
            pending = []
        else:
            pending = []
    return found


def _last_assistant(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    assistant = [message for message in messages if message.get("role") == "assistant"]
    return assistant[-1] if assistant else None


def _call_ids(message: Mapping[str, Any] | None) -> list[str]:
    content = (message or {}).get("content")
    if not isinstance(content, list):
        return []
    return [str(b.get("id")) for b in content if b.get("type") == "tool_use"]


def _restore_thinking(
    messages: list[dict[str, Any]], thinking: Mapping[str, list[dict[str, Any]]]
) -> None:
    for message in messages:
        if message.get("role") != "assistant":
            continue
        blocks = [b for call_id in _call_ids(message) for b in thinking.get(call_id, ())]
        if blocks:
            message["content"] = [*blocks, *message["content"]]


def _thinking_budget(
    body: Mapping[str, Any], out: dict[str, Any], *, continues_tool_turn: bool, signed: bool
) -> int | None:
    """The thinking budget to ask for, or None where Anthropic would refuse thinking.

    Thinking is left off with a forced tool choice or a sampling temperature/top_p (thinking
    allows neither), and on a turn that continues from tool results unless the assistant turn
    that called the tools has its signed thinking (Anthropic requires it there). The budget must
    leave room for the answer within `max_tokens`.
    """
    effort = as_dict(body.get("reasoning")).get("effort")
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None or "temperature" in out or "top_p" in out:
        return None
    if as_dict(out.get("tool_choice")).get("type") in ("any", "tool"):
        return None
    if continues_tool_turn and not signed:
        return None
    if body.get("max_output_tokens") is not None and out["max_tokens"] <= budget + _ANSWER_ROOM:
        budget = out["max_tokens"] - _ANSWER_ROOM
        if budget < THINKING_BUDGETS["low"]:
            return None
    return budget


def responses_request_to_anthropic(
    body: dict[str, Any],
    *,
    previous: Sequence[dict[str, Any]] = (),
    default_max_tokens: int = 4096,
) -> dict[str, Any]:
    """`/v1/responses` body (+ the stored items of `previous_response_id`) -> `/v1/messages`."""
    chat = responses_request_to_chat(body, previous=previous)
    chat.pop("stream_options", None)
    chat.pop("reasoning_effort", None)
    out = openai_request_to_anthropic(chat, default_max_tokens=default_max_tokens)
    thinking = thinking_by_call([*previous, *input_items(body)])
    last = _last_assistant(out["messages"])
    budget = _thinking_budget(
        body,
        out,
        continues_tool_turn=chat["messages"][-1].get("role") == "tool",
        signed=any(call_id in thinking for call_id in _call_ids(last)),
    )
    if budget is None:
        return out
    if body.get("max_output_tokens") is None:
        out["max_tokens"] = budget + default_max_tokens
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    _restore_thinking(out["messages"], thinking)
    return out
