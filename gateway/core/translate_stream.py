"""Streams, event by event: Anthropic SSE -> OpenAI chunks, and OpenAI chunks -> Anthropic SSE.

Each translator is fed parsed `SSEEvent`s and returns finished frames (bytes) for the client. The
per-event path builds frames from a prefix encoded once (id, model, created) plus one
`orjson.dumps` of the part that changes, so a text delta costs one small dump.

An upstream stream that stops before its end marker (Anthropic `message_delta`, OpenAI
`finish_reason`) ends the client stream with an error frame, never with a made-up stop reason.
"""

from __future__ import annotations

import abc
from typing import Any, Final

import orjson

from gateway.core.sse import SSEEvent, encode_event
from gateway.core.translate_response import (
    anthropic_error_to_openai,
    anthropic_usage_to_openai,
    finish_reason_of,
    openai_error_to_anthropic,
    openai_usage_to_anthropic,
    stop_reason_of,
)

DONE: Final = b"data: [DONE]\n\n"
_INCOMPLETE: Final = "the upstream stream ended before the response was complete"


def _loads(data: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class _FromAnthropic(abc.ABC):
    """Reads Anthropic's event sequence; subclasses say how each piece looks in OpenAI chunks."""

    _object: str = ""

    def __init__(self, *, model: str, created: int, response_id: str, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._head = b"".join(
            (
                b'data: {"id":',
                orjson.dumps(response_id),
                b',"object":"',
                self._object.encode(),
                b'","created":',
                orjson.dumps(created),
                b',"model":',
                orjson.dumps(model),
                b',"system_fingerprint":null,"choices":[',
            )
        )
        self._tail = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"
        self._raw_usage: dict[str, Any] = {}
        self._started = False
        self._finished = False  # the chunk with finish_reason went out
        self._closed = False  # [DONE] or an error frame went out
        self.usage: dict[str, int] | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._closed:
            return []
        data = _loads(event.data)
        if data is None:
            return []
        kind = data.get("type") or event.event
        if kind == "content_block_delta":  # the hot path: one frame per text or JSON piece
            return self._on_delta(data)
        out: list[bytes] = []  # ping, and event types added after this was written, give nothing
        if kind == "content_block_start":
            out = [*self._ensure_started(), *self._on_block_start(data)]
        elif kind == "message_start":
            self._update_usage((data.get("message") or {}).get("usage"))
            out = self._ensure_started()
        elif kind == "message_delta":
            self._update_usage(data.get("usage"))
            stop = (data.get("delta") or {}).get("stop_reason")
            out = self._ensure_started()
            out.append(self._choice_frame(self._final_choice(finish_reason_of(stop))))
            self._finished = True
        elif kind == "message_stop":
            out = self.finish()
        elif kind == "error":
            out = [self._error_frame(anthropic_error_to_openai(data))]
        return out

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        if not self._finished:
            error = {"message": _INCOMPLETE, "type": "api_error", "param": None, "code": None}
            return [self._error_frame({"error": error})]
        self._closed = True
        if self._include_usage:
            usage = anthropic_usage_to_openai(self._raw_usage)
            return [self._head + b'],"usage":' + orjson.dumps(usage) + b"}\n\n", DONE]
        return [DONE]

    # -- hooks

    def _start(self) -> list[bytes]:
        self._started = True
        return []

    def _on_delta(self, data: dict[str, Any]) -> list[bytes]:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [*self._ensure_started(), self._text_frame(delta["text"])]
        return []

    def _on_block_start(self, data: dict[str, Any]) -> list[bytes]:
        block = data.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return [self._text_frame(block["text"])]
        return []

    @abc.abstractmethod
    def _text_frame(self, text: str) -> bytes: ...

    @abc.abstractmethod
    def _final_choice(self, finish_reason: str) -> dict[str, Any]: ...

    # -- helpers

    def _ensure_started(self) -> list[bytes]:
        return [] if self._started else self._start()

    def _choice_frame(self, choice: dict[str, Any]) -> bytes:
        return self._head + orjson.dumps(choice) + self._tail

    def _error_frame(self, body: dict[str, Any]) -> bytes:
        self._closed = True
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def _update_usage(self, usage: Any) -> None:
        """Message-start usage, then message-delta usage (cumulative: later values win)."""
        if not isinstance(usage, dict):
            return
        self._raw_usage.update((k, v) for k, v in usage.items() if v is not None)
        converted = anthropic_usage_to_openai(self._raw_usage)
        self.usage = {
            "prompt_tokens": converted["prompt_tokens"],
            "completion_tokens": converted["completion_tokens"],
            "total_tokens": converted["total_tokens"],
        }


class AnthropicToOpenAIStream(_FromAnthropic):
    """Upstream speaks Anthropic SSE; the client reads `chat.completion.chunk`s."""

    _object = "chat.completion.chunk"

    def __init__(self, *, model: str, created: int, response_id: str, include_usage: bool) -> None:
        super().__init__(
            model=model, created=created, response_id=response_id, include_usage=include_usage
        )
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    def _start(self) -> list[bytes]:
        self._started = True
        delta = {"role": "assistant", "content": "", "refusal": None}
        return [
            self._choice_frame(
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            )
        ]

    def _on_delta(self, data: dict[str, Any]) -> list[bytes]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [*self._ensure_started(), self._text_frame(text)] if text else []
        if kind == "input_json_delta":
            tool = self._tools.get(data.get("index", -1))
            partial = delta.get("partial_json")
            if tool is None or not partial:
                return []
            call = {"index": tool, "function": {"arguments": partial}}
            return [self._choice_frame(self._delta_choice({"tool_calls": [call]}))]
        return []  # thinking, signature and citation deltas have no chat-completion carrier

    def _on_block_start(self, data: dict[str, Any]) -> list[bytes]:
        block = data.get("content_block") or {}
        if block.get("type") != "tool_use":
            return super()._on_block_start(data)
        tool = self._tools[data.get("index", len(self._tools))] = len(self._tools)
        call = {
            "index": tool,
            "id": block.get("id") or "",
            "type": "function",
            "function": {"name": block.get("name") or "", "arguments": ""},
        }
        return [self._choice_frame(self._delta_choice({"tool_calls": [call]}))]

    def _text_frame(self, text: str) -> bytes:
        return b"".join(
            (
                self._head,
                b'{"index":0,"delta":{"content":',
                orjson.dumps(text),
                b'},"logprobs":null,"finish_reason":null}',
                self._tail,
            )
        )

    @staticmethod
    def _delta_choice(delta: dict[str, Any]) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}

    def _final_choice(self, finish_reason: str) -> dict[str, Any]:
        return {"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason}


class AnthropicToOpenAICompletionStream(_FromAnthropic):
    """Upstream speaks Anthropic SSE; the client of `/v1/completions` reads `text_completion`s."""

    _object = "text_completion"

    def _text_frame(self, text: str) -> bytes:
        return b"".join(
            (
                self._head,
                b'{"text":',
                orjson.dumps(text),
                b',"index":0,"logprobs":null,"finish_reason":null}',
                self._tail,
            )
        )

    def _final_choice(self, finish_reason: str) -> dict[str, Any]:
        finish = "stop" if finish_reason == "tool_calls" else finish_reason
        return {"text": "", "index": 0, "logprobs": None, "finish_reason": finish}


class OpenAIToAnthropicStream:
    """Upstream speaks OpenAI `chat.completion.chunk`s; the client reads Anthropic events.

    OpenAI reports usage only at the end (when asked with `stream_options.include_usage`), so
    `message_start` carries zero input tokens and the closing `message_delta` carries the real
    counts; an upstream that never reports usage yields `output_tokens: 0`.
    """

    def __init__(self, *, model: str, message_id: str) -> None:
        self._model = model
        self._message_id = message_id
        self._started = False
        self._closed = False
        self._next_index = 0  # next Anthropic content block index
        self._open: int | None = None  # the open block's index
        self._text_open = False
        self._tools: dict[int, int] = {}  # OpenAI tool_calls index -> Anthropic block index
        self._tool_ids: dict[str, int] = {}  # OpenAI tool call id -> OpenAI tool_calls index
        self._finish: str | None = None
        self._refused = False
        self._raw_usage: dict[str, int] | None = None
        self.usage: dict[str, int] | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._closed:
            return []
        if event.data == "[DONE]":
            return self._end(complete=True)
        chunk = _loads(event.data)
        if chunk is None:
            return []
        if chunk.get("error") is not None and not chunk.get("choices"):
            return self._error(openai_error_to_anthropic(chunk))
        if isinstance(chunk.get("usage"), dict):
            self._set_usage(chunk["usage"])
        out: list[bytes] = []
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._on_choice(choice, out)
        return out

    def finish(self) -> list[bytes]:
        return self._end(complete=False)

    def _on_choice(self, choice: dict[str, Any], out: list[bytes]) -> None:
        if not self._started:
            out.append(self._message_start())
        delta = choice.get("delta") or {}
        text = delta.get("content")
        if text:
            self._text(text, out)
        refusal = delta.get("refusal")
        if refusal:
            self._refused = True
            self._text(refusal, out)
        for call in delta.get("tool_calls") or ():
            self._tool_call(call, out)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]

    def _text(self, text: str, out: list[bytes]) -> None:
        if not self._text_open:
            out.extend(self._open_block({"type": "text", "text": ""}))
        out.append(
            b"".join(
                (
                    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":',
                    str(self._open).encode(),
                    b',"delta":{"type":"text_delta","text":',
                    orjson.dumps(text),
                    b"}}\n\n",
                )
            )
        )

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        position = call.get("index")
        call_id = call.get("id")
        if not isinstance(position, int):  # some servers leave index out: tell calls apart by id
            if isinstance(call_id, str) and call_id not in self._tool_ids:
                position = len(self._tools)
            else:
                position = self._tool_ids.get(call_id or "", len(self._tools) - 1)
        function = call.get("function") or {}
        block = self._tools.get(position)
        if block is None:
            tool_id = call_id or f"toolu_{self._message_id}_{position}"
            opened = {"type": "tool_use", "id": tool_id, "name": function.get("name") or ""}
            out.extend(self._open_block({**opened, "input": {}}))
            block = self._tools[position] = self._next_index - 1
            self._tool_ids[tool_id] = position
        arguments = function.get("arguments")
        if arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            event = {"type": "content_block_delta", "index": block, "delta": delta}
            out.append(encode_event(orjson.dumps(event), "content_block_delta"))

    def _open_block(self, block: dict[str, Any]) -> list[bytes]:
        out = self._close_block()
        self._text_open = block["type"] == "text"
        self._open = self._next_index
        self._next_index += 1
        event = {"type": "content_block_start", "index": self._open, "content_block": block}
        out.append(encode_event(orjson.dumps(event), "content_block_start"))
        return out

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        event = {"type": "content_block_stop", "index": self._open}
        self._open = None
        self._text_open = False
        return [encode_event(orjson.dumps(event), "content_block_stop")]

    def _message_start(self) -> bytes:
        self._started = True
        usage = (
            dict(self._raw_usage) if self._raw_usage else {"input_tokens": 0, "output_tokens": 0}
        )
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        event = {"type": "message_start", "message": message}
        return encode_event(orjson.dumps(event), "message_start")

    def _end(self, *, complete: bool) -> list[bytes]:
        if self._closed:
            return []
        if not complete and self._finish is None:
            return self._error(
                {"type": "error", "error": {"type": "api_error", "message": _INCOMPLETE}}
            )
        self._closed = True
        out = [] if self._started else [self._message_start()]
        out.extend(self._close_block())
        stop = "refusal" if self._refused else stop_reason_of(self._finish)
        usage: dict[str, int] = dict(self._raw_usage) if self._raw_usage else {"output_tokens": 0}
        delta = {"stop_reason": stop, "stop_sequence": None}
        message_delta = {"type": "message_delta", "delta": delta, "usage": usage}
        out.append(encode_event(orjson.dumps(message_delta), "message_delta"))
        out.append(encode_event(b'{"type":"message_stop"}', "message_stop"))
        return out

    def _error(self, body: dict[str, Any]) -> list[bytes]:
        self._closed = True
        return [encode_event(orjson.dumps(body), "error")]

    def _set_usage(self, usage: dict[str, Any]) -> None:
        self._raw_usage = openai_usage_to_anthropic(usage)
        self.usage = {
            "input_tokens": self._raw_usage["input_tokens"],
            "output_tokens": self._raw_usage["output_tokens"],
        }
