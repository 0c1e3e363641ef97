"""Shared by the Anthropic completeness tests: a gateway in front of a scripted upstream (a Claude
model on its Anthropic face, gpt-4o-mini on its OpenAI face), virtual keys, the audit log, and
recorded-shape Anthropic answers (thinking with signatures, prompt-cache usage, server tools)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anthropic

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway
from support.scripted_upstream import CLAUDE, ScriptedUpstream, anthropic_event, scripted_config

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SIGNATURE = "EqQBCkYIBxgCKkBz0c2h1bmtlZC9zaWduYXR1cmU+/=="  # opaque: must come back byte for byte
REDACTED = "EmwKAhgBEgy3va3pzj8mZ3tnB2YaDBbJ/redacted+payload=="


@asynccontextmanager
async def gateway_and_upstream(
    tmp_path: Path,
) -> AsyncIterator[tuple[RunningGateway, ScriptedUpstream]]:
    async with ScriptedUpstream() as up, running_gateway(tmp_path, scripted_config(up)) as gw:
        yield gw, up


def client(gw: RunningGateway, secret: str = ADMIN_KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=secret, max_retries=0)


async def create_key(gw: RunningGateway, **fields: Any) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gw.url + "/api/enterprise/vkeys",
            json={"name": "anthropic-test", **fields},
            headers=ADMIN,
        ) as response,
    ):
        created = await response.json()
        assert response.status == 201, created
        return dict(created)


async def audit_rows(gw: RunningGateway, expected: int, **params: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(
                gw.url + "/api/audit", params={"limit": "100", **params}, headers=ADMIN
            ) as response:
                assert response.status == 200
                rows = list((await response.json())["records"])
            if len(rows) >= expected:
                return rows
            await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rows)} audit records, expected {expected}")


async def spent_usd(gw: RunningGateway, key_id: str, at_least: float) -> float:
    """The key's settled spend (settlement runs after the response: polled)."""
    spent = 0.0
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(
                f"{gw.url}/api/enterprise/vkeys/{key_id}/budget", headers=ADMIN
            ) as response:
                assert response.status == 200
                spent = float((await response.json())["spent_usd"])
            if spent >= at_least:
                return spent
            await asyncio.sleep(0.05)
    return spent


CACHE_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 2000,
    "output_tokens": 50,
}


def thinking_message(usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A recorded-shape answer with extended thinking: a signed thinking block, a redacted one,
    then the text."""
    return {
        "id": "msg_01ThinkingRecorded",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [
            {
                "type": "thinking",
                "thinking": "The user wants a sum. 2+2=4.",
                "signature": SIGNATURE,
            },
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "text", "text": "4"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 20, "output_tokens": 30},
    }


def thinking_stream(usage: dict[str, int] | None = None) -> list[bytes]:
    """The same answer as Anthropic streams it: thinking_delta, then signature_delta."""
    start_usage = {**(usage or {"input_tokens": 20}), "output_tokens": 1}
    message = {**thinking_message(), "content": [], "stop_reason": None, "usage": start_usage}
    return [
        anthropic_event("message_start", {"type": "message_start", "message": message}),
        anthropic_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        anthropic_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "The user wants a sum. 2+2=4."},
            },
        ),
        anthropic_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": SIGNATURE},
            },
        ),
        anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        anthropic_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "redacted_thinking", "data": REDACTED},
            },
        ),
        anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 1}),
        anthropic_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        anthropic_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "text_delta", "text": "4"},
            },
        ),
        anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 2}),
        anthropic_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 30},
            },
        ),
        anthropic_event("message_stop", {"type": "message_stop"}),
    ]
