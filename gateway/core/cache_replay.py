"""A stored whole response -> the SSE frames a streamed request expects, in its original shape.

A cached answer may have been stored from a plain request or from an assembled stream
(`stream_assemble`); a streamed request answered from the cache gets it back as the provider
would have streamed it, so every client library reads it as usual:
- OpenAI chat: a role chunk, content (then refusal) in word-sized deltas, each tool call opened
  with its id and name and its arguments in pieces, one chunk with `finish_reason` per choice,
  the usage-only chunk (`choices: []`) when the client asked `stream_options.include_usage`
  (every chunk then carries `usage: null`, as OpenAI's do), and `data: [DONE]`;
- legacy completions: text deltas, a final chunk per choice, the usage chunk, `[DONE]`;
- Anthropic: `message_start` (input usage, no content), per block `content_block_start`, its
  deltas (`text_delta`, `input_json_delta`, `thinking_delta` + `signature_delta`,
  `citations_delta`) and `content_block_stop`, then `message_delta` (stop reason, the usage
  totals) and `message_stop`.

The stored id, created time and model are kept: the answer is the one given then. Text is cut
deterministically (at word boundaries, a few words a delta, long runs without spaces sliced), so
a replay is a pure function of the body. `stream_assemble` inverts it: assembling the frames gives
the body back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import orjson

from gateway.core.cache_key import Wire

DONE: Final = b"data: [DONE]\n\n"
WORDS_PER_DELTA: Final = 3
_SLICE: Final = 24  # characters: the longest delta cut from a run without spaces (JSON, CJK)
_PIECE: Final = re.compile(r"\s*\S+|\s+")
_TOOL_INPUT_BLOCKS: Final = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def split_text(text: str, words_per_delta: int = WORDS_PER_DELTA) -> list[str]:
    """Deltas of a few words each (a word carries the spaces before it, like a model's token);
    "".join(split_text(t)) == t. Empty text gives no deltas."""
    out: list[str] = []
    group: list[str] = []
    for match in _PIECE.finditer(text):
        piece = match.group()
        if len(piece) > _SLICE:
            if group:
                out.append("".join(group))
                group = []
            out.extend(piece[i : i + _SLICE] for i in range(0, len(piece), _SLICE))
            continue
        group.append(piece)
        if len(group) >= words_per_delta:
            out.append("".join(group))
            group = []
    if group:
        out.append("".join(group))
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class _Chunks:
    """OpenAI chunk framing: the response fields are encoded once, each chunk dumps its choice."""

    def __init__(self, body: dict[str, Any], obj: str, *, include_usage: bool) -> None:
        head: dict[str, Any] = {
            "id": body.get("id") or "",
            "object": obj,
            "created": body.get("created") or 0,
            "model": body.get("model") or "",
        }
        for key in ("service_tier", "system_fingerprint"):
            if key in body:
                head[key] = body[key]
        head["choices"] = []
        encoded = orjson.dumps(head)
        self._head = b"data: " + encoded[: -len(b"[]}")] + b"["
        self._tail = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"
        self._include_usage = include_usage
        self._usage = body.get("usage")

    def choice(self, choice: dict[str, Any]) -> bytes:
        return self._head + orjson.dumps(choice) + self._tail

    def ending(self) -> list[bytes]:
        if self._include_usage and isinstance(self._usage, dict):
            return [self._head + b'],"usage":' + orjson.dumps(self._usage) + b"}\n\n", DONE]
        return [DONE]


def _delta(index: int, delta: dict[str, Any], logprobs: Any = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": None}


def _chat_choice(
    choice: dict[str, Any], position: int, words_per_delta: int
) -> Iterator[dict[str, Any]]:
    index = choice.get("index", position)
    message = _dict(choice.get("message"))
    content = message.get("content")
    if isinstance(content, list):  # content parts, as some compatible servers answer
        content = "".join(_dict(p).get("text") or "" for p in content)
    refusal = message.get("refusal")
    role = {
        "role": message.get("role") or "assistant",
        "content": "" if isinstance(content, str) else None,
        "refusal": None,
    }
    yield _delta(index, role, choice.get("logprobs"))
    for piece in split_text(content if isinstance(content, str) else "", words_per_delta):
        yield _delta(index, {"content": piece})
    for piece in split_text(refusal if isinstance(refusal, str) else "", words_per_delta):
        yield _delta(index, {"refusal": piece})
    for position_, call in enumerate(_list(message.get("tool_calls"))):
        yield from _tool_call(index, position_, _dict(call), words_per_delta)
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        yield _delta(index, {"function_call": {"name": legacy.get("name") or "", "arguments": ""}})
        for piece in split_text(legacy.get("arguments") or "", words_per_delta):
            yield _delta(index, {"function_call": {"arguments": piece}})
    if _list(message.get("annotations")):
        yield _delta(index, {"annotations": message["annotations"]})
    finish = {"index": index, "delta": {}, "logprobs": None}
    yield finish | {"finish_reason": choice.get("finish_reason") or "stop"}


def _tool_call(
    index: int, position: int, call: dict[str, Any], words_per_delta: int
) -> Iterator[dict[str, Any]]:
    function = _dict(call.get("function"))
    opening = {
        "index": position,
        "id": call.get("id") or "",
        "type": call.get("type") or "function",
        "function": {"name": function.get("name") or "", "arguments": ""},
    }
    yield _delta(index, {"tool_calls": [opening]})
    arguments = function.get("arguments")
    if not isinstance(arguments, str):  # a dict some servers send: JSON text on the wire
        arguments = orjson.dumps(arguments).decode() if arguments is not None else ""
    for piece in split_text(arguments, words_per_delta):
        yield _delta(index, {"tool_calls": [{"index": position, "function": {"arguments": piece}}]})


def openai_chat_frames(
    body: dict[str, Any], *, include_usage: bool, words_per_delta: int = WORDS_PER_DELTA
) -> list[bytes]:
    """A `chat.completion` as `chat.completion.chunk` frames, ending with `data: [DONE]`."""
    chunks = _Chunks(body, "chat.completion.chunk", include_usage=include_usage)
    frames = [
        chunks.choice(part)
        for position, choice in enumerate(_list(body.get("choices")))
        for part in _chat_choice(_dict(choice), position, words_per_delta)
    ]
    return frames + chunks.ending()


def openai_completion_frames(
    body: dict[str, Any], *, include_usage: bool, words_per_delta: int = WORDS_PER_DELTA
) -> list[bytes]:
    """A `text_completion` as legacy completion chunks, ending with `data: [DONE]`."""
    chunks = _Chunks(body, "text_completion", include_usage=include_usage)
    frames: list[bytes] = []
    for position, raw in enumerate(_list(body.get("choices"))):
        choice = _dict(raw)
        index = choice.get("index", position)
        text = choice.get("text")
        logprobs = choice.get("logprobs")
        for piece in split_text(text if isinstance(text, str) else "", words_per_delta):
            part = {"text": piece, "index": index, "logprobs": logprobs, "finish_reason": None}
            frames.append(chunks.choice(part))
            logprobs = None  # all of them on the first chunk: assembling concatenates
        finish = choice.get("finish_reason") or "stop"
        part = {"text": "", "index": index, "logprobs": logprobs, "finish_reason": finish}
        frames.append(chunks.choice(part))
    return frames + chunks.ending()


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _block_deltas(block: dict[str, Any], words_per_delta: int) -> tuple[dict[str, Any], list[Any]]:
    """(the block as `content_block_start` opens it, its deltas)."""
    kind = block.get("type")
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        opened = {**block, "text": ""}
        if isinstance(block.get("citations"), list):
            opened["citations"] = []
            deltas += [{"type": "citations_delta", "citation": c} for c in block["citations"]]
        text = block.get("text")
        for piece in split_text(text if isinstance(text, str) else "", words_per_delta):
            deltas.append({"type": "text_delta", "text": piece})
        return opened, deltas
    if kind == "thinking":
        thinking = block.get("thinking")
        for piece in split_text(thinking if isinstance(thinking, str) else "", words_per_delta):
            deltas.append({"type": "thinking_delta", "thinking": piece})
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return {**block, "thinking": "", "signature": ""}, deltas
    if kind in _TOOL_INPUT_BLOCKS:
        value = block.get("input")
        text = orjson.dumps(value).decode() if value else ""
        for piece in split_text(text, words_per_delta):
            deltas.append({"type": "input_json_delta", "partial_json": piece})
        return {**block, "input": {}}, deltas
    return dict(block), deltas  # redacted thinking, tool results: whole in the start event


def anthropic_frames(
    body: dict[str, Any], *, words_per_delta: int = WORDS_PER_DELTA
) -> list[bytes]:
    """An Anthropic `message` as Messages API events, `message_start` to `message_stop`.

    `message_start` carries the input side of usage (and one output token, as the API's does);
    `message_delta` carries the totals, which a client takes as final.
    """
    usage = _dict(body.get("usage"))
    output = usage.get("output_tokens")
    start_usage = {**usage, "output_tokens": min(output, 1) if isinstance(output, int) else 0}
    message = {**body, "content": [], "stop_reason": None, "stop_sequence": None}
    message["usage"] = start_usage
    frames = [
        _event("message_start", {"type": "message_start", "message": message}),
        b'event: ping\ndata: {"type":"ping"}\n\n',
    ]
    for index, raw in enumerate(_list(body.get("content"))):
        opened, deltas = _block_deltas(_dict(raw), words_per_delta)
        start = {"type": "content_block_start", "index": index, "content_block": opened}
        frames.append(_event("content_block_start", start))
        frames.extend(
            _event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
            )
            for d in deltas
        )
        frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")}
    final = {"type": "message_delta", "delta": delta, "usage": usage}
    frames.append(_event("message_delta", final))
    frames.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    return frames


def replay_frames(
    body: dict[str, Any],
    *,
    wire: Wire,
    route: str,
    include_usage: bool,
    words_per_delta: int = WORDS_PER_DELTA,
) -> list[bytes]:
    """The frames for a streamed request answered with `body`: `wire` is the client's format,
    `route` the pipeline's label ("chat", "completions", "messages"). Anthropic streams always
    carry usage; OpenAI's only when the client asked (`include_usage`)."""
    if wire == "anthropic":
        return anthropic_frames(body, words_per_delta=words_per_delta)
    if route == "completions":
        return openai_completion_frames(
            body, include_usage=include_usage, words_per_delta=words_per_delta
        )
    return openai_chat_frames(body, include_usage=include_usage, words_per_delta=words_per_delta)
