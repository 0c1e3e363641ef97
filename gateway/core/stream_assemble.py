"""Rebuild the whole response from the SSE frames a client received, so a finished stream can be
stored in the response cache and later served to a plain (non-streamed) request as well.

The assemblers read what the CLIENT got, after any translation: OpenAI `chat.completion.chunk`s
become a `chat.completion`, legacy `text_completion` chunks a `text_completion`, Anthropic
Messages events a `message`, Responses API events (`/v1/responses`) the Response object. The
result says whether the stream was complete (its final event arrived: `finish_reason` on every
choice, Anthropic `message_stop`, `response.completed`) and whether an error event came: the
cache stores neither partial nor failed streams (`cache_policy.response_decision`).

Feed it the frames before the gateway strips OpenAI's usage-only chunk (the gateway asks the
upstream for usage even when the client did not): a stored answer without usage cannot report
the tokens a hit saved, nor replay usage to a later client that asks for it.

The shapes built here are the ones OpenAI and Anthropic return for a non-streamed request
(`annotations: []` on every chat message, `content: null` beside tool calls, tool input parsed
from its JSON text); `cache_replay` is the inverse, and `assemble(replay(body)) == body` for
those shapes. Unknown frames and fields are skipped, never an error: a provider adding a field
must not make streams uncacheable, let alone fail them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson

from gateway.core.cache_key import Wire
from gateway.core.sse import SSEParser

_TOOL_INPUT_BLOCKS: Final = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_TEXT_DELTAS: Final = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "signature_delta": "signature",
}


@dataclass(frozen=True, slots=True)
class AssembledStream:
    """`body` is None when nothing usable arrived (or the stream was over `max_bytes`)."""

    body: dict[str, Any] | None
    completed: bool
    error: bool
    oversize: bool = False


class StreamAssembler(Protocol):
    def feed(self, frame_data: bytes | str) -> None:
        """One SSE event's data (JSON); `[DONE]` and what is not a JSON object are skipped."""

    def result(self) -> AssembledStream: ...


def _loads(data: bytes | str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _merge_logprobs(into: dict[str, Any] | None, piece: Any) -> dict[str, Any] | None:
    """Logprobs arrive per chunk: lists (`content`, `refusal`, legacy `tokens`, ...) concatenate,
    anything else keeps its latest value."""
    if not isinstance(piece, dict):
        return into
    merged = into if into is not None else {}
    for key, value in piece.items():
        if isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + value
        elif isinstance(value, list):
            merged[key] = list(value)
        elif value is not None or key not in merged:
            merged[key] = value
    return merged


@dataclass(slots=True)
class _Choice:
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None = None


class _OpenAIBase(abc.ABC):
    """What chat and legacy chunks share: response fields, usage, errors, choices by index."""

    _object: str = ""

    def __init__(self) -> None:
        self._meta: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None
        self._by_index: dict[int, Any] = {}
        self._error = False
        self._seen = False

    def feed(self, frame_data: bytes | str) -> None:
        chunk = _loads(frame_data)
        if chunk is None:  # `[DONE]` included
            return
        if chunk.get("error") is not None and not chunk.get("choices"):
            self._error = True
            return
        self._seen = True
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if key in chunk and (chunk[key] is not None or key not in self._meta):
                self._meta[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            index = index if isinstance(index, int) else 0
            state = self._by_index.get(index)
            if state is None:
                state = self._by_index[index] = self._new()
            self._update(state, choice)
            state.logprobs = _merge_logprobs(state.logprobs, choice.get("logprobs"))
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]

    @abc.abstractmethod
    def _new(self) -> _Choice: ...

    @abc.abstractmethod
    def _update(self, state: Any, choice: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def _render(self, index: int, state: Any) -> dict[str, Any]: ...

    def result(self) -> AssembledStream:
        if not self._seen:
            return AssembledStream(None, completed=False, error=self._error)
        body: dict[str, Any] = {
            "id": self._meta.get("id", ""),
            "object": self._object,
            "created": self._meta.get("created", 0),
            "model": self._meta.get("model", ""),
            "choices": [self._render(i, state) for i, state in sorted(self._by_index.items())],
        }
        for key in ("system_fingerprint", "service_tier"):
            if key in self._meta:
                body[key] = self._meta[key]
        if self._usage is not None:
            body["usage"] = self._usage
        states = self._by_index.values()
        finished = bool(states) and all(s.finish_reason is not None for s in states)
        return AssembledStream(body, completed=finished and not self._error, error=self._error)


def _add(parts: list[str] | None, piece: Any) -> list[str] | None:
    """Text pieces; None until the first string (then `""` and null stay apart)."""
    if not isinstance(piece, str):
        return parts
    if parts is None:
        return [piece]
    parts.append(piece)
    return parts


@dataclass(slots=True)
class _ToolCall:
    id: str = ""
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def update(self, call: dict[str, Any]) -> None:
        if not self.id and isinstance(call.get("id"), str):
            self.id = call["id"]
        if isinstance(call.get("type"), str):
            self.type = call["type"]
        function = call.get("function")
        if isinstance(function, dict):
            # The name comes whole in the call's first chunk; some servers repeat it later.
            if not self.name and isinstance(function.get("name"), str):
                self.name = function["name"]
            if isinstance(function.get("arguments"), str):
                self.arguments.append(function["arguments"])

    def function(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": "".join(self.arguments)}


@dataclass(slots=True)
class _ChatChoice(_Choice):
    role: str = "assistant"
    content: list[str] | None = None
    refusal: list[str] | None = None
    annotations: list[Any] = field(default_factory=list)
    calls: dict[int, _ToolCall] = field(default_factory=dict)
    call_ids: dict[str, int] = field(default_factory=dict)
    function_call: _ToolCall | None = None

    def tool_call(self, call: dict[str, Any]) -> None:
        position = call.get("index")
        call_id = call.get("id")
        if not isinstance(position, int):  # some servers leave index out: tell calls apart by id
            if isinstance(call_id, str) and call_id and call_id not in self.call_ids:
                position = len(self.calls)
            else:
                position = self.call_ids.get(call_id or "", max(len(self.calls) - 1, 0))
        entry = self.calls.get(position)
        if entry is None:
            entry = self.calls[position] = _ToolCall()
        entry.update(call)
        if entry.id:
            self.call_ids[entry.id] = position

    def message(self) -> dict[str, Any]:
        text = "".join(self.content) if self.content is not None else None
        if not text and self.calls:
            text = None  # OpenAI answers a tool call with `content: null`
        message: dict[str, Any] = {
            "role": self.role,
            "content": text,
            "refusal": "".join(self.refusal) if self.refusal is not None else None,
            "annotations": self.annotations,
        }
        if self.calls:
            message["tool_calls"] = [
                {"id": c.id, "type": c.type, "function": c.function()}
                for _, c in sorted(self.calls.items())
            ]
        if self.function_call is not None:
            message["function_call"] = self.function_call.function()
        return message


class OpenAIChatAssembler(_OpenAIBase):
    """`chat.completion.chunk`s -> `chat.completion`."""

    _object = "chat.completion"

    def _new(self) -> _ChatChoice:
        return _ChatChoice()

    def _update(self, state: _ChatChoice, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        if isinstance(delta.get("role"), str):
            state.role = delta["role"]
        state.content = _add(state.content, delta.get("content"))
        state.refusal = _add(state.refusal, delta.get("refusal"))
        if isinstance(delta.get("annotations"), list):
            state.annotations.extend(delta["annotations"])
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                state.tool_call(call)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            if state.function_call is None:
                state.function_call = _ToolCall()
            state.function_call.update({"function": legacy})

    def _render(self, index: int, state: _ChatChoice) -> dict[str, Any]:
        return {
            "index": index,
            "message": state.message(),
            "logprobs": state.logprobs,
            "finish_reason": state.finish_reason,
        }


@dataclass(slots=True)
class _TextChoice(_Choice):
    text: list[str] = field(default_factory=list)


class OpenAICompletionAssembler(_OpenAIBase):
    """Legacy `/v1/completions` chunks -> `text_completion`."""

    _object = "text_completion"

    def _new(self) -> _TextChoice:
        return _TextChoice()

    def _update(self, state: _TextChoice, choice: dict[str, Any]) -> None:
        if isinstance(choice.get("text"), str):
            state.text.append(choice["text"])

    def _render(self, index: int, state: _TextChoice) -> dict[str, Any]:
        return {
            "text": "".join(state.text),
            "index": index,
            "logprobs": state.logprobs,
            "finish_reason": state.finish_reason,
        }


class AnthropicAssembler:
    """Messages API events -> `message`.

    Text, thinking and tool input arrive as deltas on numbered content blocks; a tool's input is
    JSON text in pieces, parsed when its block stops (text that is not a JSON object is kept as
    `{"_raw_arguments": text}`, as the gateway's translation does, rather than lost). Usage comes
    in `message_start` and, cumulative, in `message_delta`: later values win.
    """

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._pieces: dict[tuple[int, str], list[str]] = {}  # joined once, in `result`
        self._json: dict[int, list[str]] = {}  # tool input JSON text
        self._stopped = False
        self._error = False

    def feed(self, frame_data: bytes | str) -> None:
        event = _loads(frame_data)
        if event is None:
            return
        kind = event.get("type")
        if kind == "content_block_delta":  # the hot path
            self._delta(event)
        elif kind == "message_start":
            message = event.get("message")
            if isinstance(message, dict):
                self._message = dict(message)
                usage = message.get("usage")
                self._message["usage"] = dict(usage) if isinstance(usage, dict) else {}
        elif kind == "content_block_start":
            self._start(event)
        elif kind == "content_block_stop":
            self._stop(event.get("index"))
        elif kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self._stopped = True
        elif kind == "error":
            self._error = True

    def _start(self, event: dict[str, Any]) -> None:
        index, block = event.get("index"), event.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return
        self._blocks[index] = dict(block)
        if block.get("type") in _TOOL_INPUT_BLOCKS:
            self._json[index] = []

    def _delta(self, event: dict[str, Any]) -> None:
        index, delta = event.get("index"), event.get("delta")
        block = self._blocks.get(index) if isinstance(index, int) else None
        if block is None or not isinstance(index, int) or not isinstance(delta, dict):
            return
        kind = delta.get("type")
        if kind in _TEXT_DELTAS:
            key = _TEXT_DELTAS[kind]
            self._append(index, key, delta.get(key))
        elif kind == "input_json_delta":
            pieces = self._json.get(index)
            if pieces is not None and isinstance(delta.get("partial_json"), str):
                pieces.append(delta["partial_json"])
        elif kind == "citations_delta" and "citation" in delta:
            citations = block.get("citations")
            block["citations"] = [*(citations or ()), delta["citation"]]

    def _append(self, index: int, key: str, piece: Any) -> None:
        if not isinstance(piece, str):
            return
        pieces = self._pieces.get((index, key))
        if pieces is None:
            before = self._blocks[index].get(key)
            pieces = self._pieces[index, key] = [before] if isinstance(before, str) else []
        pieces.append(piece)

    def _stop(self, index: Any) -> None:
        pieces = self._json.pop(index, None) if isinstance(index, int) else None
        if pieces is None:
            return
        text = "".join(pieces)
        if not text.strip():
            return  # no input deltas: the block's own (empty) input stands
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        self._blocks[index]["input"] = (
            value if isinstance(value, dict) else {"_raw_arguments": text}
        )

    def _message_delta(self, event: dict[str, Any]) -> None:
        if self._message is None:
            return
        delta = event.get("delta")
        if isinstance(delta, dict):
            self._message.update(delta)
        usage = event.get("usage")
        if isinstance(usage, dict):
            self._message["usage"].update((k, v) for k, v in usage.items() if v is not None)

    def result(self) -> AssembledStream:
        if self._message is None:
            return AssembledStream(None, completed=False, error=self._error)
        for index in list(self._json):  # a block that never stopped: parse what came
            self._stop(index)
        for (index, key), pieces in self._pieces.items():
            self._blocks[index][key] = "".join(pieces)
        self._pieces.clear()
        body = dict(self._message)
        body["content"] = [dict(self._blocks[i]) for i in sorted(self._blocks)]
        completed = self._stopped and not self._error
        return AssembledStream(body, completed=completed, error=self._error)


_RESPONSES_TERMINAL: Final = {
    "response.completed": True,
    "response.incomplete": True,  # stopped by max_output_tokens or a filter: still an answer
    "response.failed": False,
}
_RESPONSES_DELTAS: Final = {  # event -> the field of the content part it adds to
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
}


class ResponsesAssembler:
    """Responses API events -> the Response object.

    The terminal event (`response.completed`, `.incomplete`, `.failed`) carries the whole Response:
    when it came, that is the result, as the API itself answers it. A stream cut short before it
    is rebuilt from the latest snapshot (`response.created` / `.in_progress`) and the items as far
    as they came: `response.output_item.added`/`.done` items, content parts, and the text,
    refusal and argument deltas of what was still open. `completed` holds for `.completed` and
    `.incomplete` (like a chat stream ending on finish_reason "length"); `.failed` and an
    `error` event are errors.
    """

    def __init__(self) -> None:
        self._response: dict[str, Any] | None = None
        self._final = False
        self._completed = False
        self._error = False
        self._items: dict[int, dict[str, Any]] = {}
        self._texts: dict[tuple[int, int, str], list[str]] = {}
        self._arguments: dict[int, list[str]] = {}

    def feed(self, frame_data: bytes | str) -> None:
        event = _loads(frame_data)
        if event is None:
            return
        kind = event.get("type")
        if not isinstance(kind, str):
            return
        index = event.get("output_index")
        if kind in _RESPONSES_DELTAS:  # the hot path
            part = event.get("content_index")
            if isinstance(index, int) and isinstance(part, int):
                key = (index, part, _RESPONSES_DELTAS[kind])
                self._texts.setdefault(key, []).append(_text(event.get("delta")))
        elif kind == "response.function_call_arguments.delta":
            if isinstance(index, int):
                self._arguments.setdefault(index, []).append(_text(event.get("delta")))
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(index, event.get("item"), done=kind.endswith(".done"))
        elif kind in ("response.content_part.added", "response.content_part.done"):
            self._part(index, event.get("content_index"), event.get("part"))
        elif kind in _RESPONSES_TERMINAL:
            self._snapshot(event.get("response"))
            self._final = True
            self._completed = _RESPONSES_TERMINAL[kind]
            self._error = self._error or not self._completed
        elif kind in ("response.created", "response.in_progress", "response.queued"):
            self._snapshot(event.get("response"))
        elif kind == "error":
            self._error = True

    def _snapshot(self, response: Any) -> None:
        if isinstance(response, dict):
            self._response = dict(response)

    def _item(self, index: Any, item: Any, *, done: bool) -> None:
        if not isinstance(index, int) or not isinstance(item, dict):
            return
        self._items[index] = copy = dict(item)
        if isinstance(copy.get("content"), list):
            copy["content"] = list(copy["content"])
        if done:  # the whole item: its deltas are in it
            self._arguments.pop(index, None)
            for key in [k for k in self._texts if k[0] == index]:
                del self._texts[key]

    def _part(self, index: Any, position: Any, part: Any) -> None:
        item = self._items.get(index) if isinstance(index, int) else None
        if item is None or not isinstance(position, int) or not isinstance(part, dict):
            return
        content = item.get("content")
        if not isinstance(content, list):
            content = item["content"] = []
        while len(content) <= position:
            content.append({})
        content[position] = dict(part)

    def _rebuilt_output(self) -> list[dict[str, Any]]:
        """The items as far as they came, open ones completed with their deltas."""
        for (index, position, field_name), pieces in self._texts.items():
            content = self._items.get(index, {}).get("content")
            if isinstance(content, list) and position < len(content):
                content[position] = {**content[position], field_name: "".join(pieces)}
        self._texts.clear()
        for index, pieces in self._arguments.items():
            if index in self._items:
                self._items[index]["arguments"] = "".join(pieces)
        self._arguments.clear()
        return [self._items[i] for i in sorted(self._items)]

    def result(self) -> AssembledStream:
        if self._response is None:
            return AssembledStream(None, completed=False, error=self._error)
        body = dict(self._response)
        if not self._final or not isinstance(body.get("output"), list):
            body["output"] = self._rebuilt_output()
        return AssembledStream(
            body, completed=self._completed and not self._error, error=self._error
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def assembler_for(wire: Wire, route: str) -> StreamAssembler:
    """The assembler for what the client reads: `wire` is the client's format, `route` the
    pipeline's label ("chat", "completions", "messages", "responses")."""
    if wire == "anthropic":
        return AnthropicAssembler()
    if route == "responses":
        return ResponsesAssembler()
    if route == "completions":
        return OpenAICompletionAssembler()
    return OpenAIChatAssembler()


class SSECapture:
    """Raw SSE bytes as written to the client (chunks split anywhere) -> an assembler.

    Past `max_bytes` it stops collecting and reports `oversize`: an answer too large to cache
    should cost no more memory than that.
    """

    __slots__ = ("_assembler", "_max_bytes", "_oversize", "_parser", "_size")

    def __init__(self, assembler: StreamAssembler, *, max_bytes: int | None = None) -> None:
        self._assembler = assembler
        self._parser = SSEParser()
        self._max_bytes = max_bytes
        self._size = 0
        self._oversize = False

    def feed(self, chunk: bytes) -> None:
        if self._oversize:
            return
        self._size += len(chunk)
        if self._max_bytes is not None and self._size > self._max_bytes:
            self._oversize = True
            return
        for event in self._parser.feed(chunk):
            self._assembler.feed(event.data)

    def result(self) -> AssembledStream:
        if self._oversize:
            return AssembledStream(None, completed=False, error=False, oversize=True)
        for event in self._parser.flush():
            self._assembler.feed(event.data)
        return self._assembler.result()
