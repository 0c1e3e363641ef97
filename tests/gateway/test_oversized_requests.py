"""Requests over the HTTP parser's limits get 414 / 431 in the route family's error JSON (not
aiohttp's text/plain 400), sent byte for byte on a raw socket to the real app on loopback; the
official SDKs see the same; requests under the limits are served as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import jsonschema
import openai
import orjson
import pytest
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from gateway.http_limits import HttpLimits, parse_refusal

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway

OVER = "a" * 10_000  # over the 8 KiB limits
UNDER = "a" * 4_000
CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
MESSAGES = orjson.dumps(
    {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
)


class Answer:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        self.headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)
        }

    def json(self) -> dict[str, Any]:
        assert self.headers["content-type"].startswith("application/json"), self.headers
        body: dict[str, Any] = orjson.loads(self.body)
        return body


async def exchange(url: str, request: bytes) -> Answer:
    """Send `request` as is on a new connection; read the answer until the server closes."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    return Answer(raw)


def http(
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    close: bool = True,
) -> bytes:
    fields = {
        "Host": "127.0.0.1",
        "Authorization": f"Bearer {ADMIN_KEY}",
        "x-api-key": ADMIN_KEY,
        "anthropic-version": "2023-06-01",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **({"Connection": "close"} if close else {}),
        **(headers or {}),
    }
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode("latin-1") + b"\r\n" + body


def assert_openai_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"message", "type", "param", "code"}


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    async with running_gateway(tmp_path) as gw:
        yield gw


async def test_long_uri_on_v1_is_414_in_openai_json(gateway: RunningGateway) -> None:
    answer = await exchange(gateway.url, http("POST", f"/v1/chat/completions?pad={OVER}", CHAT))
    assert answer.status == 414
    body = answer.json()
    assert_openai_error(body, "uri_too_long")
    assert "8192 bytes" in body["error"]["message"]


async def test_long_uri_on_anthropic_is_414_in_anthropic_json(gateway: RunningGateway) -> None:
    answer = await exchange(
        gateway.url, http("POST", f"/anthropic/v1/messages?pad={OVER}", MESSAGES)
    )
    assert answer.status == 414
    body = answer.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "8192 bytes" in body["error"]["message"]


async def test_long_uri_on_management_api_is_414_as_its_document_declares(
    gateway: RunningGateway,
) -> None:
    answer = await exchange(gateway.url, http("GET", f"/api/enterprise/vkeys?pad={OVER}"))
    assert answer.status == 414
    body = answer.json()
    assert_openai_error(body, "uri_too_long")
    document = orjson.loads((await exchange(gateway.url, http("GET", "/api/openapi.json"))).body)
    for item in document["paths"].values():
        for operation in item.values():
            assert {"414", "431"} <= set(operation["responses"]), operation
    error_schema = document["components"]["schemas"]["Error"]
    jsonschema.validate(body, error_schema)
    declared = document["components"]["responses"]["Error414"]["content"]["application/json"]
    assert declared["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/enterprise/vkeys"])
async def test_long_header_is_431_in_openai_json(gateway: RunningGateway, path: str) -> None:
    answer = await exchange(gateway.url, http("POST", path, CHAT, {"x-pad": OVER}))
    assert answer.status == 431
    assert_openai_error(answer.json(), "header_fields_too_large")


async def test_long_header_on_anthropic_is_431_in_the_default_shape(
    gateway: RunningGateway,
) -> None:
    """The parser refuses the header after the request line, and does not say what the path was:
    the answer is OpenAI's error JSON, the documented default."""
    answer = await exchange(
        gateway.url, http("POST", "/anthropic/v1/messages", MESSAGES, {"x-pad": OVER})
    )
    assert answer.status == 431
    assert_openai_error(answer.json(), "header_fields_too_large")


async def test_too_many_headers_is_431(gateway: RunningGateway) -> None:
    many = {f"x-pad-{n}": "1" for n in range(200)}
    answer = await exchange(gateway.url, http("POST", "/v1/chat/completions", CHAT, many))
    assert answer.status == 431
    body = answer.json()
    assert_openai_error(body, "header_fields_too_large")
    assert "128 header fields" in body["error"]["message"]


async def test_malformed_request_is_400_in_json(gateway: RunningGateway) -> None:
    answer = await exchange(gateway.url, b"NOT AN HTTP REQUEST\r\n\r\n")
    assert answer.status == 400
    assert_openai_error(answer.json(), "invalid_http_request")


async def test_a_refusal_closes_its_connection_and_only_that(gateway: RunningGateway) -> None:
    """Asked to keep the connection open, the gateway still closes it after a refusal (the
    parser cannot find the next request): `exchange` reads until the server closes."""
    refused = await exchange(gateway.url, http("GET", f"/v1/models?pad={OVER}", close=False))
    served = await exchange(gateway.url, http("GET", "/v1/models"))
    assert refused.status == 414
    assert served.status == 200 and served.json()["object"] == "list"


async def test_long_but_allowed_uri_and_header_are_served(gateway: RunningGateway) -> None:
    pad = {"x-pad": UNDER}
    chat = await exchange(gateway.url, http("POST", f"/v1/chat/completions?pad={UNDER}", CHAT, pad))
    assert chat.status == 200, chat.body
    assert chat.json()["choices"][0]["message"]["role"] == "assistant"
    messages = await exchange(
        gateway.url, http("POST", f"/anthropic/v1/messages?pad={UNDER}", MESSAGES, pad)
    )
    assert messages.status == 200, messages.body
    assert messages.json()["type"] == "message"
    keys = await exchange(gateway.url, http("GET", f"/api/enterprise/vkeys?pad={UNDER}", b"", pad))
    assert keys.status == 200, keys.body


async def test_the_official_sdks_see_414_and_431(gateway: RunningGateway) -> None:
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key=ADMIN_KEY, max_retries=0
    ) as sdk:
        with pytest.raises(openai.APIStatusError) as uri:
            await sdk.models.list(extra_query={"pad": OVER})
        with pytest.raises(openai.APIStatusError) as header:
            await sdk.models.list(extra_headers={"x-pad": OVER})
    assert uri.value.status_code == 414 and uri.value.code == "uri_too_long"
    assert header.value.status_code == 431 and header.value.code == "header_fields_too_large"
    async with anthropic.AsyncAnthropic(
        base_url=gateway.url + "/anthropic", api_key=ADMIN_KEY, max_retries=0
    ) as claude:
        with pytest.raises(anthropic.APIStatusError) as refused:
            await claude.messages.create(
                model="gpt-4o-mini",
                max_tokens=16,
                messages=[{"role": "user", "content": "hi"}],
                extra_query={"pad": OVER},
            )
    assert refused.value.status_code == 414
    body = refused.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"


LIMITS = HttpLimits()


@pytest.mark.parametrize(
    ("quoted", "status", "wire"),
    [
        # llhttp (aiohttp's C parser) quotes the request target
        (bytearray(b"/anthropic/v1/messages?pad=aaaa..."), 414, "anthropic"),
        (b"/v1/chat/completions?pad=aaaa...", 414, "openai"),
        (b"http://gateway:7775/anthropic/v1/messages?pad=a...", 414, "anthropic"),
        (b"/anthropical?pad=aaaa...", 414, "openai"),
        # the pure-Python parser quotes the request line, or the header line
        (b"POST /anthropic/v1/messages?pad=aaaa...", 414, "anthropic"),
        (b"GET /api/enterprise/vkeys?pad=aaaa...", 414, "openai"),
        (b"X-Pad: /looks/like/a/path...", 431, "openai"),
        (b"aaaaaaaaaaaa...", 431, "openai"),
    ],
)
def test_what_the_parser_quoted_decides_status_and_wire(
    quoted: bytes, status: int, wire: str
) -> None:
    error, got_wire = parse_refusal(LineTooLong(quoted, LIMITS.uri_bytes), LIMITS)
    assert (error.status, got_wire) == (status, wire)


def test_a_header_limit_apart_from_the_uri_limit_is_told_apart() -> None:
    limits = HttpLimits(uri_bytes=8192, header_field_bytes=4096)
    error, wire = parse_refusal(LineTooLong(b"/a/header/value...", 4096), limits)
    assert (error.status, wire) == (431, "openai")
    error, _ = parse_refusal(BadHttpMessage("Too many headers received"), limits)
    assert error.status == 431
