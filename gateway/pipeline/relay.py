"""Relaying an upstream response to the client: whole or streamed, translated when the client and
the upstream speak different wire formats. Streams pass through chunk by chunk, never buffered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

from gateway.core.errors import GatewayError, UpstreamUnavailable
from gateway.core.sse import SSEEvent, SSEParser
from gateway.pipeline.context import RequestContext
from gateway.pipeline.respond import error_body, json_response, smartflow_headers
from gateway.pipeline.router import Sent

log = logging.getLogger("smartflow.relay")

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


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
    sent: Sent,
    translate: JsonTranslate | None,
    translate_error: JsonTranslate | None,
) -> web.Response:
    """Read the upstream body and answer with it (same wire) or its translation."""
    response = sent.response
    try:
        raw = await response.read()
    finally:
        response.release()
    status = response.status
    if translate is None and (status >= 400 or not _wants_usage(raw)):
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
    if translate is None:
        return json_response(ctx, status, raw)
    return json_response(ctx, status, orjson.dumps(translate(parsed)))


def _wants_usage(raw: bytes) -> bool:
    return b'"usage"' in raw


def record_usage(ctx: RequestContext, usage: object) -> None:
    """Token counts from either wire format's usage object."""
    if not isinstance(usage, dict):
        return
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    if isinstance(prompt, int):
        ctx.prompt_tokens = prompt
    if isinstance(completion, int):
        ctx.completion_tokens = completion


async def relay_stream(
    request: web.Request,
    ctx: RequestContext,
    sent: Sent,
    translator: StreamTranslator | None,
) -> web.StreamResponse:
    """Forward an SSE stream as it arrives; on an upstream failure mid-stream, end it with an error
    event in the client's format. A client that goes away cancels the handler, which closes the
    upstream connection in the `finally` below."""
    upstream = sent.response
    out = web.StreamResponse(
        status=upstream.status, headers={**SSE_HEADERS, **smartflow_headers(ctx)}
    )
    ctx.status = upstream.status
    sniffer = UsageSniffer() if translator is None else None
    try:
        await out.prepare(request)
        parser = SSEParser() if translator is not None else None
        try:
            async for chunk in upstream.iter_chunks():
                if translator is None or parser is None:
                    if sniffer is not None:
                        sniffer.feed(chunk)
                    await out.write(chunk)
                    continue
                frames = [f for event in parser.feed(chunk) for f in translator.feed(event)]
                if frames:
                    await out.write(b"".join(frames))
            if translator is not None and parser is not None:
                # an upstream may end on a last event with no blank line after it
                pending = [f for event in parser.flush() for f in translator.feed(event)]
                tail = pending + translator.finish()
                if tail:
                    await out.write(b"".join(tail))
        except GatewayError as exc:
            log.warning(
                "upstream stream failed", extra={"request_id": ctx.request_id, "error": exc.message}
            )
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
    """Finds usage in a pass-through stream without parsing every frame: only lines that mention
    usage are decoded (OpenAI's include_usage chunk; Anthropic's message_start, message_delta)."""

    __slots__ = ("usage",)

    def __init__(self) -> None:
        self.usage: dict[str, int] | None = None

    def feed(self, chunk: bytes) -> None:
        # OpenAI chunks carry "usage":null until the last one: only a usage object is worth parsing
        if USAGE_OBJECT not in chunk:
            return
        for line in chunk.split(b"\n"):
            if not line.startswith(b"data:") or USAGE_OBJECT not in line:
                continue
            try:
                event = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue  # a frame split across chunks; the totals come in a later one
            self._merge(event)

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
