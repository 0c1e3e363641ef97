"""Guardrails on a streamed /v1/responses answer: Responses API events, not chat chunks.

The event streams are the gateway's own translation of a chat upstream (`ChatToResponsesStream`,
the events OpenAI's API sends, in its order), fed to the stream check of a request the running
gateway's policies bind. Chunked: text, refusals and function call arguments are read from their
deltas; a stream carrying a secret is stopped before a byte of the secret is released (the relay
then ends it with the OpenAI wire's error frame, which the openai SDK raises). Buffered with a
redact rule: every delta, `.done` event and the `response.completed` Response carry the
redacted text, arguments stay valid JSON, and the SDK's own accumulator reads the redacted answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.core.errors import PolicyViolation
from gateway.core.responses_stream import ChatToResponsesStream, encode_response_event
from gateway.core.sse import SSEParser
from gateway.pipeline import guard_stage, guard_stream
from gateway.pipeline.context import RequestContext
from gateway.pipeline.guard_stream import StreamCheck

from support.gateway import RunningGateway
from support.guard_e2e import AWS_KEY, CARD, guarded_gateway, policy, rule
from support.scripted_upstream import MODEL, ScriptedUpstream

EVENT = TypeAdapter(ResponseStreamEvent)
REQUEST: dict[str, Any] = {"model": MODEL, "input": "What is on file?", "stream": True}
NO_KEYS_OUT = policy(
    "no-keys-out",
    rule(
        "block",
        "direction == 'response' && findings.has('aws_access_key')",
        {"type": "deny", "message": "the answer held a credential"},
    ),
)
MASK_CARDS = policy(
    "mask-cards-out",
    rule("cards", "direction == 'response'", {"type": "redact", "types": ["payment_card"]}),
    stream="buffer",
)
LEAD = "Here is the configuration you asked for, with every setting explained in turn. " * 4
SECRET_LINE = f"aws_access_key_id = {AWS_KEY}\n"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-guard",
        "object": "chat.completion.chunk",
        "created": 1750000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def responses_stream(text: str, arguments: str | None = None) -> list[bytes]:
    """The SSE frames of a Responses stream answering `text` (then a call with `arguments`)."""
    translate = ChatToResponsesStream(
        REQUEST, model=MODEL, response_id="resp_guard0001", created_at=1750000000
    )
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": piece}) for piece in _pieces(text)]
    if arguments is not None:
        call = {"index": 0, "id": "call_1", "type": "function"}
        chunks.append(_chunk({"tool_calls": [{**call, "function": {"name": "pay"}}]}))
        chunks += [
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in _pieces(arguments)
        ]
    chunks.append(_chunk({}, finish="tool_calls" if arguments is not None else "stop"))
    chunks.append(
        {**_chunk({}), "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 40}}
    )
    events = [event for chunk in chunks for event in translate.feed(chunk)]
    events += translate.finish()
    return [encode_response_event(event) for event in events]


def events_of(raw: bytes) -> list[dict[str, Any]]:
    """The events in SSE bytes, each checked against the openai SDK's event models."""
    parser = SSEParser()
    events = []
    for sse in [*parser.feed(raw), *parser.flush()]:
        event = orjson.loads(sse.data)
        assert sse.event == event["type"]  # the `event:` line names the type, as OpenAI sends it
        EVENT.validate_python(event)
        events.append(event)
    return events


async def _check(gw: RunningGateway) -> StreamCheck:
    """The stream check of a streamed /v1/responses request the gateway's policies bind."""
    ctx = RequestContext(
        request_id="req_responses_guard", route="responses", wire="openai", client_ip=None
    )
    ctx.model = MODEL
    ctx.stream = True
    guard = await guard_stage.open_guard(ctx, gw.state, dict(REQUEST), "responses")
    assert guard is not None and guard.enforcing and guard.route == "responses"
    check = guard_stream.stream_check(ctx, gw.state)
    assert check is not None
    return check


async def _relay(check: StreamCheck, frames: list[bytes]) -> tuple[bytes, PolicyViolation | None]:
    """What the client is sent, frame by frame as the upstream yields them, and the violation
    that stopped the stream, if one did."""
    sent = b""
    try:
        for frame in frames:
            sent += await check.feed(frame)
        sent += await check.finish()
    except PolicyViolation as exc:
        return sent, exc
    return sent, None


async def test_a_secret_in_output_text_stops_the_stream_before_it(tmp_path: Path) -> None:
    frames = responses_stream(LEAD + SECRET_LINE + "More text after.")
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_KEYS_OUT]) as gw:
        sent, stopped = await _relay(await _check(gw), frames)
    assert stopped is not None and "credential" in stopped.message
    assert AWS_KEY[:8].encode() not in sent
    events = events_of(sent)
    assert events[0]["type"] == "response.created"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text and LEAD.startswith(text)  # only text that passed reached the client
    assert "response.completed" not in [e["type"] for e in events]


async def test_a_secret_in_function_call_arguments_stops_the_stream(tmp_path: Path) -> None:
    arguments = orjson.dumps({"note": LEAD, "key": AWS_KEY, "more": "x" * 300}).decode()
    frames = responses_stream("Calling the tool.", arguments)
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_KEYS_OUT]) as gw:
        sent, stopped = await _relay(await _check(gw), frames)
    assert stopped is not None
    assert AWS_KEY[:8].encode() not in sent
    sent_arguments = "".join(
        e["delta"] for e in events_of(sent) if e["type"] == "response.function_call_arguments.delta"
    )
    assert arguments.startswith(sent_arguments)


async def test_a_clean_stream_passes_byte_for_byte(tmp_path: Path) -> None:
    frames = responses_stream(LEAD + "Nothing secret here.", '{"city": "Paris"}')
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_KEYS_OUT]) as gw:
        sent, stopped = await _relay(await _check(gw), frames)
    assert stopped is None
    assert sent == b"".join(frames)


async def test_a_held_stream_is_redacted_in_every_event(tmp_path: Path) -> None:
    text = f"The card on file is {CARD}, expiring soon."
    arguments = orjson.dumps({"card": CARD, "amount": 12}).decode()
    frames = responses_stream(text, arguments)
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [MASK_CARDS]) as gw:
        check = await _check(gw)
        sent, stopped = await _relay(check, frames)
    assert stopped is None
    assert CARD.encode() not in sent
    events = events_of(sent)
    assert len(events) == len(frames)  # rewritten in place: no event added or lost
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    redacted_text = "The card on file is [REDACTED:payment_card], expiring soon."
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == redacted_text
    by_type = {e["type"]: e for e in events}
    assert by_type["response.output_text.done"]["text"] == redacted_text
    assert by_type["response.content_part.done"]["part"]["text"] == redacted_text
    call_arguments = "".join(
        e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"
    )
    assert orjson.loads(call_arguments) == {"card": "[REDACTED:payment_card]", "amount": 12}
    assert by_type["response.function_call_arguments.done"]["arguments"] == call_arguments
    final = by_type["response.completed"]["response"]
    assert final["output"][0]["content"][0]["text"] == redacted_text
    assert final["output"][1]["arguments"] == call_arguments
    # the openai SDK's own accumulator rebuilds the redacted answer from the deltas
    state: ResponseStreamState[object] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        state.handle_event(EVENT.validate_python(event))
    assert state._completed_response is not None
    assert state._completed_response.output_text == redacted_text


async def test_a_held_stream_without_a_finding_is_sent_as_it_came(tmp_path: Path) -> None:
    frames = responses_stream("No card in this answer.", '{"amount": 12}')
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [MASK_CARDS]) as gw:
        sent, stopped = await _relay(await _check(gw), frames)
    assert stopped is None
    assert sent == b"".join(frames)


@pytest.mark.parametrize("cut", [0.5, 1.0])
async def test_a_held_stream_cut_short_is_still_redacted(tmp_path: Path, cut: float) -> None:
    """No `response.completed` (the upstream stopped): the text is rebuilt from the deltas."""
    frames = responses_stream(f"The card on file is {CARD}, expiring soon. " * 3)
    ended = [f for f in frames if not f.startswith(b"event: response.completed")]
    kept = ended[: int(len(ended) * cut)]
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [MASK_CARDS]) as gw:
        sent, stopped = await _relay(await _check(gw), kept)
    assert stopped is None
    assert CARD.encode() not in sent
    assert b"[REDACTED:payment_card]" in sent
