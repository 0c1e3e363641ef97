"""A fake of the public LLM providers, which cannot be reached from here.

`FakeUpstream` is a real aiohttp server on 127.0.0.1 (ephemeral port) that answers like OpenAI,
Azure OpenAI and Anthropic do (recorded response shapes and headers), records every request it
receives and the client port it came from, and can misbehave on demand: never answer, stall or
drop a stream, or stream until the client goes away.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy
from pydantic import SecretStr

from gateway.core.config import ProviderConfig
from gateway.providers.base import Endpoint, Provider, UpstreamRequest

SECRET_KEY = "sk-proj-TESTSECRETa8f3b2c1d9e7"  # must never show up in an error message
CREATED = 1741569952

BODY = web.RequestKey("body", bytes)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- recorded response shapes ----------------------------------------------------------------


def openai_chat(model: str, *, azure: bool = False) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": "Hello! How can I help you today?",
            "refusal": None,
            "annotations": [],
        },
        "logprobs": None,
        "finish_reason": "stop",
    }
    body: dict[str, Any] = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }
    if azure:
        safe = {"filtered": False, "severity": "safe"}
        filters = {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}
        choice["content_filter_results"] = filters
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": filters}]
        del body["service_tier"]
    return body


def openai_chat_chunks(model: str, *, include_usage: bool) -> list[bytes]:
    """One SSE event per element, as OpenAI frames them, ending with [DONE]."""
    base = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }
    deltas = [{"role": "assistant", "content": "", "refusal": None}] + [
        {"content": piece} for piece in ("Hello", "!", " How", " can", " I", " help", "?")
    ]
    events = []
    for i, delta in enumerate([*deltas, {}]):
        finish = "stop" if i == len(deltas) else None
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        event: dict[str, Any] = {**base, "choices": [choice]}
        if include_usage:
            event["usage"] = None
        events.append(event)
    if include_usage:
        usage = {"prompt_tokens": 19, "completion_tokens": 8, "total_tokens": 27}
        events.append({**base, "choices": [], "usage": usage})
    return [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


def openai_completion(model: str) -> dict[str, Any]:
    return {
        "id": "cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "text": "\n\nThis is indeed a test",
                "index": 0,
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def openai_embeddings(model: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292]}],
        "model": model,
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


def openai_models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": "gpt-4o-2024-08-06",
                "object": "model",
                "created": 1722814719,
                "owned_by": "system",
            },
            {
                "id": "text-embedding-3-small",
                "object": "model",
                "created": 1705948997,
                "owned_by": "system",
            },
        ],
    }


def openai_error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def anthropic_message(model: str) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 11,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }


def anthropic_events(model: str) -> list[bytes]:
    start = anthropic_message(model)
    start.update(content=[], stop_reason=None, usage={"input_tokens": 12, "output_tokens": 1})
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
            for piece in ("Hello", "! How can I", " help you today?")
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 11},
        },
        {"type": "message_stop"},
    ]
    return [
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    ]


def anthropic_models() -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-20250514",
                "display_name": "Claude Sonnet 4",
                "created_at": "2025-05-22T00:00:00Z",
                "lifecycle": "active",
                "deprecated_at": None,
                "retires_at": None,
                "max_input_tokens": 200000,
                "max_tokens": 64000,
            },
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-20250514",
        "last_id": "claude-sonnet-4-20250514",
    }


def azure_models() -> dict[str, Any]:
    return {
        "data": [
            {
                "status": "succeeded",
                "model": "gpt-4o",
                "capabilities": {
                    "chat_completion": True,
                    "completion": False,
                    "embeddings": False,
                    "fine_tune": False,
                    "inference": True,
                },
                "lifecycle_status": "generally-available",
                "deprecation": {"inference": 1772323200},
                "id": "gpt-4o-2024-08-06",
                "created_at": 1722902400,
                "object": "model",
            }
        ],
        "object": "list",
    }


OPENAI_HEADERS = {
    "openai-organization": "user-abc123",
    "openai-processing-ms": "412",
    "openai-version": "2020-10-01",
    "x-request-id": "req_6f1b0e52d1c3b6e4a1c0b1f9a8e7d6c5",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
}
AZURE_HEADERS = {
    "apim-request-id": "7d8e3b5a-1f2c-4d3e-9a8b-7c6d5e4f3a2b",
    "x-ms-region": "Sweden Central",
    "x-ratelimit-remaining-tokens": "79000",
}
ANTHROPIC_HEADERS = {
    "request-id": "req_011CQRxh8rDhbJ9wJYg4mC3e",
    "anthropic-organization-id": "5c7e2d1a-3b4c-4d5e-8f6a-7b8c9d0e1f2a",
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
}


# --- the fake server ---------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    client_port: int

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class FakeUpstream:
    """Set `behaviour` to one of the misbehaving handlers below; by default it answers right."""

    received: list[Received] = field(default_factory=list)
    behaviour: Handler | None = None
    # Released when the test lets held streams continue, and when the server stops.
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    last_chunk_sent: bool = False
    sent: list[bytes] = field(default_factory=list)  # the events of the last stream
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    compress: bool = False  # gzip JSON answers, as upstreams do for clients that accept it
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=2.0, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.gate.set()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def client_ports(self) -> set[int]:
        return {r.client_port for r in self.received}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        request[BODY] = body = await request.read()
        self.received.append(
            Received(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=request.headers,
                body=body,
                client_port=peer[1] if peer else 0,
            )
        )
        handler = self.behaviour or self._realistic
        response = await handler(request)
        if self.compress and isinstance(response, web.Response):
            response.enable_compression(web.ContentCoding.gzip)
        return response

    # --- answering right -------------------------------------------------------------------

    async def _realistic(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(request[BODY]) if request[BODY] else {}
        model = body.get("model", "")
        path = request.path
        if path.startswith("/openai/"):  # Azure
            if path == "/openai/models":
                return _json(azure_models(), AZURE_HEADERS)
            deployment = path.split("/")[3]
            if path.endswith("/chat/completions"):
                if body.get("stream"):
                    return await self.stream(
                        request, openai_chat_chunks(deployment, include_usage=False)
                    )
                return _json(openai_chat("gpt-4o-2024-08-06", azure=True), AZURE_HEADERS)
            if path.endswith("/embeddings"):
                return _json(openai_embeddings("text-embedding-3-small"), AZURE_HEADERS)
            return _json(openai_completion("gpt-35-turbo-instruct"), AZURE_HEADERS)
        if "anthropic-version" in request.headers:
            if path == "/v1/models":
                return _json(anthropic_models(), ANTHROPIC_HEADERS)
            if body.get("stream"):
                return await self.stream(request, anthropic_events(model))
            return _json(anthropic_message(model), ANTHROPIC_HEADERS)
        if path == "/v1/chat/completions":
            if body.get("stream"):
                usage = bool(body.get("stream_options", {}).get("include_usage"))
                return await self.stream(request, openai_chat_chunks(model, include_usage=usage))
            return _json(openai_chat(model), OPENAI_HEADERS)
        if path == "/v1/completions":
            return _json(openai_completion(model), OPENAI_HEADERS)
        if path == "/v1/embeddings":
            return _json(openai_embeddings(model), OPENAI_HEADERS)
        if path == "/v1/models":
            return _json(openai_models(), OPENAI_HEADERS)
        return _json(
            openai_error(f"Invalid URL ({request.method} {path})", "invalid_request_error", None),
            {},
            status=404,
        )

    async def stream(
        self, request: web.Request, events: list[bytes], *, hold_after: int | None = None
    ) -> web.StreamResponse:
        """Send SSE events; after `hold_after` of them, wait for `gate` before the rest."""
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }
        )
        await response.prepare(request)
        self.sent = events
        for i, event in enumerate(events):
            if i == hold_after:
                await self.gate.wait()
            self.last_chunk_sent = i == len(events) - 1
            await response.write(event)
        await response.write_eof()
        return response

    # --- misbehaving -------------------------------------------------------------------------

    def reply(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return _json(payload, headers, status=status)

        self.behaviour = handler

    def hold_stream_after(self, n: int) -> None:
        """Stream a realistic chat completion, holding back everything after the n-th event."""

        async def handler(request: web.Request) -> web.StreamResponse:
            events = openai_chat_chunks("gpt-4o-2024-08-06", include_usage=True)
            return await self.stream(request, events, hold_after=n)

        self.behaviour = handler

    async def never_answer(self, request: web.Request) -> web.StreamResponse:
        await self.gate.wait()
        return _json({}, {})

    async def drop_mid_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(openai_chat_chunks("gpt-4o", include_usage=False)[0])
        await asyncio.sleep(0.05)  # let the first chunk reach the client on its own
        assert request.transport is not None
        request.transport.abort()
        return response

    async def stream_until_client_leaves(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        chunk = openai_chat_chunks("gpt-4o", include_usage=False)[1]
        try:
            for _ in range(2000):  # ~20 s at most, far past any test
                await response.write(chunk)
                await asyncio.sleep(0.01)
        except (ConnectionError, RuntimeError):
            self.client_gone.set()
        return response


def _json(payload: dict[str, Any], headers: dict[str, str], *, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        headers={"content-type": "application/json", **headers},
    )


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


ProviderFactory = Callable[..., Provider]


@pytest.fixture
async def make_provider() -> AsyncIterator[ProviderFactory]:
    """Build providers from ProviderConfig fields; every one built is closed afterwards."""
    made: list[Provider] = []

    def make(cls: type[Provider], /, **fields: Any) -> Provider:
        extra = fields.pop("provider_kwargs", {})
        if isinstance(fields.get("api_key"), str):
            fields["api_key"] = SecretStr(fields["api_key"])
        fields.setdefault("name", "upstream-1")
        provider = cls(ProviderConfig(**fields), **extra)  # type: ignore[call-arg]
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


def _request_for(
    endpoint: Endpoint,
    body: dict[str, Any] | None = None,
    *,
    stream: bool = False,
    timeout_s: float = 10.0,
    deployment: str = "gpt-4o-prod",
) -> UpstreamRequest:
    if body is None:
        body = {} if endpoint == "models" else {"model": "gpt-4o-2024-08-06"}
    return UpstreamRequest(
        endpoint=endpoint,
        body=body,
        stream=stream,
        timeout_s=timeout_s,
        request_id="sf-req-0123456789abcdef",
        deployment_model=deployment,
    )


@pytest.fixture
def refused_url() -> str:
    """A loopback URL nothing listens on: the port was bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def make_request() -> Callable[..., UpstreamRequest]:
    """`make_request(endpoint, body=None, *, stream, timeout_s, deployment)`."""
    return _request_for
