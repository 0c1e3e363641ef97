"""Server-sent events: an incremental parser and an encoder.

Translated streams run the parser on every upstream chunk, so it works on whole lines found with
`bytes.find`/`split`, never byte by byte. Line endings may be `\\n`, `\\r\\n` or a lone `\\r`, and a
chunk may end anywhere, mid-line or mid-UTF-8 character included: incomplete lines stay buffered
until their end arrives. Only `event` and `data` fields matter to the gateway; `id` and `retry` are
read past.
"""

from __future__ import annotations

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event. `data` joins the event's data lines with "\\n".

    Not frozen: a frozen dataclass costs about a microsecond more to build, once per event.
    """

    event: str | None
    data: str


class SSEParser:
    """Feed it raw body chunks; it returns the events each chunk completes."""

    __slots__ = ("_buffer", "_data", "_event", "_started")

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []
        self._started = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        buffer = self._buffer + data if self._buffer else data
        if not self._started:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._buffer = buffer  # could still be a byte-order mark: wait for more
                return []
            self._started = True
            if buffer.startswith(_BOM):
                buffer = buffer[len(_BOM) :]
        if b"\r" in buffer:
            # A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
            held = buffer.endswith(b"\r")
            if held:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer += b"\r"
        end = buffer.rfind(b"\n")
        if end < 0:
            self._buffer = buffer
            return []
        self._buffer = buffer[end + 1 :]
        return self._lines(buffer[:end].split(b"\n"))

    def flush(self) -> list[SSEEvent]:
        """At the end of the body: dispatch an event the upstream did not end with a blank line.

        The SSE spec drops such an event; some OpenAI-compatible servers end with `data: [DONE]`
        and no blank line, and dropping that would lose the end of the stream.
        """
        rest, self._buffer = self._buffer.rstrip(b"\r"), b""
        events = self._lines([rest]) if rest else []
        if self._data:
            events.append(SSEEvent(self._event, "\n".join(self._data)))
        self._event, self._data = None, []
        return events

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for raw in lines:
            if not raw:
                if self._data:
                    events.append(SSEEvent(self._event, "\n".join(self._data)))
                    self._data = []
                self._event = None
                continue
            if raw.startswith(b"data:"):  # the common case first
                value = raw[6:] if raw[5:6] == b" " else raw[5:]
                self._data.append(value.decode("utf-8", "replace"))
                continue
            if raw[0] == 0x3A:  # ":" starts a comment (keep-alives)
                continue
            colon = raw.find(b":")
            if colon < 0:
                name, value = raw, b""
            else:
                name = raw[:colon]
                value = raw[colon + 2 :] if raw[colon + 1 : colon + 2] == b" " else raw[colon + 1 :]
            if name == b"data":
                self._data.append(value.decode("utf-8", "replace"))
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        return events


def encode_event(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE frame: `event: x\\ndata: ...\\n\\n`, one `data:` line per line of `data`."""
    payload = data.encode() if isinstance(data, str) else data
    if b"\n" in payload or b"\r" in payload:
        lines = payload.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        body = b"\n".join(b"data: " + line for line in lines) + b"\n\n"
    else:
        body = b"data: " + payload + b"\n\n"
    if event is None:
        return body
    return b"event: " + event.encode() + b"\n" + body
