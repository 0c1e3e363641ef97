"""The mock's Responses API (`/v1/responses`) over loopback HTTP, checked with the openai SDK.

Every body and every streamed event is validated by the SDK's own pydantic models, and the event
order is OpenAI's; the words are the chat endpoint's for the same conversation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from mockllm import responses_content
from mockllm.server import MockBehaviour, RunningMock, start_server

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
PROMPT = "Say something nice about Tuesdays."
INSTRUCTIONS = "You are terse."
EVENT = pydantic.TypeAdapter[Any](ResponseStreamEvent)
TEXT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
CALL_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture
async def mock() -> AsyncIterator[RunningMock]:
    async with await start_server(MockBehaviour()) as server:
        yield server


@pytest.fixture
async def oai(mock: RunningMock) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0)
    yield client
    await client.close()


async def post(url: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with aiohttp.ClientSession() as session, session.post(url, data=data) as resp:
        return resp.status, await resp.json(content_type=None)


async def raw_events(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events as sent, each checked against its `event:` line and the SDK's model."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=orjson.dumps({**body, "stream": True})) as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        raw = (await resp.read()).decode()
    events = []
    for frame in raw.split("\n\n"):
        if not frame:
            continue
        name, data = frame.split("\n")
        event = orjson.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        EVENT.validate_python(event)
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def collapse(types: list[str]) -> list[str]:
    """Event types with runs of the same delta event counted once."""
    return [t for i, t in enumerate(types) if i == 0 or t != types[i - 1] or "delta" not in t]


# --- text ------------------------------------------------------------------------------------


async def test_a_plain_response_is_shaped_as_openai_shapes_it(mock: RunningMock) -> None:
    body = {
        "model": "gpt-4.1",
        "input": PROMPT,
        "instructions": INSTRUCTIONS,
        "metadata": {"team": "blue"},
        "temperature": 0.5,
    }
    status, payload = await post(mock.url + "/v1/responses", body)
    assert status == 200
    response = Response.model_validate(payload)
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.model == "gpt-4.1"
    assert response.output_text.startswith("Mock reply")
    [item] = payload["output"]
    assert item["type"] == "message" and item["role"] == "assistant"
    assert item["id"].startswith("msg_") and item["status"] == "completed"
    assert item["content"][0]["type"] == "output_text"
    usage = payload["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    # the request's settings come back, with OpenAI's defaults for the rest
    assert payload["instructions"] == INSTRUCTIONS and payload["metadata"] == {"team": "blue"}
    assert payload["temperature"] == 0.5 and payload["top_p"] == 1.0
    assert payload["store"] is True and payload["previous_response_id"] is None
    assert payload["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    assert payload["tool_choice"] == "auto" and payload["tools"] == []
    assert payload["completed_at"] == payload["created_at"]


async def test_the_words_are_the_chat_endpoints_for_the_same_conversation(
    oai: openai.AsyncOpenAI,
) -> None:
    response = await oai.responses.create(
        model="gpt-4.1", input=PROMPT, instructions=INSTRUCTIONS, store=False
    )
    chat = await oai.chat.completions.create(
        model="gpt-4.1",
        messages=[
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": PROMPT},
        ],
    )
    assert response.output_text == chat.choices[0].message.content
    assert response.to_dict()["store"] is False
    assert response.usage is not None and chat.usage is not None
    assert response.usage.input_tokens == chat.usage.prompt_tokens
    assert response.usage.output_tokens == chat.usage.completion_tokens


async def test_one_prompt_twice_gets_two_response_ids(oai: openai.AsyncOpenAI) -> None:
    first = await oai.responses.create(model="gpt-4.1", input=PROMPT)
    second = await oai.responses.create(model="gpt-4.1", input=PROMPT)
    assert first.output_text == second.output_text
    assert first.id != second.id
    assert first.output[0].id != second.output[0].id


async def test_a_stream_sends_openais_events_in_openais_order(
    mock: RunningMock, oai: openai.AsyncOpenAI
) -> None:
    body: dict[str, Any] = {"model": "gpt-4.1", "input": PROMPT, "instructions": INSTRUCTIONS}
    whole = await oai.responses.create(**body)
    events = await raw_events(mock.url + "/v1/responses", body)

    assert collapse([e["type"] for e in events]) == TEXT_ORDER
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == whole.output_text
    created, in_progress = events[0]["response"], events[1]["response"]
    assert created["status"] == in_progress["status"] == "in_progress"
    assert created["output"] == [] and created["usage"] is None
    added = events[2]["item"]
    assert added["status"] == "in_progress" and added["content"] == []
    assert events[-4]["text"] == whole.output_text  # output_text.done
    final = Response.model_validate(events[-1]["response"])
    assert final.status == "completed" and final.output_text == whole.output_text
    assert final.usage == whole.usage
    assert final.output[0].id == events[2]["item"]["id"] == events[-2]["item"]["id"]


async def test_the_sdk_stream_helpers_agree_with_the_whole_response(
    oai: openai.AsyncOpenAI,
) -> None:
    whole = await oai.responses.create(model="gpt-4o", input=PROMPT)
    stream = await oai.responses.create(model="gpt-4o", input=PROMPT, stream=True)
    types: list[str] = [event.type async for event in stream]
    assert collapse(types) == TEXT_ORDER

    async with oai.responses.stream(model="gpt-4o", input=PROMPT) as helper:
        pieces = [e.delta async for e in helper if e.type == "response.output_text.delta"]
        final = await helper.get_final_response()
    assert "".join(pieces) == final.output_text == whole.output_text


async def test_input_items_with_parts_read_like_a_string(oai: openai.AsyncOpenAI) -> None:
    as_string = await oai.responses.create(model="gpt-4.1", input=PROMPT)
    as_items = await oai.responses.create(
        model="gpt-4.1",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}
        ],
    )
    assert as_items.output_text == as_string.output_text


# --- tools -----------------------------------------------------------------------------------


async def test_a_forced_call_then_its_output_gives_text(oai: openai.AsyncOpenAI) -> None:
    ask: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    call = await oai.responses.create(
        model="gpt-4.1",
        input=ask,
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    [item] = call.output
    assert item.type == "function_call" and item.name == "get_weather"
    assert item.id is not None and item.id.startswith("fc_")
    assert item.call_id.startswith("call_") and item.status == "completed"
    arguments = orjson.loads(item.arguments)
    assert set(arguments) == {"city", "unit"} and arguments["unit"] == "c"
    echoed: Any = call.to_dict()
    assert echoed["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert echoed["tools"][0]["name"] == "get_weather" and echoed["tools"][0]["strict"] is True

    conversation: Any = [
        *ask,
        item.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": item.call_id, "output": "18C and sunny"},
    ]
    answer = await oai.responses.create(
        model="gpt-4.1",
        input=conversation,
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    assert answer.output[0].type == "message"
    assert "the get_weather tool returned 18C and sunny." in answer.output_text


async def test_a_streamed_call_sends_argument_deltas(
    mock: RunningMock, oai: openai.AsyncOpenAI
) -> None:
    body: dict[str, Any] = {
        "model": "gpt-4.1",
        "input": PROMPT,
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    whole = await oai.responses.create(**body)
    events = await raw_events(mock.url + "/v1/responses", body)
    assert collapse([e["type"] for e in events]) == CALL_ORDER
    added = events[2]["item"]
    assert added["type"] == "function_call" and added["arguments"] == ""
    assert added["status"] == "in_progress"
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    [call] = whole.output
    assert call.type == "function_call"
    assert "".join(deltas) == events[-3]["arguments"] == call.arguments
    assert events[-2]["item"]["call_id"] == call.call_id
    Response.model_validate(events[-1]["response"])


async def test_a_tool_is_called_when_the_user_asks_for_it_by_name(
    oai: openai.AsyncOpenAI,
) -> None:
    asked = await oai.responses.create(
        model="gpt-4.1", input="Please use get_weather for Oslo.", tools=[WEATHER]
    )
    assert asked.output[0].type == "function_call"
    not_asked = await oai.responses.create(model="gpt-4.1", input=PROMPT, tools=[WEATHER])
    assert not_asked.output[0].type == "message"
    refused = await oai.responses.create(
        model="gpt-4.1", input="Please use get_weather.", tools=[WEATHER], tool_choice="none"
    )
    assert refused.output[0].type == "message"


async def test_hosted_tools_are_echoed_and_never_called(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.responses.create(
        model="gpt-4.1",
        input="Use web_search for the news.",
        tools=[{"type": "web_search_preview"}],
    )
    assert reply.output[0].type == "message"
    assert reply.tools[0].type == "web_search_preview"


# --- output format and limits ----------------------------------------------------------------


async def test_a_json_schema_format_gives_json_that_fits(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.responses.create(
        model="gpt-4.1",
        input="Describe a city.",
        text={
            "format": {
                "type": "json_schema",
                "name": "city",
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
                    "required": ["name", "population"],
                },
            }
        },
    )
    value = orjson.loads(reply.output_text)
    assert isinstance(value["name"], str) and isinstance(value["population"], int)
    assert reply.text is not None and reply.text.format is not None
    assert reply.text.format.type == "json_schema"


def long_prompt() -> str:
    """A prompt whose natural reply is longer than 16 tokens (replies are 8 to 48)."""
    for i in range(100):
        prompt = f"Tell me about day {i}."
        body = {"model": "gpt-4.1", "input": prompt}
        if responses_content.response(body, created=0)["usage"]["output_tokens"] > 16:
            return prompt
    raise AssertionError("no prompt with a long reply")


async def test_max_output_tokens_makes_the_response_incomplete(mock: RunningMock) -> None:
    body = {"model": "gpt-4.1", "input": long_prompt(), "max_output_tokens": 16}
    status, payload = await post(mock.url + "/v1/responses", body)
    assert status == 200
    response = Response.model_validate(payload)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert payload["output"][0]["status"] == "incomplete" and response.completed_at is None
    assert payload["usage"]["output_tokens"] == 16

    events = await raw_events(mock.url + "/v1/responses", body)
    assert events[-1]["type"] == "response.incomplete"
    [streamed] = events[-1]["response"]["output"]
    assert streamed["status"] == "incomplete"
    assert streamed["content"] == payload["output"][0]["content"]
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stream_frames_mark_the_deltas_for_pacing() -> None:
    body = {"model": "gpt-4.1", "input": PROMPT}
    plan = responses_content.response_stream_frames(body, created=1_700_000_000)
    tokens = plan.frames[plan.first_token : plan.first_token + plan.token_count]
    assert plan.token_count > 1
    assert all(f.startswith(b"event: response.output_text.delta\n") for f in tokens)
    assert not plan.frames[plan.first_token - 1].startswith(b"event: response.output_text.delta")
    after = plan.frames[plan.first_token + plan.token_count]
    assert after.startswith(b"event: response.output_text.done\n")


# --- what the mock refuses -------------------------------------------------------------------


async def test_previous_response_id_is_refused(oai: openai.AsyncOpenAI) -> None:
    first = await oai.responses.create(model="gpt-4.1", input=PROMPT)
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.responses.create(
            model="gpt-4.1", input="And Wednesdays?", previous_response_id=first.id
        )
    assert caught.value.status_code == 400
    assert caught.value.param == "previous_response_id"
    assert first.id in caught.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": PROMPT}, "model"),
        ({"model": "gpt-4.1"}, "input"),
        ({"model": "gpt-4.1", "input": []}, "input"),
        ({"model": "gpt-4.1", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "gpt-4.1", "input": [{"type": "image_generation_call"}]}, "input[0].type"),
        ({"model": "gpt-4.1", "input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        (
            {
                "model": "gpt-4.1",
                "input": [{"type": "function_call_output", "call_id": "call_1", "output": "x"}],
            },
            "input",
        ),
        (
            {
                "model": "gpt-4.1",
                "input": [
                    {"role": "user", "content": "x"},
                    {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                ],
            },
            "input",
        ),
        ({"model": "gpt-4.1", "input": "x", "max_output_tokens": 5}, "max_output_tokens"),
        ({"model": "gpt-4.1", "input": "x", "temperature": 3}, "temperature"),
        ({"model": "gpt-4.1", "input": "x", "instructions": ["x"]}, "instructions"),
        ({"model": "gpt-4.1", "input": "x", "conversation": "conv_1"}, "conversation"),
        ({"model": "gpt-4.1", "input": "x", "background": True}, "background"),
        (
            {"model": "gpt-4.1", "input": "x", "tools": [WEATHER], "tool_choice": "any"},
            "tool_choice",
        ),
        (
            {
                "model": "gpt-4.1",
                "input": "x",
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "name": "nope"},
            },
            "tool_choice",
        ),
        (
            {"model": "gpt-4.1", "input": "x", "text": {"format": {"type": "xml"}}},
            "text.format.type",
        ),
        (
            {"model": "gpt-4.1", "input": "x", "text": {"format": {"type": "json_schema"}}},
            "text.format.name",
        ),
        ({"model": "gpt-4.1", "input": "x", "stream": "yes"}, "stream"),
    ],
)
async def test_bad_requests_are_400_in_openais_shape(
    mock: RunningMock, body: dict[str, Any], param: str
) -> None:
    status, payload = await post(mock.url + "/v1/responses", body)
    assert status == 400
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["param"] == param and payload["error"]["message"]


async def test_bad_json_is_400(mock: RunningMock) -> None:
    status, payload = await post(mock.url + "/v1/responses", b"{not json")
    assert status == 400 and payload["error"]["type"] == "invalid_request_error"


# --- Azure and behaviour knobs ---------------------------------------------------------------


async def test_azure_serves_responses_on_the_v1_route_and_the_resource_route(
    mock: RunningMock,
) -> None:
    v1 = openai.AsyncOpenAI(base_url=mock.url + "/openai/v1", api_key="azure-key", max_retries=0)
    try:
        reply = await v1.responses.create(model="my-gpt41-deployment", input=PROMPT)
    finally:
        await v1.close()
    assert reply.model == "my-gpt41-deployment" and reply.output_text

    body = {"model": "my-gpt41-deployment", "input": PROMPT}
    status, payload = await post(
        mock.url + "/openai/responses?api-version=2025-04-01-preview", body
    )
    assert status == 200
    assert Response.model_validate(payload).output_text == reply.output_text
    status, payload = await post(mock.url + "/openai/responses", body)
    assert status == 404 and payload["error"]["code"] == "404"  # no api-version: what Azure says


async def test_error_rate_one_fails_responses_in_openais_shape() -> None:
    async with await start_server(MockBehaviour(error_rate=1.0)) as server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        try:
            for stream in (False, True):
                with pytest.raises(openai.InternalServerError) as caught:
                    await client.responses.create(model="gpt-4.1", input=PROMPT, stream=stream)
                assert caught.value.status_code == 500
                assert isinstance(caught.value.body, dict)
                assert caught.value.body["type"] == "server_error"
        finally:
            await client.close()
