"""Routing features end to end: wildcard models, Azure deployments, upstream model names,
completions served by an Anthropic upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest

from mockllm.server import MockBehaviour, RunningMock, start_server

from support import chaos
from support.gateway import ADMIN_KEY, running_gateway


@pytest.fixture
async def mock() -> AsyncIterator[RunningMock]:
    async with await start_server(MockBehaviour()) as server:
        yield server


async def test_wildcard_route_sends_the_requested_name(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.ok()]) as up:
        config = {
            "providers": [
                {"name": "ollama", "type": "openai-compatible", "base_url": up.url + "/v1"}
            ],
            "models": [{"name": "*", "deployments": [{"provider": "ollama"}]}],
        }
        async with running_gateway(tmp_path, config) as gw:
            sdk = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0)
            async with sdk:
                await sdk.chat.completions.create(
                    model="llama3.1:8b", messages=[{"role": "user", "content": "hi"}]
                )
                listed = [m.id async for m in sdk.models.list()]
    assert up.seen[0].body["model"] == "llama3.1:8b"
    assert "*" not in listed


async def test_azure_deployment_through_the_gateway(tmp_path: Path, mock: RunningMock) -> None:
    config = {
        "providers": [
            {
                "name": "azure-eu",
                "type": "azure",
                "base_url": mock.url,
                "api_version": "2024-10-21",
                "api_key_env": "AZURE_KEY",
            }
        ],
        "models": [
            {"name": "gpt-4o", "deployments": [{"provider": "azure-eu", "model": "prod-gpt4o"}]},
            {"name": "embed", "deployments": [{"provider": "azure-eu", "model": "prod-embed"}]},
        ],
    }
    async with running_gateway(tmp_path, config, env={"AZURE_KEY": "azure-secret"}) as gw:
        sdk = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0)
        async with sdk:
            reply = await sdk.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
            stream = await sdk.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            streamed = "".join(
                [c.choices[0].delta.content or "" async for c in stream if c.choices]
            )
            vectors = await sdk.embeddings.create(model="embed", input="hello")
    assert reply.choices[0].message.content == streamed
    assert len(vectors.data[0].embedding) > 0


async def test_upstream_model_name_is_rewritten(tmp_path: Path) -> None:
    async with chaos.ChaosUpstream([chaos.ok()]) as up:
        config = {
            "providers": [{"name": "p", "type": "openai-compatible", "base_url": up.url + "/v1"}],
            "models": [
                {
                    "name": "house-model",
                    "deployments": [{"provider": "p", "model": "meta/llama-70b"}],
                }
            ],
        }
        async with running_gateway(tmp_path, config) as gw:
            sdk = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0)
            async with sdk:
                await sdk.chat.completions.create(
                    model="house-model",
                    messages=[{"role": "user", "content": "hi"}],
                    temperature=0.2,
                    seed=7,
                )
    sent = up.seen[0].body
    assert sent["model"] == "meta/llama-70b"
    assert sent["temperature"] == 0.2 and sent["seed"] == 7  # everything else passes through


async def test_completions_served_by_anthropic_upstream(tmp_path: Path, mock: RunningMock) -> None:
    config = {
        "providers": [{"name": "claude", "type": "anthropic", "base_url": mock.url}],
        "models": [{"name": "instruct", "deployments": [{"provider": "claude"}]}],
    }
    async with running_gateway(tmp_path, config) as gw:
        sdk = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0)
        async with sdk:
            whole = await sdk.completions.create(
                model="instruct", prompt="Once upon", max_tokens=20
            )
            stream = await sdk.completions.create(
                model="instruct", prompt="Once upon", max_tokens=20, stream=True
            )
            streamed = "".join([c.choices[0].text async for c in stream if c.choices])
    assert whole.object == "text_completion"
    assert whole.choices[0].text and streamed == whole.choices[0].text
    assert whole.usage is not None and whole.usage.completion_tokens > 0
