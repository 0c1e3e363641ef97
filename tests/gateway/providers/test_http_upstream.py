"""The transport every HTTP provider shares: statuses, errors, timeouts, streaming, pooling."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion

from gateway.core.errors import GatewayError, UpstreamTimeout, UpstreamUnavailable
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.azure import AzureOpenAIProvider
from gateway.providers.openai import OpenAIProvider
from gateway.providers.openai_compatible import OpenAICompatibleProvider

KEY = "sk-proj-TESTSECRETa8f3b2c1d9e7"

CHAT = {
    "model": "gpt-4o-2024-08-06",
    "messages": [{"role": "user", "content": "Say hello"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


def openai(make_provider: Any, base: str, **fields: Any) -> Any:
    return make_provider(
        OpenAIProvider, type="openai", base_url=f"{base}/v1", api_key=KEY, **fields
    )


def assert_secret_free(exc: BaseException) -> None:
    """Neither the message nor anything in the chained traceback carries the key."""
    assert KEY not in str(exc)
    assert KEY not in "".join(traceback.format_exception(exc))
    assert isinstance(exc, GatewayError)
    assert KEY not in exc.message


async def test_a_success_is_returned_with_its_headers_and_body(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = openai(make_provider, upstream.url)
    response = await provider.send(make_request("chat", {**CHAT, "stream": False}))
    body = await response.read()
    response.release()

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["openai-processing-ms"] == "412"
    completion = ChatCompletion.model_validate_json(body)
    assert completion.choices[0].message.content == "Hello! How can I help you today?"


@pytest.mark.parametrize(
    ("status", "payload", "headers"),
    [
        (
            429,
            {
                "error": {
                    "message": "Rate limit reached for gpt-4o in organization org-abc on "
                    "tokens per min (TPM): Limit 30000, Used 29812, Requested 1204. Please "
                    "try again in 2.032s.",
                    "type": "tokens",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            {
                "retry-after": "3",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "2.032s",
            },
        ),
        (
            500,
            {
                "error": {
                    "message": "The server had an error while processing your request. "
                    "Sorry about that!",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
            {},
        ),
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided: sk-proj-****e7.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            {},
        ),
    ],
)
async def test_error_statuses_are_returned_not_raised(
    upstream: Any,
    make_provider: Any,
    make_request: Any,
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str],
) -> None:
    upstream.reply(status, payload, headers)
    provider = openai(make_provider, upstream.url)

    response = await provider.send(make_request("chat", {**CHAT, "stream": False}))
    body = await response.read()
    response.release()

    assert response.status == status
    assert orjson.loads(body) == payload
    for name, value in headers.items():
        assert response.headers[name.title()] == value  # case-insensitive, as HTTP says


async def test_a_compressed_body_is_read_decompressed(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    upstream.compress = True
    provider = openai(make_provider, upstream.url)
    response = await provider.send(make_request("chat", {**CHAT, "stream": False}))
    body = await response.read()
    response.release()

    assert "gzip" in upstream.received[0].headers["Accept-Encoding"]
    assert response.headers["Content-Encoding"] == "gzip"
    assert ChatCompletion.model_validate_json(body).id.startswith("chatcmpl-")


async def test_connection_refused_is_upstream_unavailable(
    refused_url: str, make_provider: Any, make_request: Any
) -> None:
    provider = openai(make_provider, refused_url)
    with pytest.raises(UpstreamUnavailable) as caught:
        await provider.send(make_request("chat", CHAT))
    port = refused_url.rsplit(":", 1)[1]
    assert caught.value.message.startswith("provider upstream-1: cannot reach 127.0.0.1:")
    assert port in caught.value.message
    assert_secret_free(caught.value)


async def test_an_upstream_that_never_answers_times_out(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    upstream.behaviour = upstream.never_answer
    provider = openai(make_provider, upstream.url)
    with pytest.raises(UpstreamTimeout) as caught:
        await provider.send(make_request("chat", CHAT, timeout_s=0.3))
    assert caught.value.message == "provider upstream-1: no answer within 0.3s"
    assert_secret_free(caught.value)


async def test_the_first_chunk_arrives_before_the_upstream_has_sent_the_last(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    upstream.hold_stream_after(2)
    provider = openai(make_provider, upstream.url)
    response = await provider.send(make_request("chat", CHAT, stream=True))
    assert response.headers["content-type"].startswith("text/event-stream")

    chunks = response.iter_chunks()
    received = [await anext(chunks)]
    assert received[0].startswith(b"data: {")
    assert not upstream.last_chunk_sent  # the rest is still held back upstream

    upstream.gate.set()
    received.extend([chunk async for chunk in chunks])
    response.release()

    assert upstream.last_chunk_sent
    assert b"".join(received) == b"".join(upstream.sent)  # no re-framing, nothing lost
    assert received[-1].endswith(b"data: [DONE]\n\n")


async def test_a_stream_that_stalls_midway_times_out(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    upstream.hold_stream_after(3)
    provider = openai(make_provider, upstream.url)
    response = await provider.send(make_request("chat", CHAT, stream=True, timeout_s=0.3))
    received = b""
    with pytest.raises(UpstreamTimeout) as caught:
        async for chunk in response.iter_chunks():
            received += chunk
    response.release()

    assert received == b"".join(upstream.sent[:3])
    assert caught.value.message == "provider upstream-1: no answer within 0.3s"
    assert_secret_free(caught.value)


async def test_a_connection_dropped_midstream_is_upstream_unavailable(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    upstream.behaviour = upstream.drop_mid_stream
    provider = openai(make_provider, upstream.url)
    response = await provider.send(make_request("chat", CHAT, stream=True))
    received = []
    with pytest.raises(UpstreamUnavailable) as caught:
        async for chunk in response.iter_chunks():
            received.append(chunk)
    response.release()

    assert received and received[0].startswith(b"data: {")
    assert caught.value.message.startswith("provider upstream-1: connection to 127.0.0.1:")
    assert "broke mid-response" in caught.value.message
    assert_secret_free(caught.value)


async def test_a_dropped_body_on_read_is_upstream_unavailable(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    upstream.behaviour = upstream.drop_mid_stream
    provider = openai(make_provider, upstream.url)
    response = await provider.send(make_request("chat", CHAT))
    with pytest.raises(UpstreamUnavailable):
        await response.read()
    response.release()


async def test_release_after_a_partial_read_closes_the_connection(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    upstream.behaviour = upstream.stream_until_client_leaves
    provider = openai(make_provider, upstream.url)
    response = await provider.send(make_request("chat", CHAT, stream=True))
    chunks = response.iter_chunks()
    assert (await anext(chunks)).startswith(b"data: {")
    response.release()
    response.release()  # idempotent

    await asyncio.wait_for(upstream.client_gone.wait(), timeout=10)

    upstream.behaviour = None
    again = await provider.send(make_request("chat", {**CHAT, "stream": False}))
    await again.read()
    again.release()
    assert len(upstream.client_ports) == 2  # the half-read connection was not reused


@pytest.mark.parametrize("stream", [False, True])
async def test_release_after_a_full_read_reuses_the_connection(
    upstream: Any, make_provider: Any, make_request: Any, stream: bool
) -> None:
    provider = openai(make_provider, upstream.url)
    for _ in range(20):
        response = await provider.send(make_request("chat", {**CHAT, "stream": stream}))
        if stream:
            body = b"".join([chunk async for chunk in response.iter_chunks()])
        else:
            body = await response.read()
        response.release()
        response.release()
        assert body
    assert len(upstream.received) == 20
    assert len(upstream.client_ports) == 1


async def test_every_request_carries_the_request_id_and_configured_headers(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = openai(make_provider, upstream.url, headers={"x-tenant": "finance"})
    response = await provider.send(make_request("embeddings", {"model": "m", "input": "hi"}))
    await response.read()
    response.release()
    seen = upstream.received[0].headers
    assert seen["x-request-id"] == "sf-req-0123456789abcdef"
    assert seen["x-tenant"] == "finance"
    assert "cookie" not in seen


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (OpenAIProvider, {"type": "openai"}),
        (OpenAICompatibleProvider, {"type": "openai-compatible"}),
        (AzureOpenAIProvider, {"type": "azure"}),
        (AnthropicProvider, {"type": "anthropic"}),
    ],
)
async def test_no_provider_puts_its_key_in_an_error(
    refused_url: str, make_provider: Any, make_request: Any, cls: type, fields: dict[str, Any]
) -> None:
    provider = make_provider(cls, base_url=refused_url, api_key=KEY, **fields)
    endpoint = "messages" if cls is AnthropicProvider else "chat"
    with pytest.raises(UpstreamUnavailable) as caught:
        await provider.send(make_request(endpoint, {"model": "m"}))
    assert_secret_free(caught.value)
