"""Streams: Chat Completions chunks and Anthropic events -> Responses typed events.

The events come out in the order OpenAI's API emits them, with `sequence_number` counting from 0:
`response.created`, `response.in_progress`, then per output item `response.output_item.added`,
(for messages) `response.content_part.added`, the deltas, the matching `.done` events,
`response.content_part.done`, `response.output_item.done`; and last `response.completed` (or
`response.incomplete` when the model ran out of tokens or was filtered) with the usage. Items are
streamed one after the other: an item is done before the next one is added.

Translators return events as plain JSON objects (`encode_response_event` frames one for SSE).
An upstream stream that ends before its stop marker (chat `finish_reason`, Anthropic
`message_delta`), or reports an error, ends with `response.failed`, never a made-up completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from gateway.core.responses_events import (
    STREAM_CUT_SHORT,
    ResponsesEmitter,
    encode_response_event,
    sse_json_object,
)
from gateway.core.responses_json import as_dict, as_list
from gateway.core.responses_response import (
    ResponseIds,
    anthropic_finish_reason,
    chat_usage_to_responses,
    item_status_of,
)
from gateway.core.responses_tools import CALL_TYPES
from gateway.core.sse import SSEEvent
from gateway.core.translate_response import anthropic_usage_to_openai, json_text

__all__ = [
    "AnthropicToResponsesStream",
    "ChatToResponsesStream",
    "ResponsesEmitter",
    "encode_response_event",
]


def _index(event: Mapping[str, Any], key: str = "index") -> int:
    value = event.get(key)
    return value if isinstance(value, int) else 0


class _Translator:
    def __init__(
        self, request: Mapping[str, Any], *, model: str, **ids: Unpack[ResponseIds]
    ) -> None:
        self.emitter = ResponsesEmitter(request, model=model, **ids)
        self._calls: dict[int, int] = {}  # upstream call or block index -> output index
        self._finish: str | None = None
        self.usage: dict[str, Any] | None = None  # Responses usage, once the upstream sent it

    def finish(self) -> list[dict[str, Any]]:
        """The upstream body ended: complete the response, or fail it if the end never came."""
        em = self.emitter
        if em.closed:
            return []
        if self._finish is None:
            return em.fail(STREAM_CUT_SHORT)
        return em.complete(self._finish, self.usage or chat_usage_to_responses(None))

    def _text(self, kind: str, kind_item: str, delta: str) -> list[dict[str, Any]]:
        em = self.emitter
        out: list[dict[str, Any]] = []
        if em.open_type != kind_item:
            out.extend(em.open_message() if kind_item == "message" else em.open_reasoning())
        if em.part_kind != kind:
            out.extend(em.open_part(kind))
        out.extend(em.part_delta(delta))
        return out

    def _open_call(
        self, position: int, call_id: str, name: str
    ) -> tuple[list[dict[str, Any]], int]:
        """Open a function call item for the upstream call or block at `position`: the events,
        and the item's output index."""
        out = self.emitter.open_call(call_id, name)
        index = self._calls[position] = len(self.emitter.output) - 1
        return out, index

    def feed_sse(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = sse_json_object(event)
        return [] if data is None else self.feed(data)

    def feed(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One upstream chunk or event (parsed JSON) -> the Responses events it makes."""
        raise NotImplementedError


class ChatToResponsesStream(_Translator):
    """Upstream speaks `chat.completion.chunk`s (ask it for `include_usage`); the client reads
    Responses events. `reasoning_content`/`reasoning` deltas (vLLM, DeepSeek) become a reasoning
    item."""

    def __init__(
        self, request: Mapping[str, Any], *, model: str, **ids: Unpack[ResponseIds]
    ) -> None:
        super().__init__(request, model=model, **ids)
        self._call_ids: dict[str, int] = {}  # tool call id -> chat tool_calls index

    def feed_sse(self, event: SSEEvent) -> list[dict[str, Any]]:
        if event.data.strip() == "[DONE]":
            return self.finish()
        return super().feed_sse(event)

    def feed(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        em = self.emitter
        if em.closed:
            return []
        out = em.start()
        error = chunk.get("error")
        if error is not None and not chunk.get("choices"):
            message = error.get("message") if isinstance(error, dict) else str(error)
            return [*out, *em.fail(str(message or "upstream error"))]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chat_usage_to_responses(chunk["usage"])
        for choice in as_list(chunk.get("choices")):
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                out.extend(self._choice(choice))
        return out

    def _choice(self, choice: Mapping[str, Any]) -> list[dict[str, Any]]:
        em = self.emitter
        delta = as_dict(choice.get("delta"))
        out: list[dict[str, Any]] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.extend(self._text("reasoning", "reasoning", reasoning))
        if delta.get("content"):
            out.extend(self._text("text", "message", str(delta["content"])))
        if delta.get("refusal"):
            out.extend(self._text("refusal", "message", str(delta["refusal"])))
        for call in as_list(delta.get("tool_calls")):
            if isinstance(call, dict):
                out.extend(self._tool_call(call))
        if choice.get("finish_reason"):
            self._finish = str(choice["finish_reason"])
            out.extend(em.close_item(item_status_of(self._finish)))
        return out

    def _tool_call(self, call: Mapping[str, Any]) -> list[dict[str, Any]]:
        em = self.emitter
        position = call.get("index")
        call_id = call.get("id")
        if not isinstance(position, int):  # some servers leave index out: tell calls apart by id
            if isinstance(call_id, str) and call_id not in self._call_ids:
                position = len(self._calls)
            else:
                position = self._call_ids.get(call_id or "", len(self._calls) - 1)
        function = as_dict(call.get("function"))
        out: list[dict[str, Any]] = []
        index = self._calls.get(position)
        if index is None:
            cid = (
                call_id if isinstance(call_id, str) and call_id else f"call_{em.prefix}_{position}"
            )
            opened, index = self._open_call(position, cid, str(function.get("name") or ""))
            out.extend(opened)
            self._call_ids[cid] = position
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            out.extend(em.call_arguments(index, arguments))
        return out


class AnthropicToResponsesStream(_Translator):
    """Upstream speaks Anthropic Messages events (parsed JSON); the client reads Responses events.

    Text blocks in a row share one message item (one content part each); each `tool_use` block
    is a call item (a function, custom tool or tool search call, as its tool is); a thinking
    block is a reasoning item whose signature is kept in `encrypted_content`. Redacted thinking
    and server tool blocks are not carried.
    """

    def __init__(
        self, request: Mapping[str, Any], *, model: str, **ids: Unpack[ResponseIds]
    ) -> None:
        super().__init__(request, model=model, **ids)
        self._raw_usage: dict[str, Any] = {}

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        em = self.emitter
        if em.closed:
            return []
        kind = event.get("type")
        out = em.start()
        if kind == "content_block_delta":
            out.extend(self._delta(event))
        elif kind == "content_block_start":
            out.extend(self._block_start(event))
        elif kind == "content_block_stop":
            if em.open_type in CALL_TYPES or em.open_type == "reasoning":
                out.extend(em.close_item())
        elif kind == "message_start":
            self._update_usage(as_dict(event.get("message")).get("usage"))
        elif kind == "message_delta":
            self._update_usage(event.get("usage"))
            stop = as_dict(event.get("delta")).get("stop_reason")
            self._finish = anthropic_finish_reason(stop)
        elif kind == "message_stop":
            out.extend(self.finish())
        elif kind == "error":
            message = as_dict(event.get("error")).get("message")
            out.extend(em.fail(str(message or "upstream error")))
        return out

    def _block_start(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        em = self.emitter
        block = as_dict(event.get("content_block"))
        kind = block.get("type")
        if kind == "text":  # each text block is a content part: the message may be open already
            out = (
                em.open_part("text")
                if em.open_type == "message"
                else self._text("text", "message", "")
            )
            return [*out, *em.part_delta(str(block.get("text") or ""))]
        if kind == "tool_use":
            call_id, name = str(block.get("id") or ""), str(block.get("name") or "")
            out, index = self._open_call(_index(event), call_id, name)
            if block.get("input"):  # some servers send the whole input here, with no deltas
                out.extend(em.call_arguments(index, json_text(block["input"])))
            return out
        if kind == "thinking":
            out = self._text("reasoning", "reasoning", "")
            return [*out, *em.part_delta(str(block.get("thinking") or ""))]
        return []

    def _delta(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        em = self.emitter
        delta = as_dict(event.get("delta"))
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text("text", "message", str(delta.get("text") or ""))
        if kind == "input_json_delta":
            index = self._calls.get(_index(event))
            partial = delta.get("partial_json")
            if index is None or not isinstance(partial, str):
                return []
            return em.call_arguments(index, partial)
        if kind == "thinking_delta" and em.open_type == "reasoning":
            return em.part_delta(str(delta.get("thinking") or ""))
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            em.set_signature(delta["signature"])
        return []

    def _update_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._raw_usage.update((k, v) for k, v in usage.items() if v is not None)
            self.usage = chat_usage_to_responses(anthropic_usage_to_openai(self._raw_usage))
