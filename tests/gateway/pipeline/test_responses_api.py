"""POST /v1/responses and the stored responses, with the official openai SDK, over every kind of
upstream: the in-process mock and an OpenAI-compatible server (translated to chat), an
Anthropic server (translated to Messages), and OpenAI and Azure OpenAI (forwarded natively, the
conversation expanded by the gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from mockllm.server import MockBehaviour, start_server

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway, upstream_config

MODEL = "gpt-4o-mini"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
UPSTREAMS = {
    "mock": None,
    "openai-compatible": "openai-compatible:{url}/v1",
    "anthropic": "anthropic:{url}",
    "openai": "openai:{url}/v1",
    "azure": "azure:{url}",
}


@pytest.fixture(params=list(UPSTREAMS))
async def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    spec = UPSTREAMS[request.param]
    if spec is None:
        async with running_gateway(tmp_path) as gw:
            yield gw
        return
    async with await start_server(MockBehaviour()) as mock:
        config = upstream_config(("up", spec.format(url=mock.url)), model=MODEL)
        if request.param == "azure":
            config["providers"][0]["api_version"] = "2024-10-21"
            config["providers"][0]["api_key_env"] = "AZURE_TEST_KEY"
        async with running_gateway(tmp_path, config, env={"AZURE_TEST_KEY": "azure-secret"}) as gw:
            yield gw


def client(gw: RunningGateway, key: str = ADMIN_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


async def new_key(gw: RunningGateway, name: str, **fields: Any) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            gw.url + "/api/enterprise/vkeys", json={"name": name, **fields}, headers=gw.headers()
        ) as response,
    ):
        assert response.status == 201, await response.text()
        return str((await response.json())["key"])


async def test_plain_answer_is_a_response_object(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        response = await sdk.responses.create(
            model=MODEL, input="Name three rivers in Europe.", instructions="Be brief."
        )
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text
    assert response.instructions == "Be brief."
    assert response.usage is not None
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.store is True


async def test_stream_events_in_order_and_final_text(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        stream = await sdk.responses.create(model=MODEL, input="Tell me a story.", stream=True)
        events = [event async for event in stream]
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == sorted(e.sequence_number for e in events)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response  # type: ignore[union-attr]
    assert deltas and deltas == final.output_text
    assert final.usage is not None and final.usage.output_tokens > 0


async def test_stream_helper_result_is_stored(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        async with sdk.responses.stream(model=MODEL, input="Hello there") as stream:
            final = await stream.get_final_response()
        stored = await sdk.responses.retrieve(final.id)
    assert stored.output_text == final.output_text
    assert stored.status == "completed"


async def test_function_call_then_its_output_over_two_turns(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        first = await sdk.responses.create(
            model=MODEL, input="Use the get_weather tool for Paris.", tools=[WEATHER]
        )
        calls = [item for item in first.output if item.type == "function_call"]
        assert len(calls) == 1 and calls[0].name == "get_weather"
        second = await sdk.responses.create(
            model=MODEL,
            previous_response_id=first.id,
            tools=[WEATHER],
            input=[
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}
            ],
        )
    assert second.previous_response_id == first.id
    assert "sunny" in second.output_text
    assert not [item for item in second.output if item.type == "function_call"]


async def test_streamed_function_call(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        async with sdk.responses.stream(
            model=MODEL, input="hi", tools=[WEATHER], tool_choice="required"
        ) as stream:
            final = await stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather"
    assert isinstance(calls[0].arguments, str) and calls[0].arguments.startswith("{")


async def test_conversation_retrieve_items_and_delete(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        first = await sdk.responses.create(model=MODEL, input="My name is Ada.")
        second = await sdk.responses.create(
            model=MODEL, input="What is my name?", previous_response_id=first.id
        )
        third = await sdk.responses.create(
            model=MODEL,
            input=[{"role": "user", "content": "And again?"}],
            previous_response_id=second.id,
        )
        assert (await sdk.responses.retrieve(third.id)).output_text == third.output_text
        items = await sdk.responses.input_items.list(third.id)
        assert [item.type for item in items.data] == ["message"]
        assert items.data[0].id
        await sdk.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(first.id)


async def test_the_conversation_reaches_the_upstream(tmp_path: Path) -> None:
    """The translated request carries the earlier turns: the mock answers from every message,
    so the same last input gives another answer once there is history before it."""
    async with running_gateway(tmp_path) as gw, client(gw) as sdk:
        alone = await sdk.responses.create(model=MODEL, input="Continue.")
        first = await sdk.responses.create(model=MODEL, input="Once upon a time")
        continued = await sdk.responses.create(
            model=MODEL, input="Continue.", previous_response_id=first.id
        )
    assert continued.output_text != alone.output_text


async def test_unknown_previous_response_is_400(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.responses.create(model=MODEL, input="x", previous_response_id="resp_nope")
    assert raised.value.param == "previous_response_id"  # type: ignore[attr-defined]


async def test_store_false_is_not_kept(gateway: RunningGateway) -> None:
    async with client(gateway) as sdk:
        response = await sdk.responses.create(model=MODEL, input="Forget me", store=False)
        assert response.store is False
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(response.id)
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.create(model=MODEL, input="x", previous_response_id=response.id)


async def test_responses_are_private_to_their_key(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        alice, bob = await new_key(gw, "alice"), await new_key(gw, "bob")
        async with client(gw, alice) as as_alice, client(gw, bob) as as_bob:
            mine = await as_alice.responses.create(model=MODEL, input="secret plans")
            assert (await as_alice.responses.retrieve(mine.id)).id == mine.id
            with pytest.raises(openai.NotFoundError):
                await as_bob.responses.retrieve(mine.id)
            with pytest.raises(openai.NotFoundError):
                await as_bob.responses.input_items.list(mine.id)
            with pytest.raises(openai.NotFoundError):
                await as_bob.responses.delete(mine.id)
            with pytest.raises(openai.BadRequestError):
                await as_bob.responses.create(model=MODEL, input="x", previous_response_id=mine.id)
            assert (await as_alice.responses.retrieve(mine.id)).id == mine.id


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": 42}, "input"),
        ({"model": MODEL, "input": "x", "store": "yes"}, "store"),
        ({"model": MODEL, "input": "x", "background": True}, "background"),
        ({"model": MODEL, "input": "x", "previous_response_id": 7}, "previous_response_id"),
        ({"input": "x"}, "model"),
    ],
)
async def test_bad_requests_are_400_in_openai_shape(
    tmp_path: Path, body: dict[str, Any], param: str
) -> None:
    async with (
        running_gateway(tmp_path) as gw,
        aiohttp.ClientSession() as http,
        http.post(gw.url + "/v1/responses", json=body, headers=gw.headers()) as response,
    ):
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_input_items_paging(tmp_path: Path) -> None:
    turns = [{"role": "user", "content": f"line {i}"} for i in range(5)]
    async with running_gateway(tmp_path) as gw, client(gw) as sdk:
        response = await sdk.responses.create(model=MODEL, input=turns)  # type: ignore[arg-type]
        newest_first = await sdk.responses.input_items.list(response.id, limit=2)
        oldest_first = await sdk.responses.input_items.list(response.id, order="asc")
        everything = [item async for item in sdk.responses.input_items.list(response.id, limit=2)]
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.input_items.list(response.id, limit=1000)
    texts = [item.content[0].text for item in oldest_first.data]  # type: ignore[union-attr]
    assert texts == [f"line {i}" for i in range(5)]
    assert newest_first.has_more is True and len(newest_first.data) == 2
    assert newest_first.data[0].id == oldest_first.data[-1].id
    assert len(everything) == 5


async def test_usage_is_audited_under_the_responses_route(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        key = await new_key(gw, "audited")
        async with client(gw, key) as sdk:
            response = await sdk.responses.create(model=MODEL, input="Count my tokens")
        assert response.usage is not None
        async with aiohttp.ClientSession() as http:
            for _ in range(50):
                async with http.get(
                    gw.url + "/api/audit?route=responses", headers=gw.headers()
                ) as listing:
                    records = (await listing.json())["records"]
                if records:
                    break
                await asyncio.sleep(0.1)
            async with http.get(gw.url + "/metrics") as metrics:
                exposition = await metrics.text()
    assert records, "no audit record for the responses route"
    record = records[0]
    assert record["prompt_tokens"] == response.usage.input_tokens
    assert record["completion_tokens"] == response.usage.output_tokens
    assert 'route="responses"' in exposition


async def test_a_repeated_request_is_a_cache_hit_with_its_own_id(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw, client(gw) as sdk:
        first = await sdk.responses.with_raw_response.create(model=MODEL, input="Cache me")
        second = await sdk.responses.with_raw_response.create(model=MODEL, input="Cache me")
        async with sdk.responses.stream(model=MODEL, input="Cache me") as stream:
            streamed = await stream.get_final_response()
        one, two = first.parse(), second.parse()
        assert first.headers["x-smartflow-cache"] == "miss"
        assert second.headers["x-smartflow-cache"] == "hit-exact"
        assert two.id != one.id and streamed.id not in (one.id, two.id)
        assert two.output_text == one.output_text == streamed.output_text
        assert two.output[0].id != one.output[0].id
        # a hit is a response like any other: stored, and a conversation can continue from it
        assert (await sdk.responses.retrieve(two.id)).output_text == one.output_text
        follow = await sdk.responses.create(
            model=MODEL, input="Go on", previous_response_id=streamed.id
        )
    assert follow.output_text


async def test_the_cache_keys_the_whole_conversation(tmp_path: Path) -> None:
    """The same last input after different earlier turns is a different request."""
    async with running_gateway(tmp_path) as gw, client(gw) as sdk:
        a = await sdk.responses.create(model=MODEL, input="We talk about rivers.")
        b = await sdk.responses.create(model=MODEL, input="We talk about mountains.")
        after_a = await sdk.responses.with_raw_response.create(
            model=MODEL, input="Tell me more.", previous_response_id=a.id
        )
        after_b = await sdk.responses.with_raw_response.create(
            model=MODEL, input="Tell me more.", previous_response_id=b.id
        )
        again_a = await sdk.responses.with_raw_response.create(
            model=MODEL, input="Tell me more.", previous_response_id=a.id
        )
    assert after_a.headers["x-smartflow-cache"] == "miss"
    assert after_b.headers["x-smartflow-cache"] == "miss"
    assert again_a.headers["x-smartflow-cache"] == "hit-exact"
    assert again_a.parse().output_text == after_a.parse().output_text


async def test_retention_zero_keeps_nothing(tmp_path: Path) -> None:
    env = {"SMARTFLOW_RESPONSES_RETENTION_DAYS": "0"}
    async with running_gateway(tmp_path, env=env) as gw, client(gw) as sdk:
        response = await sdk.responses.create(model=MODEL, input="Not kept")
        assert response.store is False
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(response.id)
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.create(model=MODEL, input="x", previous_response_id=response.id)
