"""Relaying an upstream response to the client: whole or streamed, translated when the client and
the upstream speak different wire formats. Streams pass through chunk by chunk, never buffered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

from gateway.core.errors import GatewayError, UpstreamUnavailable
from gateway.core.sse import SSEEvent, SSEParser
from gateway.pipeline import cache_stage, guard_stage, guard_stream
from gateway.pipeline.context import RequestContext
from gateway.pipeline.respond import error_body, json_response, sse_response
from gateway.pipeline.router import Sent
from gateway.pipeline.state import GatewayState

log = logging.getLogger("smartflow.relay")


class _SSEResponse(web.StreamResponse):
    """Headers leave with the first chunk rather than in a write of their own: one syscall and one
    packet fewer per stream (aiohttp's web.Response does the same for whole bodies)."""

    _send_headers_immediately = False


class StreamTranslator(Protocol):
    usage: dict[str, int] | None

    def feed(self, event: SSEEvent) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


JsonTranslate = Callable[[dict[str, Any]], dict[str, Any]]


async def relay_whole(
    ctx: RequestContext,
    state: GatewayState,
    sent: Sent,
    translate: JsonTranslate | None,
    translate_error: JsonTranslate | None,
) -> web.Response:
    """Read the upstream body and answer with it (same wire) or its translation, once the
    guardrails have passed it."""
    response = sent.response
    try:
        raw = await response.read()
    finally:
        response.release()
    status = response.status
    if translate is None and (status >= 400 or not _wants_usage(raw)):
        if status < 400:
            raw = await guard_stage.check_answer(ctx, state, raw)
        cache_stage.capture_whole(ctx, status, raw, response.headers)
        return json_response(ctx, status, raw)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamUnavailable(
            f"provider {sent.deployment.provider.name} answered {status} with a non-JSON body"
        ) from None
    if status >= 400:
        body = translate_error(parsed) if translate_error and isinstance(parsed, dict) else parsed
        return json_response(ctx, status, orjson.dumps(body))
    if not isinstance(parsed, dict):
        raise UpstreamUnavailable(
            f"provider {sent.deployment.provider.name} answered with JSON that is not an object"
        )
    record_usage(ctx, parsed.get("usage"))
    answer = raw if translate is None else orjson.dumps(translate(parsed))
    answer = await guard_stage.check_answer(ctx, state, answer)
    cache_stage.capture_whole(ctx, status, answer, response.headers)
    return json_response(ctx, status, answer)


def _wants_usage(raw: bytes) -> bool:
    return b'"usage"' in raw


def record_usage(ctx: RequestContext, usage: object) -> None:
    """Token counts from any wire format's usage object (chat, Anthropic, Responses). Anthropic
    counts cache reads and writes apart from input_tokens; they are added back so prompt_tokens
    means the same in all three."""
    if not isinstance(usage, dict):
        return
    prompt: object
    responses_details = usage.get("input_tokens_details")
    if isinstance(responses_details, dict):  # OpenAI Responses: input_tokens counts cached ones
        prompt = usage.get("input_tokens")
        completion = usage.get("output_tokens")
        cached = _int(responses_details.get("cached_tokens"))
    elif "input_tokens" in usage or "output_tokens" in usage:
        cache_read = _int(usage.get("cache_read_input_tokens"))
        prompt = (
            _int(usage.get("input_tokens"))
            + cache_read
            + _int(usage.get("cache_creation_input_tokens"))
        )
        completion = usage.get("output_tokens")
        cached = cache_read
        written = _int(usage.get("cache_creation_input_tokens"))
        if written:
            ctx.cache_write_tokens = written
    else:
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        details = usage.get("prompt_tokens_details")
        cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    if isinstance(prompt, int):
        ctx.prompt_tokens = prompt
    if isinstance(completion, int):
        ctx.completion_tokens = completion
    if cached:
        ctx.cached_tokens = cached


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


async def relay_stream(
    request: web.Request,
    ctx: RequestContext,
    state: GatewayState,
    sent: Sent,
    translator: StreamTranslator | None,
    *,
    on_end: Callable[[bytes], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Forward an SSE stream as it arrives; on an upstream failure mid-stream, or a guardrail
    that stops it, end it with an error event in the client's format. A client that goes away
    cancels the handler, which closes the upstream connection in the `finally` below.

    `on_end` sees the last bytes the client will get (the translator's `finish()`, guardrails
    applied) before they are written, so what must be durable when the client reads the end of
    the stream (a stored response) is written first."""
    upstream = sent.response
    out = sse_response(ctx, upstream.status)
    sniffer = UsageSniffer(strip=ctx.strip_usage) if translator is None else None
    tap = cache_stage.stream_tap(ctx, upstream.status, upstream.headers)
    check = guard_stream.stream_check(ctx, state)

    async def emit(chunk: bytes, *, last: bool = False) -> None:
        if check is not None:
            chunk = await check.feed(chunk) if chunk else b""
            if last:
                chunk += await check.finish()
        if last and on_end is not None:
            await on_end(chunk)
        if chunk:
            if tap is not None:
                tap(chunk)
            await out.write(chunk)

    try:
        await out.prepare(request)
        parser = SSEParser() if translator is not None else None
        try:
            async for received in upstream.iter_chunks():
                if translator is None or parser is None:
                    chunk = sniffer.feed(received) if sniffer is not None else received
                    ctx.relayed_frames += chunk.count(b"data:")
                    await emit(chunk)
                    continue
                frames = [f for event in parser.feed(received) for f in translator.feed(event)]
                if frames:
                    ctx.relayed_frames += len(frames)
                    await emit(b"".join(frames))
            tail: list[bytes] = []
            if translator is not None and parser is not None:
                # an upstream may end on a last event with no blank line after it
                pending = [f for event in parser.flush() for f in translator.feed(event)]
                tail = pending + translator.finish()
            await emit(b"".join(tail), last=True)
        except GatewayError as exc:
            event = (
                "stream stopped by policy"
                if exc.code == "policy_violation"
                else "upstream stream failed"
            )
            log.warning(event, extra={"request_id": ctx.request_id, "error": exc.message})
            ctx.error_code = exc.code
            await out.write(_stream_error_frame(ctx, exc))
        await out.write_eof()
    finally:
        upstream.release()
    usage = translator.usage if translator is not None else (sniffer.usage if sniffer else None)
    record_usage(ctx, usage)
    return out


def _stream_error_frame(ctx: RequestContext, error: GatewayError) -> bytes:
    body = error_body(ctx, error)
    if ctx.wire == "anthropic":
        return b"event: error\ndata: " + body + b"\n\n"
    return b"data: " + body + b"\n\n"


USAGE_OBJECT = b'"usage":{'


class UsageSniffer:
    """Finds usage in a pass-through stream without parsing every frame: only lines holding a
    usage object are decoded (OpenAI's include_usage chunk; Anthropic's message_start and
    message_delta). With `strip`, OpenAI's usage-only chunk is removed from what the client gets
    (the gateway asked the upstream for it to settle spend; the client did not)."""

    __slots__ = ("strip", "usage")

    def __init__(self, *, strip: bool = False) -> None:
        self.usage: dict[str, int] | None = None
        self.strip = strip

    def feed(self, chunk: bytes) -> bytes:
        # OpenAI chunks carry "usage":null until the last one: only a usage object is worth parsing
        if USAGE_OBJECT not in chunk:
            return chunk
        kept: list[bytes] = []
        for frame in chunk.split(b"\n\n"):
            if USAGE_OBJECT in frame:
                line = frame[frame.find(b"data:") :]
                try:
                    event = orjson.loads(line[5:])
                except orjson.JSONDecodeError:
                    kept.append(frame)  # split across chunks; the totals come in a later one
                    continue
                self._merge(event)
                if self.strip and isinstance(event, dict) and event.get("choices") == []:
                    continue
            kept.append(frame)
        return b"\n\n".join(kept)

    def _merge(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        usage = event.get("usage")
        if usage is None and isinstance(event.get("message"), dict):
            usage = event["message"].get("usage")  # anthropic message_start
        if not isinstance(usage, dict):
            return
        merged = dict(self.usage or {})
        merged.update({k: v for k, v in usage.items() if isinstance(v, int)})
        self.usage = merged
