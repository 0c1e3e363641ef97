"""Requests the HTTP parser refuses before any route runs, answered in the gateway's error JSON.

aiohttp's parser (llhttp in C, or its pure-Python twin) enforces the request-line and header
limits while it reads the bytes, before routing and before any handler or middleware: an
over-long request target raises `aiohttp.http_exceptions.LineTooLong` in the parser's URL
callback, an over-long header field `LineTooLong` in its header callbacks, more than
`max_headers` fields `BadHttpMessage("Too many headers received")`.
`RequestHandler.data_received` queues that error in place of a request, and
`RequestHandler._make_error_handler` answers it with `handle_error(request, 400, exc)`: a
`text/plain` 400 quoting the parser's message, the same for every cause. Clients (and the
management API's OpenAPI document) expect our error JSON and a status they can act on, so
`GatewayRequestHandler.handle_error` answers parse errors itself:

- 414 (`uri_too_long`) when the request target is longer than `HttpLimits.uri_bytes`;
- 431 (`header_fields_too_large`) when a header field (name and value) is longer than
  `HttpLimits.header_field_bytes`, or there are more than `HttpLimits.header_fields` of them;
- 400 (`invalid_http_request`) for any other request that is not valid HTTP/1.1.

The wire format follows the route family as far as the parser's bytes tell it. For a 414 the parser
quotes the first 100 bytes of what it refused (llhttp the request target itself, the pure-Python
parser the whole request line): a target under `/anthropic` gets Anthropic's error JSON, any other
OpenAI's, which is also the management API's shape on `/api` (see `gateway.services.api_server`).
For a 431 or a 400 the parser has consumed the request line but does not expose it, so the answer is
OpenAI's error JSON, the shape most clients parse. A refused request leaves the parser in an error
state: the connection is closed after the answer.

The limits are 8 KiB, as in nginx's default `large_client_header_buffers` (aiohttp's own default
is 8190 bytes); 128 header fields, aiohttp's default.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from gateway.core.errors import (
    GatewayError,
    InvalidRequest,
    anthropic_error_body,
    openai_error_body,
    status_of,
)

log = logging.getLogger("smartflow.server")

Wire = Literal["openai", "anthropic"]

# a request line starts with a method token and one space (RFC 9112 section 3)
_METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ ")
_ABSOLUTE_FORM = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]*")
_ANTHROPIC = re.compile(rb"/anthropic(?:[/?#]|$)")
_TOO_MANY_HEADERS = "Too many headers"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What the HTTP parser accepts before any route runs (aiohttp's `max_line_size`,
    `max_field_size`, `max_headers`)."""

    uri_bytes: int = 8192
    header_field_bytes: int = 8192
    header_fields: int = 128


class UriTooLong(InvalidRequest):
    status = 414
    default_code = "uri_too_long"


class HeaderFieldsTooLarge(InvalidRequest):
    status = 431
    default_code = "header_fields_too_large"


class MalformedRequest(InvalidRequest):
    default_code = "invalid_http_request"


def request_target(quoted: bytes) -> bytes | None:
    """The request target at the start of what the parser quoted in a `LineTooLong`, or None when
    it quoted a header field. llhttp quotes the target (`/v1/...`, `http://host/v1/...`, `*`), the
    pure-Python parser the request line (`GET /v1/... HTTP/1.1`); a header line (`Name: value`)
    has no space after a token. llhttp quotes a header's value alone: one that looks like a target
    is taken for one when the two limits are equal (a 414 rather than a 431, both refusals)."""
    method = _METHOD.match(quoted)
    candidate = quoted[method.end() :] if method else quoted
    if candidate.startswith((b"/", b"*")):
        return candidate
    absolute = _ABSOLUTE_FORM.match(candidate)
    if absolute is not None:
        return candidate[absolute.end() :] or b"/"
    return None


def wire_of(target: bytes | None) -> Wire:
    """Anthropic's error JSON under /anthropic; OpenAI's elsewhere and when the path is unknown."""
    return "anthropic" if target is not None and _ANTHROPIC.match(target) else "openai"


def parse_refusal(exc: HttpProcessingError, limits: HttpLimits) -> tuple[GatewayError, Wire]:
    """The error to answer a request the parser refused with, and the wire format to answer in."""
    if isinstance(exc, LineTooLong):
        quoted = exc.args[0] if exc.args else b""
        if isinstance(quoted, str):
            quoted = quoted.encode("utf-8", "surrogateescape")
        limit = exc.args[1] if len(exc.args) > 1 else limits.uri_bytes
        target = request_target(bytes(quoted))
        if target is not None and limit == limits.uri_bytes:
            return (
                UriTooLong(
                    f"the request URI is longer than the gateway's limit of {limits.uri_bytes} "
                    "bytes; send large inputs in the request body"
                ),
                wire_of(target),
            )
        return (
            HeaderFieldsTooLarge(
                "a request header field is longer than the gateway's limit of "
                f"{limits.header_field_bytes} bytes"
            ),
            "openai",
        )
    if exc.message.startswith(_TOO_MANY_HEADERS):
        return (
            HeaderFieldsTooLarge(
                f"the request has more than the gateway's limit of {limits.header_fields} "
                "header fields"
            ),
            "openai",
        )
    reason = exc.message.strip().splitlines()[0] if exc.message.strip() else "malformed request"
    return MalformedRequest(f"the request is not valid HTTP/1.1: {reason[:200]}"), "openai"


def refusal_response(error: GatewayError, wire: Wire) -> web.Response:
    body = anthropic_error_body(error) if wire == "anthropic" else openai_error_body(error)
    response = web.Response(
        status=status_of(error), body=orjson.dumps(body), content_type="application/json"
    )
    response.force_close()  # the parser cannot find the next request after the one it refused
    return response


class GatewayRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering requests its parser refused in our error JSON."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        # 400 with the parser's exception: the error handler of a request that was never parsed
        # (a handler's own failure comes here as 500 or 504 and keeps aiohttp's answer)
        if status != HTTPStatus.BAD_REQUEST or not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        limits = HttpLimits(self.max_line_size, self.max_field_size, self.max_headers)
        error, wire = parse_refusal(exc, limits)
        log.info(
            "request refused by the HTTP parser",
            extra={"status": status_of(error), "code": error.code, "client_ip": request.remote},
        )
        return refusal_response(error, wire)


class GatewayServer(web.Server):
    """aiohttp's low-level server, with `GatewayRequestHandler` for each connection."""

    def __call__(self) -> RequestHandler:
        return GatewayRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer parser refusals in our error JSON, with the parser
    limits of `limits`. aiohttp has no option for the connection handler's class: the server the
    base runner builds (after the app's startup) is rebuilt as a `GatewayServer` with the same
    handler, request factory and connection options."""

    __slots__ = ()

    def __init__(
        self, app: web.Application, *, limits: HttpLimits | None = None, **kwargs: Any
    ) -> None:
        limits = limits or HttpLimits()
        super().__init__(
            app,
            max_line_size=limits.uri_bytes,
            max_field_size=limits.header_field_bytes,
            max_headers=limits.header_fields,
            **kwargs,
        )

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return GatewayServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            **server._kwargs,
        )
