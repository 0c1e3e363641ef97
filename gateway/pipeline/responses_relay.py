"""Relaying a `/v1/responses` stream: Responses events out, whatever the upstream speaks.

The end of the stream (`response.completed`, `.incomplete` or `.failed`) is held back until the
upstream body is over, so the relay can store the finished response before the client reads
that it is finished: a client that sends `previous_response_id` the moment its stream ends must
find the response stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from gateway.core.responses_events import encode_response_event, sse_json_object
from gateway.core.sse import SSEEvent, SSEParser

TERMINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


class EventSource(Protocol):
    """Upstream SSE events -> Responses events (the translators of gateway.core)."""

    def feed_sse(self, event: SSEEvent) -> list[dict[str, Any]]: ...

    def finish(self) -> list[dict[str, Any]]: ...


class NativeEvents:
    """An upstream that speaks Responses: its events, parsed so the end can be held back."""

    def feed_sse(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = sse_json_object(event)
        return [] if data is None else [data]

    def finish(self) -> list[dict[str, Any]]:
        return []


class ResponsesStreamRelay:
    """The relay's stream translator (see gateway.pipeline.relay.StreamTranslator) for
    `/v1/responses`. `finalise` may amend the finished Response (what the gateway, not the
    upstream, decides: `store`, `previous_response_id`)."""

    def __init__(self, source: EventSource, finalise: Callable[[dict[str, Any]], None]) -> None:
        self._source = source
        self._finalise = finalise
        self._held: list[dict[str, Any]] = []
        self.usage: dict[str, Any] | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        return self._pass(self._source.feed_sse(event))

    def finish(self) -> list[bytes]:
        frames = self._pass(self._source.finish())
        held, self._held = self._held, []
        return frames + [encode_response_event(event) for event in held]

    def _pass(self, events: list[dict[str, Any]]) -> list[bytes]:
        frames: list[bytes] = []
        for event in events:
            if event.get("type") not in TERMINAL_EVENTS:
                frames.append(encode_response_event(event))
                continue
            response = event.get("response")
            if isinstance(response, dict):
                self._finalise(response)
                usage = response.get("usage")
                self.usage = usage if isinstance(usage, dict) else self.usage
            self._held.append(event)
        return frames


def final_response(tail: bytes) -> dict[str, Any] | None:
    """The finished Response in the last bytes of a Responses stream, as the client gets them."""
    parser = SSEParser()
    found: dict[str, Any] | None = None
    for event in [*parser.feed(tail), *parser.flush()]:
        data = sse_json_object(event)
        if data is not None and data.get("type") in TERMINAL_EVENTS:
            response = data.get("response")
            found = response if isinstance(response, dict) else found
    return found
