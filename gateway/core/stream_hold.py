"""Hold a streamed response until its text has been scanned, so a violation is caught before the
bytes carrying it reach the client.

The bytes going in are the SSE stream exactly as the client will read it (its wire format, after
any translation). They are cut into frames (one event each, up to and including its blank line);
the text each frame carries (OpenAI `choices[].delta.content`, `refusal`, tool-call
`arguments`, legacy `choices[].text`; Anthropic `text_delta` and `input_json_delta`; Responses
API events' `delta` in `response.output_text.delta`, `response.refusal.delta`,
`response.function_call_arguments.delta` and `response.custom_tool_call_input.delta`) is
appended to one running text. A Responses `.done` event of those adds its whole text only when
no delta came before it for that part (an upstream that sends text in `.done` events alone is
still scanned). Where the text moves to
another choice, tool call, content block or output item a "\\n" goes between, so a match never
joins two of them.

The caller scans in windows:

    hold.push(chunk)
    head = hold.ready()                      # frames before any text: send now
    while (window := hold.window()) is not None:
        findings = scan(window.text)         # window.offset: stream position of text[0]
        ...stop the stream on a violation: nothing held has been sent...
        send(hold.scanned(window))
    # at the end of the upstream body:
    window = hold.window(final=True)         # None when all text was scanned already
    ...scan it the same way...
    send(hold.scanned(window) if window else hold.drain())

A window opens once `chunk_chars` unscanned characters have arrived; it holds all of them plus up
to `context_chars` already scanned ones before (`window.context` says how many), so a value split
at a window boundary is seen whole. After a window is scanned, only frames whose text ends at
least `context_chars` before the scanned end are released: the tail stays held, because it is
the context of the next window and a match there must not have been half sent. A value longer
than `context_chars` that straddles a boundary may still have its head released before it is
recognised; `context_chars` is the bound. Frames are released strictly in order: a frame with no
text (role chunks, `message_start`, pings, usage, `[DONE]`) waits behind any held text.

With `n` > 1 choices streamed interleaved, their texts alternate in the running text (separated
by "\\n"), so a value is only found when it arrives within one run of one choice.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gateway.core.cache_key import Wire

_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ScanWindow:
    """`text` to scan; `offset`: its position in the stream's running text; `context`: how many
    leading characters were already scanned in the window before (findings ending within them
    were reported then)."""

    text: str
    offset: int
    final: bool
    context: int = 0


@dataclass(slots=True)
class _Frame:
    data: bytes
    text_end: int  # running-text position just after this frame's text


class StreamHold:
    """Client-wire SSE bytes in; frames out only once the text they carry has been scanned."""

    __slots__ = (
        "_channel",
        "_chunk",
        "_context",
        "_frames",
        "_pending",
        "_scanned",
        "_text",
        "_text_base",
        "_total",
        "_wire",
        "_with_deltas",
    )

    def __init__(
        self, wire: Wire, *, route: str = "chat", chunk_chars: int = 200, context_chars: int = 50
    ) -> None:
        """`route`: the pipeline's label; "responses" reads Responses API events (an OpenAI-wire
        stream of typed events, not chat chunks)."""
        if chunk_chars < 1 or context_chars < 0:
            raise ValueError("chunk_chars must be >= 1 and context_chars >= 0")
        self._wire: Wire | None = None if route == "responses" and wire == "openai" else wire
        self._with_deltas: set[tuple[Any, ...]] = set()  # Responses parts that had a delta
        self._chunk = chunk_chars
        self._context = context_chars
        self._pending = b""  # bytes of a frame not complete yet
        self._frames: deque[_Frame] = deque()
        self._text: list[str] = []  # running text from `_text_base` on
        self._text_base = 0
        self._total = 0  # running-text length so far
        self._scanned = 0  # running-text position scanned up to
        self._channel: tuple[Any, ...] | None = None

    @property
    def unscanned(self) -> int:
        """Characters of text arrived and not scanned yet."""
        return self._total - self._scanned

    def push(self, data: bytes) -> None:
        """Bytes of the stream as they arrive, split anywhere."""
        if not data:
            return
        buffer = self._pending + data if self._pending else data
        frames, self._pending = split_frames(buffer)
        for frame in frames:
            self._add(frame)

    def ready(self) -> bytes:
        """Frames releasable without a new scan (those before any text, at the start)."""
        return self._release(max(self._scanned - self._context, 0))

    def window(self, *, final: bool = False) -> ScanWindow | None:
        """The text to scan now: None until `chunk_chars` unscanned characters exist, or, when
        `final` (the upstream body ended), None only when nothing is left unscanned."""
        if final and self._pending:
            frame, self._pending = self._pending, b""
            self._add(frame)
        unscanned = self._total - self._scanned
        if unscanned == 0 or (not final and unscanned < self._chunk):
            return None
        text = "".join(self._text)
        self._text = [text]
        start = max(self._scanned - self._context, self._text_base)
        return ScanWindow(text[start - self._text_base :], start, final, self._scanned - start)

    def scanned(self, window: ScanWindow) -> bytes:
        """The window passed the scan: the bytes now safe to send (all of them after the final
        window; otherwise whole frames whose text ends before the held tail)."""
        self._scanned = max(self._scanned, window.offset + len(window.text))
        keep = max(self._scanned - self._context, 0)
        if keep > self._text_base:
            text = "".join(self._text)
            self._text = [text[keep - self._text_base :]]
            self._text_base = keep
        if window.final:
            return self.drain()
        return self._release(keep)

    def drain(self) -> bytes:
        """Everything held, complete frames or not: for the end of a stream that passed."""
        out = b"".join(frame.data for frame in self._frames) + self._pending
        self._frames.clear()
        self._pending = b""
        return out

    def _release(self, limit: int) -> bytes:
        out: list[bytes] = []
        frames = self._frames
        while frames and frames[0].text_end <= limit:
            out.append(frames.popleft().data)
        return b"".join(out)

    def _add(self, frame: bytes) -> None:
        pieces = _frame_text(self._wire, frame_data(frame), self._with_deltas)
        parts: list[str] = []
        for channel, piece in pieces:
            if not piece or not isinstance(piece, str):
                continue
            if self._channel is not None and channel != self._channel:
                parts.append("\n")
            self._channel = channel
            parts.append(piece)
        if parts:
            text = "".join(parts)
            self._text.append(text)
            self._total += len(text)
        self._frames.append(_Frame(frame, self._total))


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete frames (each through its blank line) and the incomplete rest.

    Line ends may be "\\n", "\\r\\n" or a lone "\\r"; a "\\r" at the very end waits for the next
    byte, which may make it "\\r\\n".
    """
    frames: list[bytes] = []
    start = 0
    if b"\r" not in buffer:  # the common case
        while (blank := buffer.find(b"\n\n", start)) >= 0:
            frames.append(buffer[start : blank + 2])
            start = blank + 2
        return frames, buffer[start:]
    line_start = pos = 0
    size = len(buffer)
    while pos < size:
        newline, carriage = buffer.find(b"\n", pos), buffer.find(b"\r", pos)
        end = min(i for i in (newline, carriage) if i >= 0) if max(newline, carriage) >= 0 else -1
        if end < 0:
            break
        if buffer[end] == 0x0D:  # "\r"
            if end + 1 == size:
                break
            after = end + 2 if buffer[end + 1] == 0x0A else end + 1
        else:
            after = end + 1
        if end == line_start:  # an empty line ends the frame
            frames.append(buffer[start:after])
            start = after
        line_start = pos = after
    return frames, buffer[start:]


def frame_data(frame: bytes) -> bytes:
    """The event's data (data lines joined by "\\n"); b"" when it has none."""
    end = len(frame) - 2
    if frame.endswith(b"\n\n") and b"\r" not in frame:  # fast: `data: X`, maybe after `event:`
        first = frame.find(b"\n")
        if first == end and frame.startswith(b"data: "):
            return frame[6:end]
        second = frame.find(b"\n", first + 1)
        if second == end and frame.startswith(b"event:") and frame.startswith(b"data: ", first + 1):
            return frame[first + 7 : end]
    if frame.startswith(_BOM):
        frame = frame[len(_BOM) :]
    if b"\r" in frame:
        frame = frame.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    values = [
        line[6:] if line[5:6] == b" " else line[5:]
        for line in frame.split(b"\n")
        if line.startswith(b"data:")
    ]
    return b"\n".join(values)


def _frame_text(
    wire: Wire | None, data: bytes, with_deltas: set[tuple[Any, ...]]
) -> list[tuple[tuple[Any, ...], Any]]:
    """(channel, text) pairs a frame's data carries; non-strings are skipped by the caller.
    `wire` None: Responses API events."""
    if not data.startswith(b"{"):
        return []  # `[DONE]`, empty, keep-alive
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(event, dict):
        return []
    if wire == "anthropic":
        return _anthropic_text(event)
    if wire is None:
        return _responses_text(event, with_deltas)
    return _openai_text(event)


_RESPONSES_DELTAS: Final = {  # event -> the part of an item its text goes to
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
    "response.function_call_arguments.delta": "arguments",
    "response.custom_tool_call_input.delta": "input",
}
_RESPONSES_DONE: Final = {  # event -> (the part, the field holding its whole text)
    "response.output_text.done": ("text", "text"),
    "response.refusal.done": ("refusal", "refusal"),
    "response.function_call_arguments.done": ("arguments", "arguments"),
    "response.custom_tool_call_input.done": ("input", "input"),
}


def _responses_text(
    event: dict[str, Any], with_deltas: set[tuple[Any, ...]]
) -> list[tuple[tuple[Any, ...], Any]]:
    """A channel is one content part of one output item (or one call's arguments)."""
    kind = event.get("type")
    part = _RESPONSES_DELTAS.get(kind) if isinstance(kind, str) else None
    if part is not None:
        channel = (event.get("output_index"), event.get("content_index"), part)
        delta = event.get("delta")
        if delta and isinstance(delta, str):
            with_deltas.add(channel)
        return [(channel, delta)]
    done = _RESPONSES_DONE.get(kind) if isinstance(kind, str) else None
    if done is None:
        return []
    channel = (event.get("output_index"), event.get("content_index"), done[0])
    return [] if channel in with_deltas else [(channel, event.get(done[1]))]


def _anthropic_text(event: dict[str, Any]) -> list[tuple[tuple[Any, ...], Any]]:
    if event.get("type") != "content_block_delta":
        return []
    delta = event.get("delta")
    if not isinstance(delta, dict):
        return []
    channel = (event.get("index"),)
    kind = delta.get("type")
    if kind == "text_delta":
        return [(channel, delta.get("text"))]
    if kind == "input_json_delta":
        return [(channel, delta.get("partial_json"))]
    return []


def _openai_text(event: dict[str, Any]) -> list[tuple[tuple[Any, ...], Any]]:
    out: list[tuple[tuple[Any, ...], Any]] = []
    choices = event.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", 0)
        delta = choice.get("delta")
        if isinstance(delta, dict):
            content = delta.get("content")
            if content:  # the hot path: one content delta
                out.append(((index, "content"), content))
            if len(delta) > 1 or content is None:
                _openai_delta_rest(out, index, delta)
        elif "text" in choice:
            out.append(((index, "text"), choice["text"]))
    return out


def _openai_delta_rest(out: list[tuple[tuple[Any, ...], Any]], index: Any, delta: Any) -> None:
    """Refusals and tool-call arguments."""
    if delta.get("refusal"):
        out.append(((index, "refusal"), delta["refusal"]))
    calls = delta.get("tool_calls")
    for k, call in enumerate(calls if isinstance(calls, list) else ()):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            position = call.get("index", k)
            out.append(((index, "tool", position), function.get("arguments")))
    legacy = delta.get("function_call")
    if isinstance(legacy, dict):
        out.append(((index, "function"), legacy.get("arguments")))
