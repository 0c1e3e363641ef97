"""The Responses event sequence, built step by step: the part every stream translator shares.

`ResponsesEmitter` numbers events (`sequence_number` from 0), keeps the output items it has
streamed, and closes them in the order OpenAI's API does: deltas, the `.done` event of the part,
`response.content_part.done`, then `response.output_item.done`. Only one item is open at a time.

A tool call is streamed as the item its tool's type calls for (`responses_tools.call_item`, the
request says which chat name stands for which tool): a `function_call` (with its `namespace`, if
any) streams its arguments as they come; a `custom_tool_call`'s input is the decoded `input`
argument, which is only known once the JSON arguments are whole, so it goes out when the call
closes, as one `response.custom_tool_call_input.delta` and the `.done` event; a `tool_search_call`
carries its decoded `arguments` in `response.output_item.done`.

Events never share mutable parts with the emitter's state (items and responses are copied when an
event carries them), so a caller may keep, batch or change events. `completed_at` is the
`created_at` unless the caller sets `completed_at` (its own clock) before the stream completes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final, Unpack

import orjson

from gateway.core.responses_response import (
    ANTHROPIC_THINKING,
    ResponseIds,
    item_id,
    item_status_of,
    message_item,
    prefix_of,
    reasoning_item,
    response_object,
    status_of,
)
from gateway.core.responses_tools import call_item, id_kind, tool_refs
from gateway.core.sse import SSEEvent

# The end of a stream whose upstream stopped before it said the answer was complete.
STREAM_CUT_SHORT: Final = "the upstream stream ended before the response was complete"

_PART: Final[Mapping[str, tuple[str, str]]] = {  # part kind -> (part type, its text field)
    "text": ("output_text", "text"),
    "refusal": ("refusal", "refusal"),
    "reasoning": ("reasoning_text", "text"),
}
_EVENT: Final[Mapping[str, str]] = {  # part kind -> event name stem
    "text": "response.output_text",
    "refusal": "response.refusal",
    "reasoning": "response.reasoning_text",
}


def encode_response_event(event: Mapping[str, Any]) -> bytes:
    """One Responses event as an SSE frame (`event:` names the type, as OpenAI sends it)."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def sse_json_object(event: SSEEvent) -> dict[str, Any] | None:
    """The JSON object an upstream SSE event carries, or None when it carries anything else."""
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _part(kind: str, text: str) -> dict[str, Any]:
    part_type, field = _PART[kind]
    part: dict[str, Any] = {"type": part_type, field: text}
    if kind == "text":
        part.update(annotations=[], logprobs=[])
    return part


class ResponsesEmitter:
    """Builds the Responses event sequence; the translators say what happens upstream."""

    def __init__(
        self, request: Mapping[str, Any], *, model: str, **ids: Unpack[ResponseIds]
    ) -> None:
        self._request = request
        self._response_id = ids["response_id"]
        self._created_at = ids["created_at"]
        self._model = model
        self._prefix = prefix_of(ids)
        self._seq = 0
        self.started = False
        self.closed = False
        self.output: list[dict[str, Any]] = []
        self._open: int | None = None  # output index of the open item
        self._part: str | None = None  # kind of the open content part of the open item
        self._texts: list[str] = []  # pieces of the open part
        self._refs = tool_refs(request)
        self._calls: dict[int, tuple[str, str]] = {}  # output index -> (chat name, arguments)
        self.completed_at: int | float | None = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        output = copy.deepcopy(extra.pop("output", []))
        return response_object(
            self._request,
            response_id=self._response_id,
            created_at=self._created_at,
            model=self._model,
            status=status,
            output=output,
            usage=extra.pop("usage", None),
            **extra,
        )

    def start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        return [
            self._event("response.created", response=self._snapshot("in_progress")),
            self._event("response.in_progress", response=self._snapshot("in_progress")),
        ]

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def part_kind(self) -> str | None:
        return self._part

    @property
    def open_type(self) -> str | None:
        return None if self._open is None else str(self.output[self._open]["type"])

    # -- items

    def _add(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        out = self.close_item()
        self._open = len(self.output)
        self.output.append(item)
        added = {**item, "content": []} if "content" in item else dict(item)
        if item["type"] == "function_call":
            added["arguments"] = ""
        out.append(self._event("response.output_item.added", output_index=self._open, item=added))
        return out

    def open_message(self) -> list[dict[str, Any]]:
        mid = item_id(self._prefix, "msg", len(self.output))
        return self._add(message_item(mid, [], None, "in_progress"))

    def open_call(self, call_id: str, name: str) -> list[dict[str, Any]]:
        """Open the item for a call of chat function `name`."""
        ref = self._refs.get(name)
        index = len(self.output)
        cid = item_id(self._prefix, id_kind(ref), index)
        self._calls[index] = (name, "")
        return self._add(call_item(ref, cid, call_id, name, arguments="", status="in_progress"))

    def open_reasoning(self) -> list[dict[str, Any]]:
        rid = item_id(self._prefix, "rs", len(self.output))
        return self._add({**reasoning_item(rid, "", None), "status": "in_progress"})

    def close_item(self, status: str = "completed") -> list[dict[str, Any]]:
        if self._open is None:
            return []
        index, item = self._open, self.output[self._open]
        out = self._close_part()
        if item["type"] == "function_call":
            args = item["arguments"] = item["arguments"] or "{}"
            fields = {"item_id": item["id"], "output_index": index, "arguments": args}
            out.append(self._event("response.function_call_arguments.done", **fields))
        elif item["type"] == "custom_tool_call":
            out.extend(self._custom_input(index, item))
        elif index in self._calls:
            self._rebuild(index)
        if item["type"] in ("reasoning", "custom_tool_call"):
            item.pop("status", None)
        else:
            item["status"] = status
        self._open = None
        done = copy.deepcopy(item)
        out.append(self._event("response.output_item.done", output_index=index, item=done))
        return out

    def _rebuild(self, index: int) -> None:
        """Decode the arguments gathered so far into the (custom or tool search) call item."""
        item = self.output[index]
        ref = self._refs.get(self._calls[index][0])
        name, arguments = self._calls[index]
        built = call_item(ref, item["id"], item["call_id"], name, arguments=arguments, status="")
        item.update((k, v) for k, v in built.items() if k in ("input", "arguments"))

    def _custom_input(self, index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
        self._rebuild(index)
        where = {"item_id": item["id"], "output_index": index}
        out = []
        if item["input"]:
            delta = item["input"]
            out.append(self._event("response.custom_tool_call_input.delta", **where, delta=delta))
        done = self._event("response.custom_tool_call_input.done", **where, input=item["input"])
        out.append(done)
        return out

    def call_arguments(self, index: int, delta: str) -> list[dict[str, Any]]:
        """Arguments for the call at output `index` (late pieces join the final item)."""
        item = self.output[index]
        if item["type"] != "function_call":  # decoded when the call closes (or now, when late)
            name, arguments = self._calls[index]
            self._calls[index] = (name, arguments + delta)
            if index != self._open:
                self._rebuild(index)
            return []
        item["arguments"] += delta
        if index != self._open or not delta:
            return []
        fields = {"item_id": item["id"], "output_index": index, "delta": delta}
        return [self._event("response.function_call_arguments.delta", **fields)]

    def set_signature(self, signature: str) -> None:
        if self._open is not None and self.output[self._open]["type"] == "reasoning":
            self.output[self._open]["encrypted_content"] = ANTHROPIC_THINKING + signature

    # -- content parts

    def _where(self) -> dict[str, Any]:
        assert self._open is not None
        item = self.output[self._open]
        return {
            "item_id": item["id"],
            "output_index": self._open,
            "content_index": len(item["content"]) - 1,
        }

    def open_part(self, kind: str) -> list[dict[str, Any]]:
        out = self._close_part()
        assert self._open is not None
        self.output[self._open]["content"].append(_part(kind, ""))
        self._part, self._texts = kind, []
        added = _part(kind, "")
        out.append(self._event("response.content_part.added", **self._where(), part=added))
        return out

    def part_delta(self, delta: str) -> list[dict[str, Any]]:
        if not delta or self._part is None:
            return []
        self._texts.append(delta)
        fields = self._where()
        if self._part == "text":
            fields["logprobs"] = []
        return [self._event(_EVENT[self._part] + ".delta", **fields, delta=delta)]

    def _close_part(self) -> list[dict[str, Any]]:
        if self._part is None or self._open is None:
            return []
        kind, text = self._part, "".join(self._texts)
        part = _part(kind, text)
        content = self.output[self._open]["content"]
        content[-1] = part
        where = self._where()
        done = {**where, _PART[kind][1]: text}
        if kind == "text":
            done["logprobs"] = []
        self._part, self._texts = None, []
        return [
            self._event(_EVENT[kind] + ".done", **done),
            self._event("response.content_part.done", **where, part=part),
        ]

    # -- the end

    def complete(self, finish_reason: str | None, usage: dict[str, Any]) -> list[dict[str, Any]]:
        status, reason = status_of(finish_reason)
        out = self.start()
        out.extend(self.close_item(item_status_of(finish_reason)))
        self.closed = True
        response = self._snapshot(
            status,
            output=self.output,
            usage=usage,
            incomplete_reason=reason,
            completed_at=(self.completed_at or self._created_at) if status == "completed" else None,
        )
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*out, self._event(kind, response=response)]

    def fail(self, message: str, code: str = "server_error") -> list[dict[str, Any]]:
        out = self.start()
        self.closed = True
        error = {"code": code, "message": message}
        response = self._snapshot("failed", output=self.output, error=error)
        return [*out, self._event("response.failed", response=response)]
