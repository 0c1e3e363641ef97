"""Guardrails on a streamed answer, in the client's wire format.

Chunked (the default): the text is scanned in windows of SMARTFLOW_COMPLIANCE_STREAM_CHUNK_CHARS
with the previous CONTEXT_CHARS before each, and a frame is sent only once the text it carries has
been scanned (the last CONTEXT_CHARS wait for the next window, so a value straddling two windows is
never half sent). A violation ends the stream with an error event: the client has received only
text that passed. Buffered (a policy's `stream: buffer`, or `auto` with a redact rule): the whole
answer is held, judged once like a whole response, redacted if a rule says so, then sent.

The Responses API (route "responses") streams typed events: the same windows read their text,
output_text, refusal and function-call argument deltas (`StreamHold`); a stopped stream ends as
an OpenAI-wire one does (the relay's `data: {"error": ...}` frame, which the openai SDK raises as
an APIError); a held one is redacted by rewriting its events in place (`responses_stream_redact`)
rather than replayed, so its ids, sequence numbers and `response.completed` stay as they came,
with the redacted text in every delta, `.done` event and snapshot.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.core.cache_replay import replay_frames
from gateway.core.errors import PolicyViolation
from gateway.core.responses_stream_redact import changed_texts, redact_events
from gateway.core.scan_text import redact_response, response_text
from gateway.core.stream_assemble import SSECapture, assembler_for
from gateway.core.stream_hold import ScanWindow, StreamHold
from gateway.pipeline import guard_judge
from gateway.pipeline.context import RequestContext
from gateway.pipeline.guard_judge import Guard
from gateway.pipeline.state import GatewayState


class StreamCheck(Protocol):
    async def feed(self, chunk: bytes) -> bytes:
        """The bytes that may be sent now (raises PolicyViolation to end the stream)."""
        ...

    async def finish(self) -> bytes:
        """Whatever is left once the upstream stream has ended."""
        ...


def stream_check(
    ctx: RequestContext, state: GatewayState, body: dict[str, Any] | None = None
) -> StreamCheck | None:
    """How this request's stream is judged, or None when no enforced policy binds it."""
    guard = ctx.guard
    if guard is None or not guard.enforcing:
        return None
    if guard.buffer_stream:
        return _Buffered(ctx, state, guard, body if body is not None else guard.body)
    settings = state.settings.compliance
    return _Chunked(ctx, state, guard, settings.stream_chunk_chars, settings.stream_context_chars)


class _Chunked:
    __slots__ = ("_ctx", "_guard", "_hold", "_state")

    def __init__(
        self, ctx: RequestContext, state: GatewayState, guard: Guard, chunk: int, context: int
    ) -> None:
        self._ctx = ctx
        self._state = state
        self._guard = guard
        self._hold = StreamHold(
            guard.wire, route=guard.route, chunk_chars=chunk, context_chars=context
        )

    async def feed(self, chunk: bytes) -> bytes:
        hold = self._hold
        hold.push(chunk)
        released = [hold.ready()]  # frames before any text (role chunk, message_start)
        while (window := hold.window()) is not None:
            await self._judge(window)
            released.append(hold.scanned(window))
        return b"".join(released)

    async def finish(self) -> bytes:
        window = self._hold.window(final=True)
        if window is None:
            return self._hold.drain()
        await self._judge(window)
        return self._hold.scanned(window) + self._hold.drain()

    async def _judge(self, window: ScanWindow) -> None:
        ctx, state, guard = self._ctx, self._state, self._guard
        findings = await guard_judge.scan(
            ctx, state, guard, window.text, "response", seen_before=window.context
        )
        if findings is None:
            return  # timed out, failing open
        verdict = guard_judge.judge(ctx, state, guard, findings, "response")
        if verdict.deny is not None:
            raise PolicyViolation(guard_judge.deny_message(verdict))
        if verdict.redact and guard_judge.spans_of(findings, verdict.redact_types()):
            # the stream's earlier text is already with the client: it cannot be redacted in
            # place, so it is stopped (a policy that redacts answers buffers streams by default)
            raise PolicyViolation("the answer held text this policy redacts; stream stopped")


class _Buffered:
    __slots__ = ("_capture", "_chunks", "_ctx", "_guard", "_include_usage", "_state")

    def __init__(
        self, ctx: RequestContext, state: GatewayState, guard: Guard, body: dict[str, Any]
    ) -> None:
        self._ctx = ctx
        self._state = state
        self._guard = guard
        route = "messages" if guard.wire == "anthropic" else guard.route
        self._capture = SSECapture(assembler_for(guard.wire, route))
        self._chunks: list[bytes] = []
        options = body.get("stream_options")
        self._include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

    async def feed(self, chunk: bytes) -> bytes:
        self._chunks.append(chunk)
        self._capture.feed(chunk)
        return b""

    async def finish(self) -> bytes:
        ctx, state, guard = self._ctx, self._state, self._guard
        whole = b"".join(self._chunks)
        result = self._capture.result()
        if result.body is None:
            return whole  # nothing readable to judge (an error event): sent as it came
        text = response_text(result.body, guard.wire, guard.route)
        findings = await guard_judge.scan(ctx, state, guard, text.text, "response")
        if findings is None:
            return whole
        verdict = guard_judge.judge(ctx, state, guard, findings, "response")
        if verdict.deny is not None:
            raise PolicyViolation(guard_judge.deny_message(verdict))
        spans = guard_judge.spans_of(findings, verdict.redact_types()) if verdict.redact else []
        if not spans:
            return whole
        redacted = redact_response(
            result.body, guard.wire, guard.route, text, spans, verdict.replacement()
        )
        if guard.route == "responses" and guard.wire == "openai":
            return redact_events(whole, changed_texts(result.body, redacted))
        frames = replay_frames(
            redacted,
            wire=guard.wire,
            route=guard.route,
            include_usage=self._include_usage,
        )
        return b"".join(frames)
