"""The Responses endpoint (`POST /v1/responses`) on the providers that serve it natively.

OpenAI serves it under its base URL like every other endpoint; Azure OpenAI serves it once for
the whole resource (`/openai/v1/responses`, the deployment in the body's `model`). Every other
provider says `native_responses = False`, so the pipeline translates instead of forwarding.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import web
from openai.types.responses import Response

from gateway.core.config import ProviderConfig
from gateway.core.errors import InvalidRequest
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.azure import AzureOpenAIProvider
from gateway.providers.mock import MockProvider
from gateway.providers.openai import OpenAIProvider
from gateway.providers.openai_compatible import OpenAICompatibleProvider

OPENAI_KEY = "sk-proj-TESTSECRETa8f3b2c1d9e7"
AZURE_KEY = "3f9a1c2b4d5e6f708192a3b4c5d6e7f8"
BODY: dict[str, Any] = {
    "model": "gpt-4.1",
    "input": [{"type": "message", "role": "user", "content": "Say hello in Ünïcödé ✓"}],
    "instructions": "You are terse.",
    "store": False,
    "max_output_tokens": 64,
}
RESPONSE: dict[str, Any] = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": "You are terse.",
    "max_output_tokens": 64,
    "model": "gpt-4.1-2025-04-14",
    "output": [
        {
            "type": "message",
            "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello ✓", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": False,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": {
        "input_tokens": 21,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 25,
    },
    "user": None,
    "metadata": {},
}
EVENTS = [
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":1,"delta":"Hello"}\n\n',
    b'event: response.completed\ndata: {"type":"response.completed","sequence_number":2}\n\n',
]


def answer_with_a_response(upstream: Any) -> None:
    upstream.reply(200, RESPONSE, {"x-request-id": "req_0123"})


def stream_events(upstream: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        result: web.StreamResponse = await upstream.stream(request, EVENTS)
        return result

    upstream.behaviour = handler


async def send_and_read(provider: Any, request: Any) -> bytes:
    response = await provider.send(request)
    assert response.status == 200
    raw: bytes = await response.read()
    response.release()
    return raw


# --- OpenAI ------------------------------------------------------------------------------------


async def test_openai_posts_responses_under_its_base_url(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    answer_with_a_response(upstream)
    provider = make_provider(
        OpenAIProvider, type="openai", base_url=f"{upstream.url}/v1", api_key=OPENAI_KEY
    )
    raw = await send_and_read(provider, make_request("responses", BODY))

    assert Response.model_validate_json(raw).output_text == "Hello ✓"
    [seen] = upstream.received
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/responses", {})
    assert seen.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert seen.body == orjson.dumps(BODY)  # untouched: the pipeline shaped it already


async def test_openai_streams_response_events_as_sent(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    stream_events(upstream)
    provider = make_provider(
        OpenAIProvider, type="openai", base_url=f"{upstream.url}/v1", api_key=OPENAI_KEY
    )
    body = {**BODY, "stream": True}
    response = await provider.send(make_request("responses", body, stream=True))
    raw = b"".join([chunk async for chunk in response.iter_chunks()])
    response.release()

    assert raw == b"".join(EVENTS)
    [seen] = upstream.received
    assert seen.path == "/v1/responses"
    assert seen.json()["stream"] is True


# --- Azure OpenAI ------------------------------------------------------------------------------


def make_azure(make_provider: Any, base: str, **fields: Any) -> AzureOpenAIProvider:
    fields.setdefault("api_key", AZURE_KEY)
    provider: AzureOpenAIProvider = make_provider(
        AzureOpenAIProvider, type="azure", base_url=base, **fields
    )
    return provider


@pytest.mark.parametrize("api_version", [None, "2025-01-01-preview"])
async def test_azure_posts_responses_to_the_v1_route_with_the_deployment_as_model(
    upstream: Any, make_provider: Any, make_request: Any, api_version: str | None
) -> None:
    answer_with_a_response(upstream)
    provider = make_azure(make_provider, f"{upstream.url}/", api_version=api_version)
    raw = await send_and_read(provider, make_request("responses", BODY, deployment="gpt41-prod"))

    Response.model_validate_json(raw)
    [seen] = upstream.received
    # One URL for the whole resource, and no dated api-version: the v1 API takes none.
    assert (seen.method, seen.path, seen.query) == ("POST", "/openai/v1/responses", {})
    assert seen.headers["api-key"] == AZURE_KEY
    assert seen.json() == {**BODY, "model": "gpt41-prod"}


async def test_azure_sends_a_body_naming_the_deployment_byte_for_byte(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    answer_with_a_response(upstream)
    provider = make_azure(make_provider, upstream.url)
    body = {**BODY, "model": "gpt41-prod"}
    await send_and_read(provider, make_request("responses", body, deployment="gpt41-prod"))
    [seen] = upstream.received
    assert seen.body == orjson.dumps(body)


async def test_azure_chat_keeps_its_deployment_url_next_to_responses(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    answer_with_a_response(upstream)
    provider = make_azure(make_provider, upstream.url)
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    await send_and_read(provider, make_request("responses", BODY, deployment="gpt41-prod"))
    await send_and_read(provider, make_request("chat", chat, deployment="gpt41-prod"))
    responses, chat_seen = upstream.received
    assert responses.path == "/openai/v1/responses"
    assert chat_seen.path == "/openai/deployments/gpt41-prod/chat/completions"
    assert chat_seen.query == {"api-version": "2024-10-21"}
    assert chat_seen.json() == chat  # the chat body's model is left as it was


async def test_azure_streams_response_events_as_sent(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    stream_events(upstream)
    provider = make_azure(make_provider, upstream.url)
    body = {**BODY, "stream": True}
    response = await provider.send(
        make_request("responses", body, stream=True, deployment="gpt41-prod")
    )
    raw = b"".join([chunk async for chunk in response.iter_chunks()])
    response.release()
    assert raw == b"".join(EVENTS)


# --- who serves it natively ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "fields", "native"),
    [
        (OpenAIProvider, {"type": "openai"}, True),
        (AzureOpenAIProvider, {"type": "azure", "base_url": "https://x.openai.azure.com"}, True),
        (
            OpenAICompatibleProvider,
            {"type": "openai-compatible", "base_url": "http://vllm:8000/v1"},
            False,
        ),
        (AnthropicProvider, {"type": "anthropic"}, False),
    ],
)
async def test_native_responses_per_provider(
    make_provider: Any, cls: Any, fields: dict[str, Any], native: bool
) -> None:
    provider = make_provider(cls, **fields)
    assert provider.native_responses is native


async def test_the_mock_provider_translates_so_it_refuses_the_native_endpoint(
    make_request: Any,
) -> None:
    provider = MockProvider(ProviderConfig(name="mock", type="mock"))
    assert provider.native_responses is False
    with pytest.raises(InvalidRequest, match=r"provider mock \(mock\) does not serve responses"):
        await provider.send(make_request("responses", BODY))
    models = await provider.send(make_request("models"))  # the other endpoints are unchanged
    assert orjson.loads(await models.read())["object"] == "list"


async def test_anthropic_refuses_the_responses_endpoint(
    upstream: Any, make_provider: Any, make_request: Any
) -> None:
    provider = make_provider(AnthropicProvider, type="anthropic", base_url=upstream.url)
    with pytest.raises(InvalidRequest, match=r"does not serve responses"):
        await provider.send(make_request("responses", BODY))
    assert upstream.received == []
