"""mockllm.server over real loopback HTTP, driven by the official openai and anthropic SDKs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from mockllm.content import DEFAULT_MODELS
from mockllm.server import MockBehaviour, RunningMock, start_server

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}
MESSAGES: Any = [{"role": "user", "content": "Say something nice about Tuesdays."}]


@pytest.fixture
async def mock() -> AsyncIterator[RunningMock]:
    async with await start_server(MockBehaviour()) as server:
        yield server


@pytest.fixture
async def oai(mock: RunningMock) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def claude(mock: RunningMock) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=mock.url, api_key="sk-ant-test", max_retries=0)
    yield client
    await client.close()


async def post(url: str, data: bytes | str, **headers: str) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=headers) as resp,
    ):
        return resp.status, resp.content_type, await resp.json(content_type=None)


# --- OpenAI ----------------------------------------------------------------------------------


async def test_chat_plain_and_streamed_agree(oai: openai.AsyncOpenAI) -> None:
    whole = await oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert whole.object == "chat.completion" and whole.model == "gpt-4o"
    assert whole.system_fingerprint == "fp_mock" and whole.id.startswith("chatcmpl-")
    text = whole.choices[0].message.content
    assert text and text.startswith("Mock reply")
    assert whole.usage is not None and whole.usage.prompt_tokens > 0

    stream = await oai.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    pieces, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    assert sum(1 for p in pieces if p) == usage.completion_tokens


async def test_stream_response_headers(mock: RunningMock) -> None:
    body = '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}'
    async with (
        aiohttp.ClientSession() as session,
        session.post(mock.url + "/v1/chat/completions", data=body) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["Cache-Control"] == "no-cache"
        raw = await resp.read()
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_completions_and_models(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=5
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    streamed = await oai.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=5, stream=True
    )
    assert "".join([c.choices[0].text async for c in streamed]) == reply.choices[0].text
    listed = [m.id async for m in oai.models.list()]
    assert listed == list(DEFAULT_MODELS)
    one = await oai.models.retrieve("my-fine-tune")
    assert one.id == "my-fine-tune"


async def test_embeddings_default_base64_path_equals_float(oai: openai.AsyncOpenAI) -> None:
    texts = ["first text", "second text"]
    default = await oai.embeddings.create(model="text-embedding-3-small", input=texts)
    floats = await oai.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    assert [d.embedding for d in default.data] == [d.embedding for d in floats.data]
    assert len(default.data[0].embedding) == 1536
    small = await oai.embeddings.create(model="text-embedding-3-small", input="x", dimensions=64)
    assert len(small.data[0].embedding) == 64


async def test_openai_tool_call_plain_and_streamed(oai: openai.AsyncOpenAI) -> None:
    whole = await oai.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert whole.choices[0].finish_reason == "tool_calls"
    calls = whole.choices[0].message.tool_calls
    assert calls is not None and calls[0].type == "function"
    assert calls[0].function.name == "get_weather"

    async with oai.chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="required"
    ) as stream:
        final = await stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls
    assert streamed is not None
    assert streamed[0].function.arguments == calls[0].function.arguments
    assert streamed[0].id == calls[0].id


async def test_azure_deployment_urls(mock: RunningMock) -> None:
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=mock.url, api_version="2024-10-21", api_key="azure-key", max_retries=0
    )
    try:
        reply = await client.chat.completions.create(model="my-gpt4o-deployment", messages=MESSAGES)
        assert reply.model == "my-gpt4o-deployment"
        assert reply.choices[0].message.content
        stream = await client.chat.completions.create(
            model="my-gpt4o-deployment", messages=MESSAGES, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == reply.choices[0].message.content
        vectors = await client.embeddings.create(model="my-embedder", input="hello")
        assert len(vectors.data[0].embedding) == 1536
    finally:
        await client.close()
    status, _, body = await post(
        mock.url + "/openai/deployments/d/chat/completions", '{"messages":[]}'
    )
    assert status == 404 and body["error"]["code"] == "404"  # no api-version: what Azure says


# --- Anthropic -------------------------------------------------------------------------------


async def test_messages_plain_and_streamed(claude: anthropic.AsyncAnthropic) -> None:
    whole = await claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=1024, system="Be brief.", messages=MESSAGES
    )
    assert whole.stop_reason == "end_turn" and whole.id.startswith("msg_")
    assert whole.content[0].type == "text" and whole.content[0].text.startswith("Mock reply")
    async with claude.messages.stream(
        model="claude-sonnet-4-6", max_tokens=1024, system="Be brief.", messages=MESSAGES
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == whole.content[0].text
    assert [b.model_dump(exclude={"parsed_output"}) for b in final.content] == [
        b.model_dump() for b in whole.content
    ]
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens
    assert final.stop_reason == "end_turn"
    counted = await claude.messages.count_tokens(
        model="claude-sonnet-4-6", system="Be brief.", messages=MESSAGES
    )
    assert counted.input_tokens == whole.usage.input_tokens


async def test_messages_under_the_anthropic_prefix(mock: RunningMock) -> None:
    client = anthropic.AsyncAnthropic(base_url=mock.url + "/anthropic", api_key="k", max_retries=0)
    try:
        reply = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=3, messages=MESSAGES
        )
        assert reply.stop_reason == "max_tokens" and reply.usage.output_tokens == 3
        models = [m.id async for m in client.models.list()]
        assert models == [m for m in DEFAULT_MODELS if m.startswith("claude")]
    finally:
        await client.close()


async def test_anthropic_tool_use_plain_and_streamed(claude: anthropic.AsyncAnthropic) -> None:
    tools: Any = [
        {
            "name": "get_weather",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        }
    ]
    whole = await claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=512,
        messages=MESSAGES,
        tools=tools,
        tool_choice={"type": "any"},  # without it (and no tool named in the prompt): text
    )
    assert whole.stop_reason == "tool_use"
    block = whole.content[0]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert set(block.input) == {"city", "days"}
    async with claude.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=512,
        messages=MESSAGES,
        tools=tools,
        tool_choice={"type": "any"},  # without it (and no tool named in the prompt): text
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].model_dump() == block.model_dump()
    assert final.stop_reason == "tool_use"


# --- behaviour -------------------------------------------------------------------------------


async def test_error_rate_one_fails_every_request_in_the_wire_shape() -> None:
    async with await start_server(MockBehaviour(error_rate=1.0)) as server:
        oai = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        claude = anthropic.AsyncAnthropic(base_url=server.url, api_key="x", max_retries=0)
        try:
            with pytest.raises(openai.InternalServerError) as oai_error:
                await oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert oai_error.value.status_code == 500
            assert isinstance(oai_error.value.body, dict)
            assert oai_error.value.body["type"] == "server_error"
            with pytest.raises(openai.InternalServerError):
                await oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            with pytest.raises(anthropic.InternalServerError) as claude_error:
                await claude.messages.create(model="claude", max_tokens=9, messages=MESSAGES)
            assert claude_error.value.status_code == 500
            assert claude_error.value.body == {
                "type": "error",
                "error": {"type": "api_error", "message": "Internal server error"},
            }
        finally:
            await oai.close()
            await claude.close()


async def statuses(behaviour: MockBehaviour, count: int) -> list[int]:
    body = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
    async with await start_server(behaviour) as server, aiohttp.ClientSession() as session:
        out = []
        for _ in range(count):
            async with session.post(server.url + "/v1/chat/completions", data=body) as resp:
                await resp.read()
                out.append(resp.status)
        return out


async def test_error_rate_draws_are_seeded_per_app() -> None:
    first = await statuses(MockBehaviour(error_rate=0.5, seed=7), 40)
    second = await statuses(MockBehaviour(error_rate=0.5, seed=7), 40)
    other_seed = await statuses(MockBehaviour(error_rate=0.5, seed=8), 40)
    assert first == second
    assert set(first) == {200, 500}
    assert first != other_seed


async def test_latency_delays_the_response() -> None:
    async with await start_server(MockBehaviour(latency_ms=150)) as server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        try:
            started = time.perf_counter()
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert time.perf_counter() - started >= 0.150
        finally:
            await client.close()


async def test_tokens_per_second_paces_streams_and_whole_replies() -> None:
    async with await start_server(MockBehaviour(tokens_per_second=400)) as server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        try:
            started = time.perf_counter()
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, max_tokens=20, stream=True
            )
            pieces = [c.choices[0].delta.content async for c in stream if c.choices]
            assert time.perf_counter() - started >= 20 / 400
            assert len([p for p in pieces if p]) == 20
            started = time.perf_counter()
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=20)
            assert time.perf_counter() - started >= 20 / 400
        finally:
            await client.close()


async def test_paced_anthropic_stream_and_a_client_that_leaves_early() -> None:
    async with await start_server(MockBehaviour(tokens_per_second=200)) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="x", max_retries=0)
        try:
            started = time.perf_counter()
            async with client.messages.stream(
                model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES
            ) as stream:
                final = await stream.get_final_message()
            assert time.perf_counter() - started >= 10 / 200
            assert final.usage.output_tokens == 10 and final.stop_reason == "max_tokens"
        finally:
            await client.close()
        body = '{"model":"m","stream":true,"messages":[{"role":"user","content":"bye"}]}'
        async with aiohttp.ClientSession() as session:
            resp = await session.post(server.url + "/v1/chat/completions", data=body)
            assert (await resp.content.readline()).startswith(b"data: ")
            resp.close()  # drop the connection mid-stream
            async with session.get(server.url + "/health") as health:
                assert health.status == 200


def test_behaviour_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        MockBehaviour(error_rate=1.5)
    with pytest.raises(ValueError, match="latency_ms"):
        MockBehaviour(latency_ms=-1)
    with pytest.raises(ValueError, match="tokens_per_second"):
        MockBehaviour(tokens_per_second=float("nan"))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings", "/v1/completions"])
async def test_bad_json_is_400_in_openai_shape(mock: RunningMock, path: str) -> None:
    status, content_type, body = await post(mock.url + path, b"{not json")
    assert status == 400 and content_type == "application/json"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", ["/v1/messages", "/anthropic/v1/messages"])
async def test_bad_json_is_400_in_anthropic_shape(mock: RunningMock, path: str) -> None:
    for raw in (b"{not json", b"[1, 2]"):
        status, _, body = await post(mock.url + path, raw)
        assert status == 400
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert body["error"]["message"]


async def test_invalid_bodies_are_400_with_the_reason(mock: RunningMock) -> None:
    status, _, body = await post(
        mock.url + "/v1/messages", '{"model":"claude","messages":[{"role":"user","content":"x"}]}'
    )
    assert status == 400 and "max_tokens" in body["error"]["message"]
    status, _, body = await post(mock.url + "/v1/chat/completions", '{"model":"gpt-4o"}')
    assert status == 400 and body["error"]["param"] == "messages"


async def test_sdk_surfaces_validation_errors(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(model="gpt-4o", messages=[])
    assert caught.value.status_code == 400
    assert caught.value.param == "messages"


async def test_health_and_unknown_routes(mock: RunningMock) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(mock.url + "/health") as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
        async with session.get(mock.url + "/v1/nothing-here") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["type"] == "invalid_request_error"


async def test_close_releases_the_port() -> None:
    server = await start_server(MockBehaviour())
    url = server.url
    assert server.port > 0 and url == f"http://127.0.0.1:{server.port}"
    await server.close()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url + "/health")
