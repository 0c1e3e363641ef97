"""Anthropic's Messages API: x-api-key, the pinned anthropic-version, and only what it serves."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.types import Message, ModelInfo, RawMessageStreamEvent
from pydantic import TypeAdapter
from yarl import URL

from gateway.core.errors import InvalidRequest
from gateway.providers.anthropic import AnthropicProvider

KEY = "sk-ant-api03-TESTSECRET-9f8e7d6c5b4a"
MESSAGES_BODY = {
    "model": "claude-sonnet-4-20250514",
    "max_tokens": 1024,
    "system": "You are terse.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}],
    "metadata": {"user_id": "user-1234"},
}


def anthropic(make_provider: Any, base: str, **fields: Any) -> AnthropicProvider:
    provider: AnthropicProvider = make_provider(
        AnthropicProvider, type="anthropic", base_url=base, api_key=KEY, **fields
    )
    return provider


async def test_messages_are_posted_with_key_and_version(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = anthropic(make_provider, upstream.url)
    response = await provider.send(make_request("messages", MESSAGES_BODY))
    raw = await response.read()
    response.release()

    assert response.status == 200
    assert response.headers["request-id"].startswith("req_")
    message = Message.model_validate_json(raw)
    assert message.content[0].type == "text" and message.stop_reason == "end_turn"
    [seen] = upstream.received
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/messages", {})
    assert seen.headers["x-api-key"] == KEY
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-request-id"] == "sf-req-0123456789abcdef"
    assert "Authorization" not in seen.headers
    assert seen.body == orjson.dumps(MESSAGES_BODY)
    assert provider.kind == "anthropic" and provider.wire == "anthropic"


async def test_models_are_listed_with_a_get(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = anthropic(make_provider, upstream.url)
    response = await provider.send(make_request("models"))
    listing = orjson.loads(await response.read())
    response.release()

    assert ModelInfo.model_validate(listing["data"][0]).id == "claude-sonnet-4-20250514"
    [seen] = upstream.received
    assert (seen.method, seen.path, seen.body) == ("GET", "/v1/models", b"")
    assert seen.headers["x-api-key"] == KEY


@pytest.mark.parametrize("endpoint", ["chat", "completions", "embeddings"])
async def test_openai_endpoints_are_refused(
    upstream: Any, make_provider: Any, make_request: Any, endpoint: str
) -> None:
    provider = anthropic(make_provider, upstream.url)
    with pytest.raises(InvalidRequest) as caught:
        await provider.send(make_request(endpoint, {"model": "claude-sonnet-4-20250514"}))
    assert caught.value.message == (f"provider upstream-1 (anthropic) does not serve {endpoint}")
    assert upstream.received == []


async def test_a_stream_of_events_passes_through_unchanged(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = anthropic(make_provider, upstream.url)
    response = await provider.send(
        make_request("messages", {**MESSAGES_BODY, "stream": True}, stream=True)
    )
    raw = b"".join([chunk async for chunk in response.iter_chunks()])
    response.release()

    assert raw == b"".join(upstream.sent)
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    events = []
    for block in raw.split(b"\n\n"):
        if block and b'"type":"ping"' not in block:
            name, data = block.split(b"\n")
            event = adapter.validate_json(data.removeprefix(b"data: "))
            assert name == b"event: " + event.type.encode()
            events.append(event)
    assert events[0].type == "message_start" and events[-1].type == "message_stop"


async def test_configured_headers_are_added_and_replace_ours_whatever_their_case(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = anthropic(
        make_provider,
        upstream.url,
        headers={"anthropic-beta": "prompt-caching-2024-07-31", "Anthropic-Version": "2024-01-01"},
    )
    response = await provider.send(make_request("messages", MESSAGES_BODY))
    await response.read()
    response.release()
    seen = upstream.received[0].headers
    assert seen.getall("anthropic-beta") == ["prompt-caching-2024-07-31"]
    assert seen.getall("anthropic-version") == ["2024-01-01"]


async def test_defaults_to_the_public_api(make_provider: Any, make_request: Any) -> None:
    provider = make_provider(AnthropicProvider, type="anthropic", api_key=KEY)
    assert provider.target(make_request("messages")) == (
        "POST",
        URL("https://api.anthropic.com/v1/messages"),
    )
