"""The official anthropic SDK against /anthropic, natively and translated; and the openai SDK
served by an Anthropic-speaking upstream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest

from mockllm.server import MockBehaviour, RunningMock, start_server

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway, upstream_config

MESSAGES = [{"role": "user", "content": "Write a haiku about the sea."}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
async def mock() -> AsyncIterator[RunningMock]:
    async with await start_server(MockBehaviour()) as server:
        yield server


@pytest.fixture(params=["in-process-mock", "anthropic-upstream", "openai-upstream"])
async def gateway(
    request: pytest.FixtureRequest, tmp_path: Path, mock: RunningMock
) -> AsyncIterator[RunningGateway]:
    config = None
    if request.param == "anthropic-upstream":
        config = upstream_config(("claude", f"anthropic:{mock.url}"), model="claude-gw-test")
    elif request.param == "openai-upstream":
        config = upstream_config(
            ("vllm", f"openai-compatible:{mock.url}/v1"), model="claude-gw-test"
        )
    async with running_gateway(tmp_path, config) as gw:
        yield gw


def client(gw: RunningGateway) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=gw.url + "/anthropic", api_key=ADMIN_KEY, max_retries=0
    )


async def test_message(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        raw = await sdk.messages.with_raw_response.create(
            model="claude-gw-test",
            max_tokens=64,
            messages=MESSAGES,  # type: ignore[arg-type]
        )
        message = await raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-smartflow-request-id"].startswith("req_")


async def test_stream_event_sequence_and_usage(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        kinds = []
        async with sdk.messages.stream(
            model="claude-gw-test",
            max_tokens=64,
            messages=MESSAGES,  # type: ignore[arg-type]
        ) as stream:
            async for event in stream:
                kinds.append(event.type)
            final = await stream.get_final_message()
        whole = await sdk.messages.create(
            model="claude-gw-test",
            max_tokens=64,
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert kinds[0] == "message_start"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert kinds[-1] == "message_stop"
    assert final.usage.output_tokens > 0
    assert final.content[0].text == whole.content[0].text  # type: ignore[union-attr]


async def test_tool_use(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        message = await sdk.messages.create(
            model="claude-gw-test",
            max_tokens=128,
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            tool_choice={"type": "any"},  # the mock calls a tool when told to (or asked by name)
            messages=[{"role": "user", "content": "Weather in Lima?"}],
        )
    assert message.stop_reason == "tool_use"
    block = next(b for b in message.content if b.type == "tool_use")
    assert block.name == "get_weather" and "city" in block.input  # type: ignore[operator]


async def test_missing_max_tokens_is_anthropic_400(gateway: RunningGateway) -> None:
    # The SDK refuses to send this itself, so speak HTTP directly.
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            gateway.url + "/anthropic/v1/messages",
            json={"model": "claude-gw-test", "messages": MESSAGES},
            headers={"x-api-key": ADMIN_KEY, "anthropic-version": "2023-06-01"},
        )
        body = await response.json()
    assert response.status == 400
    assert body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": body["error"]["message"]},
    }
    assert "max_tokens" in body["error"]["message"]


async def test_x_api_key_wrong_is_anthropic_401(gateway: RunningGateway) -> None:
    sdk = anthropic.AsyncAnthropic(
        base_url=gateway.url + "/anthropic", api_key="nope", max_retries=0
    )
    async with sdk:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await sdk.messages.create(model="claude-gw-test", max_tokens=8, messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.body["type"] == "error"  # type: ignore[index]


async def test_openai_sdk_served_by_anthropic_upstream(tmp_path: Path, mock: RunningMock) -> None:
    config = upstream_config(("claude", f"anthropic:{mock.url}"), model="gpt-4o-mini")
    async with running_gateway(tmp_path, config) as gw:
        sdk = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0)
        async with sdk:
            whole = await sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],  # type: ignore[list-item]
                max_tokens=40,
            )
            stream = await sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],  # type: ignore[list-item]
                max_tokens=40,
                stream=True,
                stream_options={"include_usage": True},
            )
            pieces, usage = [], None
            async for chunk in stream:
                if chunk.choices:
                    pieces.append(chunk.choices[0].delta.content or "")
                usage = chunk.usage or usage
            tools = await sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Weather in Lima?"}],
                tools=[
                    {
                        "type": "function",
                        "function": {
                            "name": WEATHER_TOOL["name"],
                            "description": WEATHER_TOOL["description"],
                            "parameters": WEATHER_TOOL["input_schema"],
                        },
                    }
                ],
                tool_choice="required",  # the mock calls a tool when told to (or asked by name)
            )
    # the upstream really was spoken to in Anthropic's format
    assert whole.id.startswith("chatcmpl-") or whole.id.startswith("msg_")
    assert whole.choices[0].message.content
    assert "".join(pieces) == whole.choices[0].message.content
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    call = tools.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert tools.choices[0].finish_reason == "tool_calls"
    assert "city" in json.loads(call.function.arguments)  # type: ignore[union-attr]


async def test_anthropic_sdk_served_by_openai_upstream_counts_streamed_usage(
    tmp_path: Path, mock: RunningMock
) -> None:
    config = upstream_config(("vllm", f"openai-compatible:{mock.url}/v1"), model="claude-gw-test")
    async with running_gateway(tmp_path, config) as gw:
        async with (
            client(gw) as sdk,
            sdk.messages.stream(
                model="claude-gw-test",
                max_tokens=64,
                messages=MESSAGES,  # type: ignore[arg-type]
            ) as stream,
        ):
            final = await stream.get_final_message()
        metrics = gw.state.metrics.render().decode()
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    assert 'smartflow_tokens_total{kind="completion",model="claude-gw-test"}' in metrics
