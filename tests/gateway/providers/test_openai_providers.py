"""OpenAI and OpenAI-compatible upstreams: URLs, auth, and the body as sent."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from openai.types import Completion, CreateEmbeddingResponse, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from yarl import URL

from gateway.core.errors import InvalidRequest
from gateway.providers.openai import OpenAIProvider
from gateway.providers.openai_compatible import OpenAICompatibleProvider

KEY = "sk-proj-TESTSECRETa8f3b2c1d9e7"

CHAT_BODY = {
    "model": "gpt-4o-2024-08-06",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in Ünïcödé ✓"},
    ],
    "temperature": 0.2,
    "max_completion_tokens": 64,
    "user": "user-1234",
}
STREAM_BODY = {**CHAT_BODY, "stream": True, "stream_options": {"include_usage": True}}


async def send_and_read(provider: Any, request: Any) -> tuple[Any, bytes]:
    response = await provider.send(request)
    body = await response.read()
    response.release()
    return response, body


@pytest.mark.parametrize(
    ("endpoint", "body", "path", "shape"),
    [
        ("chat", CHAT_BODY, "/v1/chat/completions", ChatCompletion),
        (
            "completions",
            {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7},
            "/v1/completions",
            Completion,
        ),
        (
            "embeddings",
            {
                "model": "text-embedding-3-small",
                "input": "The food was delicious",
                "encoding_format": "float",
            },
            "/v1/embeddings",
            CreateEmbeddingResponse,
        ),
    ],
)
async def test_openai_posts_each_endpoint_with_a_bearer_key(
    upstream: Any,
    make_provider: Any,
    make_request: Any,
    endpoint: str,
    body: dict[str, Any],
    path: str,
    shape: Any,
) -> None:
    provider = make_provider(
        OpenAIProvider, type="openai", base_url=f"{upstream.url}/v1", api_key=KEY
    )
    response, raw = await send_and_read(provider, make_request(endpoint, body))

    assert response.status == 200
    shape.model_validate_json(raw)
    [seen] = upstream.received
    assert (seen.method, seen.path, seen.query) == ("POST", path, {})
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["x-request-id"] == "sf-req-0123456789abcdef"
    assert "OpenAI-Organization" not in seen.headers
    assert seen.body == orjson.dumps(body)


async def test_openai_lists_models_with_a_get(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_provider(
        OpenAIProvider, type="openai", base_url=f"{upstream.url}/v1", api_key=KEY
    )
    _, raw = await send_and_read(provider, make_request("models"))

    models = [Model.model_validate(m) for m in orjson.loads(raw)["data"]]
    assert [m.id for m in models] == ["gpt-4o-2024-08-06", "text-embedding-3-small"]
    [seen] = upstream.received
    assert (seen.method, seen.path, seen.body) == ("GET", "/v1/models", b"")
    assert "Content-Type" not in seen.headers
    assert seen.headers["Authorization"] == f"Bearer {KEY}"


async def test_openai_sends_the_organization_only_when_configured(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_provider(
        OpenAIProvider,
        type="openai",
        base_url=f"{upstream.url}/v1/",  # a trailing slash is tolerated
        api_key=KEY,
        headers={"OpenAI-Organization": "org-9Xy7Wv6Ut5", "OpenAI-Project": "proj_abc"},
    )
    await send_and_read(provider, make_request("chat", CHAT_BODY))
    [seen] = upstream.received
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["OpenAI-Organization"] == "org-9Xy7Wv6Ut5"
    assert seen.headers["OpenAI-Project"] == "proj_abc"


async def test_openai_defaults_to_the_public_api(make_provider: Any, make_request: Any) -> None:
    provider = make_provider(OpenAIProvider, type="openai", api_key=KEY)
    assert provider.target(make_request("chat")) == (
        "POST",
        URL("https://api.openai.com/v1/chat/completions"),
    )
    assert provider.target(make_request("models")) == (
        "GET",
        URL("https://api.openai.com/v1/models"),
    )


async def test_openai_refuses_the_anthropic_messages_endpoint(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_provider(
        OpenAIProvider, type="openai", base_url=f"{upstream.url}/v1", api_key=KEY
    )
    with pytest.raises(InvalidRequest) as caught:
        await provider.send(make_request("messages", {"model": "gpt-4o", "max_tokens": 5}))
    assert caught.value.message == "provider upstream-1 (openai) does not serve messages"
    assert upstream.received == []


async def test_openai_streams_chat_chunks_as_sent(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_provider(
        OpenAIProvider, type="openai", base_url=f"{upstream.url}/v1", api_key=KEY
    )
    response = await provider.send(make_request("chat", STREAM_BODY, stream=True))
    raw = b"".join([chunk async for chunk in response.iter_chunks()])
    response.release()

    assert raw == b"".join(upstream.sent)
    events = [e.removeprefix(b"data: ") for e in raw.split(b"\n\n") if e]
    assert events[-1] == b"[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(e) for e in events[:-1]]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello! How can I help?"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 27


async def test_compatible_sends_no_authorization_without_a_key(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_provider(
        OpenAICompatibleProvider, type="openai-compatible", base_url=f"{upstream.url}/v1"
    )
    response, raw = await send_and_read(provider, make_request("chat", CHAT_BODY))
    assert response.status == 200
    ChatCompletion.model_validate_json(raw)
    [seen] = upstream.received
    assert seen.path == "/v1/chat/completions"
    assert "Authorization" not in seen.headers
    assert provider.kind == "openai-compatible" and provider.wire == "openai"


async def test_compatible_sends_a_bearer_key_when_it_has_one(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_provider(
        OpenAICompatibleProvider,
        type="openai-compatible",
        base_url=f"{upstream.url}/v1",
        api_key="token-vllm-abc",
    )
    await send_and_read(provider, make_request("embeddings", {"model": "bge-m3", "input": "x"}))
    assert upstream.received[0].headers["Authorization"] == "Bearer token-vllm-abc"


async def test_compatible_drops_stream_options_only_where_unsupported(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    body = copy.deepcopy(STREAM_BODY)
    for supported in (True, False):
        provider = make_provider(
            OpenAICompatibleProvider,
            name=f"vllm-{supported}",
            type="openai-compatible",
            base_url=f"{upstream.url}/v1",
            supports_stream_options=supported,
        )
        response = await provider.send(make_request("chat", body, stream=True))
        assert b"".join([c async for c in response.iter_chunks()]).endswith(b"[DONE]\n\n")
        response.release()

    kept, dropped = (orjson.loads(r.body) for r in upstream.received)
    assert kept == STREAM_BODY
    assert dropped == {k: v for k, v in STREAM_BODY.items() if k != "stream_options"}
    assert list(dropped) == [k for k in STREAM_BODY if k != "stream_options"]  # order kept
    assert body == STREAM_BODY  # the caller's dict was not touched
