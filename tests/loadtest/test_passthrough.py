"""The pass-through proxy forwards requests and answers byte for byte, streamed or not."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from yarl import URL

from loadtest.passthrough import create_app

CHAT_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one short sentence. Ünïcödé ✓"},
    ],
    "max_tokens": 16,
    "temperature": 0.2,
}
CHAT_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
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
    ],
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
    "system_fingerprint": "fp_06737a9306",
}


def _sse_frames() -> list[bytes]:
    base = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": "", "refusal": None}]
    deltas += [{"content": word} for word in ("Hello", "!", " How", " can", " I", " help", "?")]
    frames = [
        {**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}]}
        for d in deltas
    ]
    frames.append(
        {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}
    )
    return [b"data: " + orjson.dumps(f) + b"\n\n" for f in frames] + [b"data: [DONE]\n\n"]


def _client(*, auto_decompress: bool = True) -> aiohttp.ClientSession:
    """A client that fails a broken exchange quickly instead of waiting out the test timeout."""
    timeout = aiohttp.ClientTimeout(total=10)
    return aiohttp.ClientSession(timeout=timeout, auto_decompress=auto_decompress)


@dataclass
class Upstream:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)


async def _record(upstream: Upstream, request: web.Request) -> bytes:
    body = await request.read()
    upstream.seen.append(
        {
            "method": request.method,
            "path_qs": request.raw_path,
            "headers": request.headers.copy(),
            "body": body,
        }
    )
    return body


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream(url="")

    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await _record(state, request))
        if not body.get("stream"):
            return web.Response(
                body=orjson.dumps(CHAT_RESPONSE),
                content_type="application/json",
                headers={"x-request-id": "req_abc123", "openai-processing-ms": "212"},
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "x-request-id": "req_s1"}
        )
        await response.prepare(request)
        for frame in _sse_frames():
            await response.write(frame)
        await response.write_eof()
        return response

    async def models(request: web.Request) -> web.Response:
        await _record(state, request)
        raw = gzip.compress(b'{"object":"list","data":[]}')
        return web.Response(
            body=raw,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    async def missing(request: web.Request) -> web.Response:
        await _record(state, request)
        err = {"error": {"message": "nope", "type": "invalid_request_error", "param": None,
                         "code": None}}  # fmt: skip
        return web.Response(status=404, body=orjson.dumps(err), content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_route("*", "/{tail:.*}", missing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def proxy(upstream: Upstream) -> AsyncIterator[str]:
    runner, url = await _serve(create_app(upstream.url))
    try:
        yield url
    finally:
        await runner.cleanup()


async def test_non_streamed_body_and_headers_arrive_intact(upstream: Upstream, proxy: str) -> None:
    raw = orjson.dumps(CHAT_REQUEST)
    path_qs = "/v1/chat/completions?api-version=2024-10-21&tag=a%26b%2Fc"
    headers = {
        "Authorization": "Bearer sk-test-0123456789abcdef",
        "Content-Type": "application/json",
        "X-Custom": "kept",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "dropped",
    }
    async with (
        _client() as client,
        client.post(URL(f"{proxy}{path_qs}", encoded=True), data=raw, headers=headers) as r,
    ):
        body = await r.read()
        assert r.status == 200
        assert r.headers["x-request-id"] == "req_abc123"
        assert r.headers["openai-processing-ms"] == "212"
        assert r.headers["Content-Type"] == "application/json"
    assert orjson.loads(body) == CHAT_RESPONSE
    assert body == orjson.dumps(CHAT_RESPONSE)
    [seen] = upstream.seen
    assert seen["method"] == "POST"
    assert seen["path_qs"] == path_qs
    assert seen["body"] == raw
    assert seen["headers"]["Authorization"] == headers["Authorization"]
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["X-Custom"] == "kept"
    assert "X-Hop" not in seen["headers"]  # named in Connection: hop-by-hop
    assert seen["headers"]["Host"] == upstream.url.removeprefix("http://")


async def test_streamed_body_arrives_intact(upstream: Upstream, proxy: str) -> None:
    payload = {**CHAT_REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    async with (
        _client() as client,
        client.post(f"{proxy}/v1/chat/completions", json=payload) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert r.headers["x-request-id"] == "req_s1"
        assert r.headers.get("Transfer-Encoding") == "chunked"
        body = await r.read()
    assert body == b"".join(_sse_frames())
    assert orjson.loads(upstream.seen[0]["body"]) == payload


async def test_encoded_body_passes_through_undecoded(upstream: Upstream, proxy: str) -> None:
    async with (
        _client(auto_decompress=False) as client,
        client.get(f"{proxy}/v1/models", headers={"Accept-Encoding": "gzip"}) as r,
    ):
        raw = await r.read()
        assert r.headers["Content-Encoding"] == "gzip"
        assert int(r.headers["Content-Length"]) == len(raw)
    assert gzip.decompress(raw) == b'{"object":"list","data":[]}'
    assert upstream.seen[0]["headers"]["Accept-Encoding"] == "gzip"
    assert upstream.seen[0]["body"] == b""


async def test_error_status_is_forwarded(upstream: Upstream, proxy: str) -> None:
    async with (
        _client() as client,
        client.delete(f"{proxy}/v1/files/file-abc") as r,
    ):
        assert r.status == 404
        body = await r.json()
    assert body["error"]["type"] == "invalid_request_error"
    assert upstream.seen[0]["method"] == "DELETE"


async def test_unreachable_upstream_is_a_502() -> None:
    # Bind a port, then free it, so nothing listens there.
    probe, url = await _serve(web.Application())
    await probe.cleanup()
    runner, proxy = await _serve(create_app(url))
    try:
        async with _client() as client, client.get(f"{proxy}/health") as r:
            assert r.status == 502
            assert "upstream unreachable" in await r.text()
    finally:
        await runner.cleanup()


def test_upstream_with_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="no path"):
        create_app("http://127.0.0.1:8000/v1")
    with pytest.raises(ValueError, match="no path"):
        create_app("127.0.0.1:8000")
