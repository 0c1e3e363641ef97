"""A stored Response told again as a new one (cache hits on /v1/responses): same content, new
ids, every kind of call kept, whole and as a stream the openai SDK accumulates to the same."""

from __future__ import annotations

from typing import Any

from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
from test_responses_codex_tools import chat_answer, check_calls, codex_request

from gateway.core.responses_replay import replay_events
from gateway.core.responses_response import chat_response_to_responses

EVENT = TypeAdapter(ResponseStreamEvent)


def text_answer(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def replayed(stored: dict[str, Any], request: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    events = replay_events(stored, request, response_id="resp_new", created_at=99)
    final = events[-1]["response"]
    return events, final


def test_a_text_answer_is_told_again_with_new_ids() -> None:
    request = {"model": "gpt-x", "input": "hi"}
    stored = chat_response_to_responses(
        text_answer("Rivers run to the sea, and the sea is never full."),
        request,
        response_id="resp_old",
        created_at=1,
    )
    events, final = replayed(stored, request)
    Response.model_validate(final)
    assert final["id"] == "resp_new" and final["created_at"] == 99
    assert final["output"][0]["id"] != stored["output"][0]["id"]
    assert final["output"][0]["content"][0]["text"] == stored["output"][0]["content"][0]["text"]
    assert final["usage"] == stored["usage"]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 1  # streamed in pieces, as a model streams
    assert "".join(deltas) == stored["output"][0]["content"][0]["text"]


def test_every_kind_of_call_survives_a_replay_as_a_stream() -> None:
    request = codex_request()
    stored = chat_response_to_responses(chat_answer(), request, response_id="r", created_at=1)
    events, final = replayed(stored, request)
    check_calls(final["output"])
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        state.handle_event(EVENT.validate_python(event))
    accumulated = state._completed_response
    assert accumulated is not None
    assert [item.type for item in accumulated.output] == [i["type"] for i in stored["output"]]
    assert [sorted(i) for i in final["output"]] == [sorted(i) for i in stored["output"]]
