"""/v1/responses as applications use it: the official `openai` SDK's `responses` resource and the
OpenAI Agents SDK, against `sfctl up` (one process, the built-in deterministic mock provider, so
requests take the translation path to Chat Completions). The mock calls a tool only when told to
(tool_choice) or when the last user turn asks for it by name ("use the get_weather tool"), and
answers a tool result with text, so every agent loop here ends after one round of tools."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import openai
import pytest
from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai.types.responses import (
    FunctionToolParam,
    Response,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
)

from support.responses_up import ResponsesGateway, responses_gateway

pytestmark = pytest.mark.e2e

MODEL = "gpt-4o-mini"
WEATHER_TOOL: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResponsesGateway]:
    set_tracing_disabled(True)  # the Agents SDK would export traces to OpenAI
    with responses_gateway(tmp_path_factory.mktemp("responses-clients") / "state") as running:
        yield running


def client_for(gateway: ResponsesGateway, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key or gateway.key, max_retries=0)


@pytest.fixture
def client(gateway: ResponsesGateway) -> Iterator[openai.OpenAI]:
    with client_for(gateway) as sdk:
        yield sdk


def function_calls(response: Response) -> list[ResponseFunctionToolCall]:
    return [item for item in response.output if isinstance(item, ResponseFunctionToolCall)]


def assert_text_reply(response: Response) -> None:
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.output_text.strip()
    assert not function_calls(response)
    messages = [item for item in response.output if isinstance(item, ResponseOutputMessage)]
    assert [m.role for m in messages] == ["assistant"]


def assert_before(types: Sequence[str], first: str, then: str) -> None:
    """Every `first` event comes before every `then` event."""
    assert first in types and then in types, types
    assert max(i for i, t in enumerate(types) if t == first) < types.index(then), types


# --- one request -------------------------------------------------------------------------------


def test_create_returns_a_completed_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Describe a lighthouse in one line.")
    assert_text_reply(response)
    assert response.object == "response"
    assert response.model.startswith(MODEL)
    assert response.previous_response_id is None
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.created_at > 0


def test_stream_events_arrive_in_order(client: openai.OpenAI) -> None:
    with client.responses.create(
        model=MODEL, input="Tell me about tide pools.", stream=True
    ) as stream:
        events = list(stream)
    types = [event.type for event in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert types.count("response.completed") == 1
    for first, then in [
        ("response.created", "response.output_item.added"),
        ("response.output_item.added", "response.content_part.added"),
        ("response.content_part.added", "response.output_text.delta"),
        ("response.output_text.delta", "response.output_text.done"),
        ("response.output_text.done", "response.content_part.done"),
        ("response.content_part.done", "response.output_item.done"),
        ("response.output_item.done", "response.completed"),
    ]:
        assert_before(types, first, then)
    numbers = [event.sequence_number for event in events]
    assert numbers == sorted(set(numbers))  # strictly increasing

    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = [e.text for e in events if e.type == "response.output_text.done"]
    completed = events[-1]
    assert completed.type == "response.completed"
    final = completed.response
    assert deltas and done == [deltas]
    assert final.status == "completed"
    assert final.output_text == deltas
    assert final.usage is not None and final.usage.output_tokens > 0
    created = events[0]
    assert created.type == "response.created"
    assert created.response.id == final.id and final.id.startswith("resp_")
    assert created.response.status in ("in_progress", "queued")
    # what was streamed is what is stored
    assert client.responses.retrieve(final.id).model_dump() == final.model_dump()


def test_stream_helper_builds_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="Name a constellation.") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert_text_reply(final)
    assert final.output_text == deltas


# --- function calling --------------------------------------------------------------------------


def test_function_call_then_its_output_over_two_turns(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model=MODEL, input="Use the get_weather tool for Paris", tools=[WEATHER_TOOL]
    )
    assert first.status == "completed"
    [call] = function_calls(first)
    assert call.name == "get_weather"
    assert call.call_id
    arguments = json.loads(call.arguments)
    assert isinstance(arguments, dict) and isinstance(arguments["city"], str)

    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21C, sunny"}],
        tools=[WEATHER_TOOL],
    )
    assert_text_reply(second)
    assert second.previous_response_id == first.id
    items = client.responses.input_items.list(second.id).data
    assert [item.type for item in items] == ["function_call_output"]


def test_streamed_function_call(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model=MODEL, input="call get_weather for Oslo please", tools=[WEATHER_TOOL]
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert_before(types, "response.output_item.added", "response.function_call_arguments.done")
    assert_before(types, "response.function_call_arguments.done", "response.completed")
    [call] = function_calls(final)
    assert call.name == "get_weather"
    assert isinstance(json.loads(call.arguments)["city"], str)


def test_tool_choice_forces_or_forbids_a_call(client: openai.OpenAI) -> None:
    forced = client.responses.create(
        model=MODEL,
        input="How is it outside?",
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    assert [c.name for c in function_calls(forced)] == ["get_weather"]
    forbidden = client.responses.create(
        model=MODEL,
        input="Use the get_weather tool for Rome",
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert_text_reply(forbidden)


# --- stored responses --------------------------------------------------------------------------


def test_conversation_retrieve_input_items_and_delete(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="My name is Ada. Remember it.")
    second = client.responses.create(
        model=MODEL, previous_response_id=first.id, input="What did I say my name was?"
    )
    third = client.responses.create(
        model=MODEL, previous_response_id=second.id, input="Spell it backwards."
    )
    lone = client.responses.create(model=MODEL, input="Spell it backwards.")
    for response in (first, second, third, lone):
        assert_text_reply(response)
    assert len({first.id, second.id, third.id, lone.id}) == 4
    assert (second.previous_response_id, third.previous_response_id) == (first.id, second.id)
    # the whole conversation went upstream: the same input costs more tokens after two turns
    assert third.usage is not None and lone.usage is not None
    assert third.usage.input_tokens > lone.usage.input_tokens

    for response in (first, second, third):
        assert client.responses.retrieve(response.id).model_dump() == response.model_dump()

    items = client.responses.input_items.list(second.id).data  # this request's input only
    assert [(item.type, getattr(item, "role", None)) for item in items] == [("message", "user")]
    assert items[0].id
    assert items[0].model_dump()["content"][0]["text"] == "What did I say my name was?"

    client.responses.delete(third.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(third.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(third.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(third.id)
    assert client.responses.retrieve(second.id).id == second.id  # the rest of the chain stays


def test_input_items_pages_in_both_orders(client: openai.OpenAI) -> None:
    said = ["first line", "second line", "third line"]
    response = client.responses.create(
        model=MODEL, input=[{"role": "user", "content": text} for text in said]
    )

    def texts(order: Any) -> list[str]:
        # limit=1: the SDK follows `after` from page to page
        pages = client.responses.input_items.list(response.id, order=order, limit=1)
        return [item.model_dump()["content"][0]["text"] for item in pages]

    assert texts("asc") == said
    assert texts("desc") == said[::-1]


def test_responses_are_private_to_their_key(gateway: ResponsesGateway) -> None:
    with client_for(gateway) as owner, client_for(gateway, gateway.other_key) as other:
        mine = owner.responses.create(model=MODEL, input="A secret about the moon.")
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.input_items.list(mine.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(mine.id)
        with pytest.raises(openai.APIStatusError) as continued:
            other.responses.create(model=MODEL, previous_response_id=mine.id, input="And then?")
        assert continued.value.status_code in (400, 404)
        assert owner.responses.retrieve(mine.id).output_text == mine.output_text


def test_unknown_previous_response_id_is_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(
            model=MODEL, previous_response_id="resp_0000000000000000", input="Continue."
        )
    assert error.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_0000000000000000")


def test_store_false_is_neither_retrievable_nor_continuable(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Forget this afterwards.", store=False)
    assert_text_reply(response)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model=MODEL, previous_response_id=response.id, input="And?")
    assert error.value.param == "previous_response_id"


# --- request options and bad requests ----------------------------------------------------------


def test_instructions_and_json_schema_output(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model=MODEL,
        instructions="You answer with data only.",
        input="The largest city in Japan.",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )
    assert response.status == "completed"
    assert response.instructions == "You answer with data only."
    answer = json.loads(response.output_text)
    assert isinstance(answer["city"], str) and isinstance(answer["population"], int)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": 42}, "input"),
        ({"model": MODEL, "input": "hi", "previous_response_id": 7}, "previous_response_id"),
        ({"model": MODEL, "input": "hi", "store": "yes"}, "store"),
    ],
    ids=["input-missing", "input-a-number", "previous-id-a-number", "store-a-string"],
)
def test_bad_requests_are_400s(client: openai.OpenAI, body: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.post("/responses", cast_to=Response, body=body)
    assert error.value.status_code == 400
    assert error.value.param == param


def test_malformed_bodies_are_400s(gateway: ResponsesGateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}", "content-type": "application/json"}
    for content in [b"{not json", b"[]", b'{"model": "gpt-4o-mini", "input": [42]}']:
        reply = httpx.post(gateway.url + "/v1/responses", content=content, headers=headers)
        assert reply.status_code == 400, (content, reply.text)
        assert reply.json()["error"]["message"]


def test_responses_need_a_key(gateway: ResponsesGateway) -> None:
    with client_for(gateway, "sk-sf-not-a-key") as stranger:
        with pytest.raises(openai.AuthenticationError):
            stranger.responses.create(model=MODEL, input="hello")
        with pytest.raises(openai.AuthenticationError):
            stranger.responses.retrieve("resp_0000000000000000")


# --- the OpenAI Agents SDK ---------------------------------------------------------------------


def weather_agent(
    model: OpenAIResponsesModel | OpenAIChatCompletionsModel,
) -> tuple[Agent[Any], list[str]]:
    """An agent with one tool; the list records the cities the tool was called with."""
    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        asked.append(city)
        return f"It is 21C and sunny in {city}."

    agent = Agent(
        name="weather",
        instructions="Answer questions about the weather with the get_weather tool.",
        tools=[get_weather],
        model=model,
    )
    return agent, asked


async def test_agent_runs_a_tool_over_the_responses_api(gateway: ResponsesGateway) -> None:
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key=gateway.key, max_retries=0
    ) as client:
        agent, asked = weather_agent(OpenAIResponsesModel(model=MODEL, openai_client=client))
        result = await Runner.run(agent, "Use the get_weather tool for Lisbon", max_turns=4)
    assert len(asked) == 1 and asked[0]
    assert isinstance(result.final_output, str) and result.final_output.strip()
    assert len(result.raw_responses) == 2  # the call, then the answer to its result
    assert all(r.response_id and r.response_id.startswith("resp_") for r in result.raw_responses)


async def test_agent_chains_turns_by_previous_response_id(gateway: ResponsesGateway) -> None:
    """auto_previous_response_id: the SDK sends only the new items and the gateway supplies the
    rest of the conversation from its store."""
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key=gateway.key, max_retries=0
    ) as client:
        agent, asked = weather_agent(OpenAIResponsesModel(model=MODEL, openai_client=client))
        result = await Runner.run(
            agent,
            "Use the get_weather tool for Bergen",
            max_turns=4,
            auto_previous_response_id=True,
        )
        assert len(asked) == 1
        assert isinstance(result.final_output, str) and result.final_output.strip()
        assert len(result.raw_responses) == 2
        first_id, last_id = (r.response_id for r in result.raw_responses)
        assert first_id and last_id
        last = await client.responses.retrieve(last_id)
        assert last.previous_response_id == first_id


async def test_agent_streams_over_the_responses_api(gateway: ResponsesGateway) -> None:
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key=gateway.key, max_retries=0
    ) as client:
        agent, asked = weather_agent(OpenAIResponsesModel(model=MODEL, openai_client=client))
        run = Runner.run_streamed(agent, "Use the get_weather tool for Quito", max_turns=4)
        kinds = [event.type async for event in run.stream_events()]
    assert len(asked) == 1
    assert "raw_response_event" in kinds
    assert isinstance(run.final_output, str) and run.final_output.strip()
    assert len(run.raw_responses) == 2


async def test_agent_runs_a_tool_over_chat_completions(gateway: ResponsesGateway) -> None:
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key=gateway.key, max_retries=0
    ) as client:
        agent, asked = weather_agent(OpenAIChatCompletionsModel(model=MODEL, openai_client=client))
        result = await Runner.run(agent, "Use the get_weather tool for Nairobi", max_turns=4)
    assert len(asked) == 1 and asked[0]
    assert isinstance(result.final_output, str) and result.final_output.strip()
    assert len(result.raw_responses) == 2
