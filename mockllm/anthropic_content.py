"""Anthropic Messages API shapes: a message, its stream of events, and token counting.

Reply text is a function of `system` and `messages` only, not of the model. Whether a reply is a
`tool_use` block follows `mockllm.tool_use` (a forcing `tool_choice`, or a user turn that asks for
a tool by name); the answer to a `tool_result` is text that quotes it. Ids are derived from
the prompt as well (these functions take no clock), so the same prompt gives the same `msg_` id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from mockllm import tool_use
from mockllm.text import (
    MockRequestError,
    StreamFrames,
    content_tokens,
    digest,
    id_hex,
    json_pieces,
    json_tokens,
    positive_int,
    reply,
    require_model,
    schema_value,
    stop_list,
    tool_answer,
)

__all__ = ["count_input_tokens", "message", "message_stream_frames"]

# system: instructions between the turns (Claude Code 2.1 sends its agent list so)
_ROLES = frozenset({"user", "assistant", "system"})
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":'
)
_JSON_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"input_json_delta","partial_json":'
)


@dataclass(frozen=True, slots=True)
class _Plan:
    model: str
    seed: bytes
    tokens: list[str]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    tool_name: str | None = None
    tool_input: dict[str, Any] | None = None  # the complete members when a tool call was cut

    @property
    def block(self) -> dict[str, Any]:
        if self.tool_name is None:
            return {"type": "text", "text": "".join(self.tokens)}
        return {
            "type": "tool_use",
            "id": f"toolu_{self.seed[52:64].hex()}",
            "name": self.tool_name,
            "input": self.tool_input or {},
        }


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(body: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(body)
    return {
        "id": f"msg_{id_hex(plan.seed)}",
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": [plan.block],
        "stop_reason": plan.stop_reason,
        "stop_sequence": plan.stop_sequence,
        "usage": _usage(plan.input_tokens, len(plan.tokens)),
    }


def message_stream_frames(body: dict[str, Any]) -> StreamFrames:
    plan = _plan(body)
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_{id_hex(plan.seed)}",
            "type": "message",
            "role": "assistant",
            "model": plan.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(plan.input_tokens, 1),
        },
    }
    block = plan.block
    if plan.tool_name is not None:
        block["input"] = {}
        opening = _JSON_DELTA
    else:
        block["text"] = ""
        opening = _TEXT_DELTA
    frames = [
        _event(b"message_start", start),
        _event(
            b"content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        ),
        _PING,
    ]
    first_token = len(frames)
    frames.extend(opening + orjson.dumps(tok) + b"}}\n\n" for tok in plan.tokens)
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence},
        "usage": {
            "input_tokens": plan.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": len(plan.tokens),
        },
    }
    frames += [_BLOCK_STOP, _event(b"message_delta", delta), _MESSAGE_STOP]
    return StreamFrames(frames, first_token, len(plan.tokens))


def count_input_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/messages/count_tokens: the input_tokens a message request would report."""
    require_model(body)
    messages = _messages(body)
    return {"input_tokens": _input_tokens(body, messages)}


def _event(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise MockRequestError("messages: must be a non-empty list", param="messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in _ROLES:
            raise MockRequestError(
                f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'",
                param="messages",
            )
        if not isinstance(msg.get("content"), str | list):
            raise MockRequestError(
                f"messages.{i}.content: Input should be a string or a list of content blocks",
                param="messages",
            )
    return messages


def _input_tokens(body: dict[str, Any], messages: list[dict[str, Any]]) -> int:
    total = 1 + content_tokens(body.get("system"))
    for msg in messages:
        total += 3 + content_tokens(msg.get("content"))
    return total + json_tokens(body.get("tools"))


def _plan(body: dict[str, Any]) -> _Plan:
    model = require_model(body)
    if body.get("max_tokens") is None:
        raise MockRequestError("max_tokens: Field required", param="max_tokens")
    limit = positive_int(body, "max_tokens")
    messages = _messages(body)
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise MockRequestError("system: Input should be a string or a list of text blocks")
    stop = stop_list(body.get("stop_sequences"), "stop_sequences", allow_str=False)
    tool = _pick_tool(body, messages)
    seed = digest([system, messages])
    input_tokens = _input_tokens(body, messages)
    if tool is not None:
        name, schema = tool
        args = schema_value(schema, seed)
        pieces = json_pieces(args if isinstance(args, dict) else {})
        if limit is not None and limit < len(pieces):
            complete = pieces[limit - 1][1]
            kept = dict(list(args.items())[:complete]) if isinstance(args, dict) else {}
            tokens = [p for p, _ in pieces[:limit]]
            return _Plan(model, seed, tokens, "max_tokens", None, input_tokens, name, kept)
        tokens = [p for p, _ in pieces]
        return _Plan(model, seed, tokens, "tool_use", None, input_tokens, name, args)
    result = _tool_result(messages)
    text = reply(seed, limit, stop) if result is None else tool_answer(seed, *result, limit, stop)
    if text.stop_sequence is not None:
        reason = "stop_sequence"
    else:
        reason = "max_tokens" if text.truncated else "end_turn"
    return _Plan(model, seed, text.tokens, reason, text.stop_sequence, input_tokens)


def _pick_tool(body: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[str, Any] | None:
    """(name, input_schema) of the client tool to call, or None when the reply should be text."""
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    if choice is not None and kind not in ("auto", "any", "tool", "none"):
        raise MockRequestError(
            "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
            param="tool_choice",
        )
    tools = body.get("tools")
    if tools is None:
        if choice is not None:
            raise MockRequestError(
                "tool_choice may only be specified while providing tools", param="tool_choice"
            )
        return None
    if not isinstance(tools, list):
        raise MockRequestError("tools: Input should be a valid list", param="tools")
    schemas: dict[str, Any] = {}
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise MockRequestError(f"tools.{i}.name: Field required", param="tools")
        if tool.get("type") in (None, "custom"):
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise MockRequestError(f"tools.{i}.input_schema: Field required", param="tools")
            schemas.setdefault(tool["name"], schema)
    if kind == "tool" and isinstance(choice, dict) and choice.get("name") not in schemas:
        raise MockRequestError(
            f"tool_choice.name: no client tool named {choice.get('name')!r}", param="tool_choice"
        )
    mode: tool_use.Mode = "none" if kind == "none" else "required" if kind == "any" else "auto"
    forced = str(choice["name"]) if isinstance(choice, dict) and kind == "tool" else None
    chosen = tool_use.choose_tool(list(schemas), mode, forced, _user_text(_last_turn(messages)))
    return None if chosen is None else (chosen, schemas[chosen])


def _blocks_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
    )


def _last_turn(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The last user or assistant message: a system message after it (Claude Code sends one with
    its agent list) is an instruction, not a turn."""
    return next((m for m in reversed(messages) if m.get("role") != "system"), messages[-1])


def _user_text(last: dict[str, Any]) -> str | None:
    """The text of a user turn, or None for an assistant turn or one carrying tool results."""
    if last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return None
    return _blocks_text(content)


def _tool_result(messages: list[dict[str, Any]]) -> tuple[str | None, str] | None:
    """(tool name, result text) of the first tool_result in the last turn, else None."""
    last = _last_turn(messages)
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, list):
        return None
    block = next(
        (b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"), None
    )
    if block is None:
        return None
    use_id = block.get("tool_use_id")
    for message in reversed(messages[:-1]):
        blocks = message.get("content") if message.get("role") == "assistant" else None
        for b in blocks if isinstance(blocks, list) else ():
            if isinstance(b, dict) and b.get("type") == "tool_use" and b.get("id") == use_id:
                name = b.get("name")
                return (name if isinstance(name, str) else None), _blocks_text(block.get("content"))
    return None, _blocks_text(block.get("content"))
