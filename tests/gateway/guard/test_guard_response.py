"""Response-side guardrails: a whole answer is held until its scan passes, so a violation is
refused before a byte of it is sent (or redacted in place); a streamed answer is scanned in
windows as it arrives and a violation ends it with an error event in the client's wire format,
after only text that passed. A policy can ask for buffer-and-check instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from support.gateway import ADMIN_KEY, RunningGateway
from support.guard_e2e import AWS_KEY, CARD, audit_row, guarded_gateway, policy, rule
from support.scripted_upstream import (
    CLAUDE,
    MODEL,
    Answer,
    ScriptedUpstream,
    anthropic_event,
    chat_body,
    chat_chunk,
    openai_frames,
)

NO_KEYS_OUT = policy(
    "no-keys-out",
    rule(
        "block",
        "direction == 'response' && findings.has('aws_access_key')",
        {"type": "deny", "message": "the answer held a credential"},
    ),
)
LEAD = "Here is the configuration you asked for, with every setting explained in turn. " * 4
SECRET_LINE = f"aws_access_key_id = {AWS_KEY}\n"
TOKEN_GAP_S = 0.002  # an upstream generating tokens, not one that sends the answer at once


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _openai_stream(text: str) -> list[bytes]:
    chunks = [chat_chunk(None)] + [chat_chunk(p) for p in _pieces(text)]
    return openai_frames([*chunks, chat_chunk(None, finish="stop")])


def _anthropic_stream(text: str) -> list[bytes]:
    message = {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    frames = [
        anthropic_event("message_start", {"type": "message_start", "message": message}),
        anthropic_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for piece in _pieces(text):
        frames.append(
            anthropic_event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    frames += [
        anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        anthropic_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 40},
            },
        ),
        anthropic_event("message_stop", {"type": "message_stop"}),
    ]
    return frames


async def _raw_stream(gw: RunningGateway, path: str, body: dict[str, Any]) -> tuple[bytes, str]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.url + path, json=body, headers=headers) as response,
    ):
        assert response.status == 200
        return await response.read(), response.headers["x-smartflow-request-id"]


async def test_a_whole_answer_with_a_secret_is_refused_before_any_byte(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_KEYS_OUT]) as gw:
        up.queue.append(Answer(body=chat_body(LEAD + SECRET_LINE)))
        async with aiohttp.ClientSession() as session:
            async with session.post(
                gw.url + "/v1/chat/completions",
                json={"model": MODEL, "messages": [{"role": "user", "content": "my config?"}]},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            ) as response:
                raw = await response.read()
                request_id = response.headers["x-smartflow-request-id"]
        assert response.status == 403
        assert AWS_KEY.encode() not in raw
        assert orjson.loads(raw)["error"]["code"] == "policy_violation"
        row = await audit_row(gw, request_id)
        assert (row["compliance"], row["policy_action"]) == ("block", "deny")
        assert row["findings"] == "aws_access_key=1"


async def test_a_whole_answer_is_redacted_in_place(tmp_path: Path) -> None:
    mask = policy(
        "mask-cards-out",
        rule("cards", "direction == 'response'", {"type": "redact", "types": ["payment_card"]}),
    )
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [mask]) as gw:
        up.queue.append(Answer(body=chat_body(f"The card on file is {CARD}.")))
        async with openai.AsyncOpenAI(
            base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0
        ) as sdk:
            answer = await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Which card is on file?"}]
            )
        assert answer.choices[0].message.content == "The card on file is [REDACTED:payment_card]."


async def test_a_stream_is_stopped_in_the_openai_wire_before_the_secret(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_KEYS_OUT]) as gw:
        frames = _openai_stream(LEAD + SECRET_LINE + "More text after.")
        up.queue.append(Answer(frames=frames, delay_s=TOKEN_GAP_S))
        received: list[str] = []
        async with openai.AsyncOpenAI(
            base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0
        ) as sdk:
            stream = await sdk.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "my config?"}],
                stream=True,
            )
            with pytest.raises(openai.APIError) as stopped:
                async for chunk in stream:
                    received.extend(c.delta.content or "" for c in chunk.choices)
        text = "".join(received)
        assert "the answer held a credential" in stopped.value.message
        assert AWS_KEY not in text
        assert AWS_KEY[:4] not in text[len(LEAD) - 60 :], "no part of the key was sent"
        assert text and LEAD.startswith(text), "only text that passed, in order"
        assert len(text) >= 100, "text that passed was not held back needlessly"


async def test_a_stream_is_stopped_in_the_anthropic_wire(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_KEYS_OUT]) as gw:
        frames = _anthropic_stream(LEAD + SECRET_LINE + "More.")
        up.queue.append(Answer(frames=frames, delay_s=TOKEN_GAP_S))
        received: list[str] = []
        async with anthropic.AsyncAnthropic(
            base_url=gw.url + "/anthropic", api_key=ADMIN_KEY, max_retries=0
        ) as sdk:
            with pytest.raises(anthropic.APIError) as stopped:
                async with sdk.messages.stream(
                    model=CLAUDE,
                    max_tokens=300,
                    messages=[{"role": "user", "content": "my config?"}],
                ) as stream:
                    async for piece in stream.text_stream:
                        received.append(piece)
        assert "the answer held a credential" in str(stopped.value)
        text = "".join(received)
        assert AWS_KEY not in text and LEAD.startswith(text)
        raw, request_id = b"", ""
        up.queue.append(Answer(frames=_anthropic_stream(LEAD + SECRET_LINE)))
        raw, request_id = await _raw_stream(
            gw,
            "/anthropic/v1/messages",
            {
                "model": CLAUDE,
                "max_tokens": 300,
                "stream": True,
                "messages": [{"role": "user", "content": "again"}],
            },
        )
        assert raw.rstrip().endswith(b"}")
        assert b"event: error" in raw and AWS_KEY.encode() not in raw
        assert b"message_stop" not in raw
        row = await audit_row(gw, request_id)
        assert (row["compliance"], row["policy_action"]) == ("block", "deny")
        assert row["error_code"] == "policy_violation"


async def test_a_translated_stream_is_judged_in_the_clients_wire(tmp_path: Path) -> None:
    """An OpenAI-speaking upstream answering an Anthropic client: judged after translation."""
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [NO_KEYS_OUT]) as gw:
        up.queue.append(Answer(frames=_openai_stream(LEAD + SECRET_LINE)))
        raw, _ = await _raw_stream(
            gw,
            "/anthropic/v1/messages",
            {
                "model": MODEL,
                "max_tokens": 300,
                "stream": True,
                "messages": [{"role": "user", "content": "my config?"}],
            },
        )
        assert b"event: error" in raw and AWS_KEY.encode() not in raw


async def test_buffer_and_check_redacts_a_stream(tmp_path: Path) -> None:
    mask = policy(
        "mask-cards-out",
        rule("cards", "direction == 'response'", {"type": "redact", "types": ["payment_card"]}),
        stream="buffer",
    )
    async with ScriptedUpstream() as up, guarded_gateway(tmp_path, up, [mask]) as gw:
        up.queue.append(
            Answer(frames=_openai_stream(f"The card on file is {CARD}, expiring soon."))
        )
        async with openai.AsyncOpenAI(
            base_url=gw.url + "/v1", api_key=ADMIN_KEY, max_retries=0
        ) as sdk:
            stream = await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "card?"}], stream=True
            )
            text = "".join([c.delta.content or "" async for chunk in stream for c in chunk.choices])
        assert text == "The card on file is [REDACTED:payment_card], expiring soon."
