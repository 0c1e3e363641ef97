"""Redact a held Responses API event stream (`/v1/responses`, `stream: true`) in place.

A chat stream held whole and redacted is replayed from the redacted body (`cache_replay`). A
Responses stream is rewritten instead: its events stay as they came (ids, `sequence_number`s,
reasoning and other events the gateway does not model), and only the text of a content part or
call the redaction changed is replaced, everywhere it appears:

- the part's first delta (`response.output_text.delta`, `response.refusal.delta`,
  `response.function_call_arguments.delta`, `response.custom_tool_call_input.delta`) carries the
  whole redacted text and its later deltas carry "" (so the deltas still join to the part's text
  and no `sequence_number` goes missing);
- the part's `.done` event, `response.content_part.done`, `response.output_item.done` and every
  Response snapshot's `output` (`response.completed` above all) carry the redacted text.

`original` and `redacted` are the Response the stream assembled to (`ResponsesAssembler`) and its
redaction (`scan_text.redact_response`): a part changed when their texts differ. Annotations
keep their offsets (a placeholder of another length shifts the text after it; `mask` does not).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from gateway.core.responses_events import encode_response_event
from gateway.core.stream_hold import frame_data, split_frames

# key: (output index, content index or None, field) -> the redacted text
Changes = dict[tuple[int, int | None, str], str]

_DELTAS: Final = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
    "response.function_call_arguments.delta": "arguments",
    "response.custom_tool_call_input.delta": "input",
}
_DONE: Final = {
    "response.output_text.done": "text",
    "response.refusal.done": "refusal",
    "response.function_call_arguments.done": "arguments",
    "response.custom_tool_call_input.done": "input",
}
_ITEM_FIELDS: Final = ("arguments", "input")  # call items' text, outside `content`


def changed_texts(original: Mapping[str, Any], redacted: Mapping[str, Any]) -> Changes:
    """The texts of `redacted["output"]` that differ from `original["output"]`."""
    changes: Changes = {}
    before, after = _items(original), _items(redacted)
    for index, (old, new) in enumerate(zip(before, after, strict=False)):
        for field in _ITEM_FIELDS:
            if isinstance(new.get(field), str) and new.get(field) != old.get(field):
                changes[index, None, field] = new[field]
        old_parts, new_parts = _list(old.get("content")), _list(new.get("content"))
        for position, (old_part, new_part) in enumerate(zip(old_parts, new_parts, strict=False)):
            if not isinstance(old_part, Mapping) or not isinstance(new_part, Mapping):
                continue
            for field in ("text", "refusal"):
                text = new_part.get(field)
                if isinstance(text, str) and text != old_part.get(field):
                    changes[index, position, field] = text
    return changes


def redact_events(stream: bytes, changes: Changes) -> bytes:
    """The SSE bytes of a whole Responses stream with `changes` written into its events."""
    if not changes:
        return stream
    frames, rest = split_frames(stream)
    if rest:  # a last event with no blank line after it: it may be `response.completed`
        frames.append(rest)
    return b"".join(_rewrite(frames, changes))


def _rewrite(frames: Iterable[bytes], changes: Changes) -> Iterable[bytes]:
    """Frames not changed go out byte for byte; changed ones are encoded again."""
    started: set[tuple[int, int | None, str]] = set()
    for frame in frames:
        event = _json(frame_data(frame))
        yield encode_response_event(event) if event and _patch(event, changes, started) else frame


def _patch(
    event: dict[str, Any], changes: Changes, started: set[tuple[int, int | None, str]]
) -> bool:
    """Write the changes into one event; True when it changed."""
    kind = event.get("type")
    index = event.get("output_index")
    if kind in _DELTAS or kind in _DONE:
        field = _DELTAS.get(kind) or _DONE[kind]
        key = (index, event.get("content_index") if field in ("text", "refusal") else None, field)
        if key not in changes:
            return False
        if kind in _DONE:
            event[field] = changes[key]
        else:
            event["delta"] = "" if key in started else changes[key]
            started.add(key)
        return True
    if kind == "response.content_part.done":
        part = event.get("part")
        return isinstance(part, dict) and _patch_part(
            part, index, event.get("content_index"), changes
        )
    if kind == "response.output_item.done":
        item = event.get("item")
        return isinstance(item, dict) and _patch_item(item, index, changes)
    response = event.get("response")
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        patched = [
            isinstance(item, dict) and _patch_item(item, i, changes)
            for i, item in enumerate(response["output"])
        ]
        return any(patched)
    return False


def _patch_item(item: dict[str, Any], index: Any, changes: Changes) -> bool:
    changed = False
    for field in _ITEM_FIELDS:
        if (index, None, field) in changes and field in item:
            item[field] = changes[index, None, field]
            changed = True
    for position, part in enumerate(_list(item.get("content"))):
        if isinstance(part, dict):
            changed = _patch_part(part, index, position, changes) or changed
    return changed


def _patch_part(part: dict[str, Any], index: Any, position: Any, changes: Changes) -> bool:
    changed = False
    for field in ("text", "refusal"):
        if (index, position, field) in changes and field in part:
            part[field] = changes[index, position, field]
            changed = True
    return changed


def _items(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [i if isinstance(i, Mapping) else {} for i in _list(response.get("output"))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json(data: bytes) -> dict[str, Any] | None:
    if not data.startswith(b"{"):
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("type"), str) else None
