"""Building responses: the headers every answer carries, and errors in the caller's wire format."""

from __future__ import annotations

import orjson
from aiohttp import web

from gateway.core.errors import (
    GatewayError,
    anthropic_error_body,
    openai_error_body,
    status_of,
)
from gateway.pipeline.context import RequestContext

JSON = "application/json"
SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def smartflow_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {
        "x-smartflow-request-id": ctx.request_id,
        "x-smartflow-overhead-ms": f"{ctx.overhead_ms():.3f}",
        "x-smartflow-cache": ctx.cache,
    }
    if ctx.response_headers:
        headers.update(ctx.response_headers)
    return headers


def json_response(ctx: RequestContext, status: int, body: bytes) -> web.Response:
    ctx.status = status
    return web.Response(status=status, body=body, content_type=JSON, headers=smartflow_headers(ctx))


def sse_response(ctx: RequestContext, status: int) -> web.StreamResponse:
    """A stream's response, before its first byte: the event-stream headers and ours."""
    ctx.status = status
    return web.StreamResponse(status=status, headers={**SSE_HEADERS, **smartflow_headers(ctx)})


def error_body(ctx: RequestContext, error: GatewayError) -> bytes:
    if ctx.wire == "anthropic":
        return orjson.dumps(anthropic_error_body(error))
    return orjson.dumps(openai_error_body(error))


def error_response(ctx: RequestContext, error: GatewayError) -> web.Response:
    ctx.error_code = error.code
    response = json_response(ctx, status_of(error), error_body(ctx, error))
    response.headers.update(error.headers)
    return response
