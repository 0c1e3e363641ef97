"""The text a compliance scan reads from a request or a response, and redaction by span.

Scanners work on one string. `request_text` and `response_text` gather every piece of text a
person or a model wrote into one string, pieces joined with "\\n" (so a match never runs from
one piece into the next), and keep for each piece a `Segment`: where it lives in the body (a
path of keys and indexes) and where it sits in the string. A finding's span then maps back to
the body, and `redact_request` / `redact_response` rewrite exactly the pieces it touches.

What is read (anything else is left alone, images and audio included):
- OpenAI chat: `messages[i].content` as a string or as parts of type `text` (also `refusal`
  parts), whatever the role (tool results too), and `tool_calls[k].function.arguments` (and the
  legacy `function_call.arguments`) as JSON text. Completions: `prompt` (a string or a list of
  strings). Embeddings: `input` (likewise).
- OpenAI Responses (route "responses"): `instructions` and `input`, each a string or a list of
  items: `message` items (an item without `type` is one) with content a string or parts
  `input_text`/`output_text`/`text` (their `text`) and `refusal`; `function_call` `arguments` as
  JSON text; `function_call_output` `output`, a string or text parts; `custom_tool_call` `input`
  and `custom_tool_call_output` `output` likewise. Reasoning items are not read (as Anthropic
  thinking is not), nor images, files or item references.
- Anthropic messages: `system` (a string or text blocks), `messages[i].content` as a string or
  blocks: `text`, `tool_result` (its content a string or text blocks), and `tool_use` input,
  serialised as compact JSON text. Thinking blocks are not read: they carry signatures.
- Responses: OpenAI chat `choices[c].message` (content, refusal, tool-call arguments),
  completions `choices[c].text`, Anthropic `content[j]` text blocks and tool-use input, and a
  Responses API Response's `output[i]` items, read as input items are (message `output_text` and
  `refusal` parts, function call `arguments`).

Redaction: overlapping spans merge (the earlier span's type names the result); a span running
over the "\\n" between two pieces is cut in one part per piece. `placeholder` writes
`[REDACTED:<type>]`; `mask` writes one `*` per character replaced, so the text keeps its length.
JSON text (tool arguments, tool input) is redacted inside its string values and numbers only
(see `scan_json`), so it stays valid JSON; arguments that are not valid JSON to begin with are
redacted as plain text. The result is a new body: only the containers on the path to a changed
piece are copied, the caller's body is never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from gateway.core.cache_key import Wire
from gateway.core.scan_json import (
    LocalSpan,
    Replacement,
    merge_spans,
    redact_json_text,
    redact_plain,
)

__all__ = [
    "Replacement",
    "ScanText",
    "Segment",
    "redact",
    "redact_request",
    "redact_response",
    "request_text",
    "response_text",
]

Path = tuple[str | int, ...]
SegmentKind = Literal["text", "json", "value"]
"""`text`: the string at `path`; `json`: the string at `path` is JSON text (tool arguments);
`value`: the value at `path` is any JSON value, scanned as its compact JSON text (tool input)."""

_TOOL_INPUT_BLOCKS: Final = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_TEXT_PARTS: Final = {"text": "text", "input_text": "text", "refusal": "refusal"}
_RESPONSES_PARTS: Final = {**_TEXT_PARTS, "output_text": "text"}
_CALL_ITEMS: Final[dict[str, tuple[str, SegmentKind]]] = {
    "function_call": ("arguments", "json"),
    "custom_tool_call": ("input", "text"),
}
_OUTPUT_ITEMS: Final = frozenset({"function_call_output", "custom_tool_call_output"})


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    start: int
    end: int
    kind: SegmentKind = "text"


@dataclass(frozen=True, slots=True)
class ScanText:
    text: str
    segments: tuple[Segment, ...]


class _Builder:
    __slots__ = ("_parts", "_pos", "_segments")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._segments: list[Segment] = []
        self._pos = 0

    def add(self, path: Path, value: object, kind: SegmentKind = "text") -> None:
        if kind == "value":
            value = orjson.dumps(value).decode()
        if not isinstance(value, str) or not value:
            return
        if self._parts:
            self._pos += 1  # the "\n" joining it to the previous piece
        self._parts.append(value)
        self._segments.append(Segment(path, self._pos, self._pos + len(value), kind))
        self._pos += len(value)

    def strings(self, path: Path, value: object) -> None:
        """A string, or a list of them (`prompt`, `input`)."""
        if isinstance(value, list):
            for index, item in enumerate(value):
                self.add((*path, index), item)
        else:
            self.add(path, value)

    def build(self) -> ScanText:
        return ScanText("\n".join(self._parts), tuple(self._segments))


def request_text(body: Mapping[str, Any], wire: Wire, route: str) -> ScanText:
    """Everything scannable in a request, in the client's wire format. `route` is the pipeline's
    label: "chat", "completions", "embeddings", "responses" (OpenAI) or "messages" (Anthropic)."""
    out = _Builder()
    if wire == "anthropic":
        _anthropic_text(out, ("system",), body.get("system"))
        for i, message in enumerate(_list(body.get("messages"))):
            if isinstance(message, Mapping):
                _anthropic_text(out, ("messages", i, "content"), message.get("content"))
    elif route == "completions":
        out.strings(("prompt",), body.get("prompt"))
    elif route == "embeddings":
        out.strings(("input",), body.get("input"))
    elif route == "responses":
        _responses_items(out, ("instructions",), body.get("instructions"))
        _responses_items(out, ("input",), body.get("input"))
    else:
        for i, message in enumerate(_list(body.get("messages"))):
            if isinstance(message, Mapping):
                _openai_message(out, ("messages", i), message)
    return out.build()


def response_text(parsed: Mapping[str, Any], wire: Wire, route: str) -> ScanText:
    """Everything scannable in a whole (non-streamed) response in the client's wire format."""
    out = _Builder()
    if wire == "anthropic":
        _anthropic_text(out, ("content",), parsed.get("content"))
        return out.build()
    if route == "responses":
        _responses_items(out, ("output",), parsed.get("output"))
        return out.build()
    for c, choice in enumerate(_list(parsed.get("choices"))):
        if not isinstance(choice, Mapping):
            continue
        if route == "completions":
            out.add(("choices", c, "text"), choice.get("text"))
        elif isinstance(choice.get("message"), Mapping):
            _openai_message(out, ("choices", c, "message"), choice["message"])
    return out.build()


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _openai_message(out: _Builder, path: Path, message: Mapping[str, Any]) -> None:
    content = message.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            field = _TEXT_PARTS.get(str(part.get("type"))) if isinstance(part, Mapping) else None
            if field is not None:
                out.add((*path, "content", j, field), part.get(field))
    else:
        out.add((*path, "content"), content)
    out.add((*path, "refusal"), message.get("refusal"))
    for k, call in enumerate(_list(message.get("tool_calls"))):
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            path_k = (*path, "tool_calls", k, "function", "arguments")
            out.add(path_k, function.get("arguments"), "json")
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping):
        out.add((*path, "function_call", "arguments"), legacy.get("arguments"), "json")


def _responses_items(out: _Builder, path: Path, value: object) -> None:
    """Responses `input` (or `instructions`, or a Response's `output`): a string or items."""
    if not isinstance(value, list):
        out.add(path, value)
        return
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            _responses_parts(out, (*path, i, "content"), item.get("content"))
        elif kind in _CALL_ITEMS:
            field, segment_kind = _CALL_ITEMS[kind]
            out.add((*path, i, field), item.get(field), segment_kind)
        elif kind in _OUTPUT_ITEMS:
            _responses_parts(out, (*path, i, "output"), item.get("output"))


def _responses_parts(out: _Builder, path: Path, content: object) -> None:
    """A string, or content parts: their text and refusals."""
    if not isinstance(content, list):
        out.add(path, content)
        return
    for j, part in enumerate(content):
        field = _RESPONSES_PARTS.get(str(part.get("type"))) if isinstance(part, Mapping) else None
        if field is not None:
            out.add((*path, j, field), part.get(field))


def _anthropic_text(out: _Builder, path: Path, content: object) -> None:
    """A string or a list of content blocks (system, message content, tool result content)."""
    if not isinstance(content, list):
        out.add(path, content)
        return
    for j, block in enumerate(content):
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            out.add((*path, j, "text"), block.get("text"))
        elif kind == "tool_result":
            _anthropic_text(out, (*path, j, "content"), block.get("content"))
        elif kind in _TOOL_INPUT_BLOCKS and "input" in block:
            out.add((*path, j, "input"), block["input"], "value")


def redact_request(  # noqa: PLR0917 - the agreed interface (plan C)
    body: Mapping[str, Any],
    wire: Wire,
    route: str,
    scan: ScanText,
    spans: Sequence[tuple[int, int, str]],
    replacement: Replacement,
) -> dict[str, Any]:
    """A new request body with the spans (offsets into `scan.text`, as `request_text` built it
    from this same body) replaced. `wire` and `route` are kept for symmetry: the segments
    already say where each piece lives."""
    return redact(body, scan, spans, replacement)


def redact_response(  # noqa: PLR0917 - mirrors redact_request
    parsed: Mapping[str, Any],
    wire: Wire,
    route: str,
    scan: ScanText,
    spans: Sequence[tuple[int, int, str]],
    replacement: Replacement,
) -> dict[str, Any]:
    """A new response body with the spans of `response_text(parsed, ...)` replaced."""
    return redact(parsed, scan, spans, replacement)


def redact(
    body: Mapping[str, Any],
    scan: ScanText,
    spans: Sequence[tuple[int, int, str]],
    replacement: Replacement,
) -> dict[str, Any]:
    """The body with every span (start, end, finding type) replaced, piece by piece."""
    by_segment: dict[int, list[LocalSpan]] = {}
    for start, end, kind in merge_spans(spans):
        for index, segment in enumerate(scan.segments):
            if segment.start >= end:
                break
            lo, hi = max(start, segment.start), min(end, segment.end)
            if lo < hi:
                by_segment.setdefault(index, []).append(
                    (lo - segment.start, hi - segment.start, kind)
                )
    updates: dict[Path, object] = {}
    for index, local in by_segment.items():
        segment = scan.segments[index]
        original = scan.text[segment.start : segment.end]
        updates[segment.path] = _redact_piece(original, segment.kind, local, replacement)
    return _replace(body, _tree(updates)) if updates else dict(body)


def _redact_piece(
    text: str, kind: SegmentKind, spans: list[LocalSpan], replacement: Replacement
) -> object:
    if kind == "text":
        return redact_plain(text, spans, replacement)
    redacted = redact_json_text(text, spans, replacement)
    if kind == "json":
        return redacted if redacted is not None else redact_plain(text, spans, replacement)
    if redacted is None:  # pragma: no cover - `value` text is orjson's own, always valid
        return redact_plain(text, spans, replacement)
    return orjson.loads(redacted)


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


def _tree(updates: Mapping[Path, object]) -> dict[str | int, Any]:
    """Paths -> nested dicts of path components, leaves wrapped in `_Leaf`."""
    root: dict[str | int, Any] = {}
    for path, value in updates.items():
        node = root
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = _Leaf(value)
    return root


def _replace(node: Any, tree: Mapping[str | int, Any]) -> Any:
    """Copy `node` (a dict or a list) and, below it, only what `tree` changes."""
    copy: Any = dict(node) if isinstance(node, Mapping) else list(node)
    for key, sub in tree.items():
        copy[key] = sub.value if isinstance(sub, _Leaf) else _replace(copy[key], sub)
    return copy
