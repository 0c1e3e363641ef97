"""The official openai SDK against the gateway, served by the in-process mock and by the mock
upstream over HTTP (an OpenAI-compatible provider), streaming and not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest

from mockllm.server import MockBehaviour, start_server

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway, upstream_config

MESSAGES = [{"role": "user", "content": "Name three rivers in Europe."}]


@pytest.fixture(params=["in-process-mock", "http-upstream"])
async def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    if request.param == "in-process-mock":
        async with running_gateway(tmp_path) as gw:
            yield gw
        return
    async with await start_server(MockBehaviour()) as mock:
        config = upstream_config(
            ("vllm", f"openai-compatible:{mock.url}/v1"),
            extra_models=[
                {"name": "text-embedding-3-small", "deployments": [{"provider": "vllm"}]},
                {"name": "gpt-3.5-turbo-instruct", "deployments": [{"provider": "vllm"}]},
            ],
        )
        async with running_gateway(tmp_path, config) as gw:
            yield gw


def client(gw: RunningGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0)


async def test_chat_completion(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        raw = await sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=30
        )
        completion = raw.parse()
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens <= 30
    assert raw.headers["x-smartflow-request-id"].startswith("req_")
    assert float(raw.headers["x-smartflow-overhead-ms"]) >= 0
    assert raw.headers["x-smartflow-cache"] in ("miss", "hit-exact")  # the cache is on by default


async def test_same_prompt_same_answer_through_gateway(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        first = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        second = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        other = await sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Something else"}]
        )
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


async def test_chat_stream_with_usage(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        stream = await sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = []
        usage = None
        finish = None
        async for chunk in stream:
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage:
                usage = chunk.usage
    assert "".join(text)
    assert finish in ("stop", "length")
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_stream_matches_non_stream(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        whole = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await sdk.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == whole.choices[0].message.content


async def test_tool_calls(gateway: RunningGateway) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    async with client(gateway) as sdk:
        completion = await sdk.chat.completions.create(
            model="gpt-4o-mini",
            # the mock calls a tool when the prompt asks for it by name (or tool_choice forces it)
            messages=[{"role": "user", "content": "Weather in Oslo? Call get_weather."}],
            tools=tools,  # type: ignore[arg-type]
        )
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert "city" in json.loads(call.function.arguments)  # type: ignore[union-attr]


async def test_json_mode_passes_through(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        completion = await sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Give me a JSON object"}],
            response_format={"type": "json_object"},
        )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


async def test_legacy_completions(gateway: RunningGateway) -> None:
    model = "gpt-3.5-turbo-instruct"
    async with client(gateway) as sdk:
        completion = await sdk.completions.create(
            model=model, prompt="Once upon a time", max_tokens=12
        )
        stream = await sdk.completions.create(
            model=model, prompt="Once upon a time", max_tokens=12, stream=True
        )
        streamed = "".join([c.choices[0].text async for c in stream if c.choices])
    assert completion.choices[0].text
    assert streamed == completion.choices[0].text


async def test_embeddings_base64_default(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        result = await sdk.embeddings.create(
            model="text-embedding-3-small", input=["alpha", "beta"], dimensions=64
        )
    assert [len(d.embedding) for d in result.data] == [64, 64]
    assert result.data[0].embedding != result.data[1].embedding


async def test_models_list(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        models = [m.id async for m in sdk.models.list()]
    assert "gpt-4o-mini" in models


async def test_cursor_alias(gateway: RunningGateway) -> None:
    sdk = openai.AsyncOpenAI(base_url=gateway.url + "/cursor/v1", api_key=ADMIN_KEY, max_retries=0)
    async with sdk:
        completion = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content


async def test_wrong_key_is_401_in_openai_shape(gateway: RunningGateway) -> None:
    sdk = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
    async with sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
