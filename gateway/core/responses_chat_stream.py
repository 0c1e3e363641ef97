"""Stream, the reverse way: Responses events -> `chat.completion.chunk`s.

Used when a native Responses upstream (OpenAI, Azure OpenAI) answers a `/v1/chat/completions`
request. Chunks come out as JSON objects (`chat_chunk_frame` frames one for SSE): a first chunk
with the assistant role, one per text or refusal delta, one when a function call starts (id, name)
and one per arguments delta, then the finish chunk, and a usage chunk when `include_usage` was
asked for. Reasoning events have no chat carrier and give nothing. `response.failed`, an `error`
event, or an upstream that ends without `response.completed`/`response.incomplete` give an error
chunk (`{"error": {...}}`) and end the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.core.responses_events import STREAM_CUT_SHORT, sse_json_object
from gateway.core.responses_json import as_dict, as_str
from gateway.core.responses_response import finish_reason_of_response, responses_usage_to_chat
from gateway.core.sse import SSEEvent


def chat_chunk_frame(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _index(event: Mapping[str, Any]) -> int:
    value = event.get("output_index")
    return value if isinstance(value, int) else 0


def _error(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "api_error", "param": None, "code": code}}


class ResponsesToChatStream:
    """Feed it Responses events (parsed JSON); it returns chat chunks."""

    def __init__(
        self, *, completion_id: str, created: int, model: str, include_usage: bool
    ) -> None:
        self._id = completion_id
        self._created = created
        self._model = model
        self._include_usage = include_usage
        self._started = False
        self.closed = False
        self._calls: dict[int, int] = {}  # output index -> chat tool_calls index
        self.usage: dict[str, Any] | None = None  # chat usage, once the upstream sent it

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": [choice],
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": "", "refusal": None})]

    def feed_sse(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = sse_json_object(event)
        return [] if data is None else self.feed(data)

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.closed:
            return []
        kind = event.get("type")
        delta = event.get("delta")
        if not isinstance(delta, str):
            delta = ""
        if kind == "response.output_text.delta" and delta:
            return [*self._start(), self._chunk({"content": delta})]
        if kind == "response.refusal.delta" and delta:
            return [*self._start(), self._chunk({"refusal": delta})]
        if kind == "response.function_call_arguments.delta" and delta:
            position = self._calls.get(_index(event))
            if position is None:
                return []
            call = {"index": position, "function": {"arguments": delta}}
            return [self._chunk({"tool_calls": [call]})]
        if kind == "response.output_item.added":
            return self._item_added(event)
        if kind in ("response.completed", "response.incomplete"):
            return self._end(as_dict(event.get("response")))
        if kind == "response.failed":
            error = as_dict(as_dict(event.get("response")).get("error"))
            return self._fail(str(error.get("message") or "the response failed"), error.get("code"))
        if kind == "error":
            return self._fail(str(event.get("message") or "upstream error"), event.get("code"))
        return []

    def finish(self) -> list[dict[str, Any]]:
        """The upstream body ended; without a final response event that is an error."""
        return [] if self.closed else self._fail(STREAM_CUT_SHORT)

    def _item_added(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        item = as_dict(event.get("item"))
        out = self._start()
        if item.get("type") != "function_call":
            return out
        position = self._calls[_index(event)] = len(self._calls)
        call = {
            "index": position,
            "id": as_str(item.get("call_id")),
            "type": "function",
            "function": {
                "name": as_str(item.get("name")),
                "arguments": as_str(item.get("arguments")),
            },
        }
        return [*out, self._chunk({"tool_calls": [call]})]

    def _end(self, response: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = self._start()
        self.closed = True
        finish = finish_reason_of_response(response)
        if not self._calls and finish == "tool_calls":
            finish = "stop"
        elif self._calls and finish == "stop":  # a final response sent without its output
            finish = "tool_calls"
        out.append(self._chunk({}, finish))
        self.usage = responses_usage_to_chat(as_dict(response.get("usage")))
        if self._include_usage:
            last = self._chunk({})
            last["choices"] = []
            last["usage"] = self.usage
            out.append(last)
        return out

    def _fail(self, message: str, code: Any = None) -> list[dict[str, Any]]:
        self.closed = True
        return [_error(message, str(code) if code is not None else None)]
