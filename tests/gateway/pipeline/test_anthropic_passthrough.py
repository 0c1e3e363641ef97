"""What Anthropic-only features keep through the gateway to an Anthropic upstream: extended thinking
(blocks, signatures, signature_delta, thinking turns sent back), prompt caching (cache_control up,
cache usage down, priced at Anthropic's rates in the audit log and the key's budget), server tools
and tool_use/tool_result round trips. The official anthropic SDK is the client; the upstream is a
scripted one answering recorded shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from anthropic_fixtures import (
    CACHE_USAGE,
    REDACTED,
    SIGNATURE,
    audit_rows,
    client,
    create_key,
    gateway_and_upstream,
    spent_usd,
    thinking_message,
    thinking_stream,
)

from gateway.core.pricing import DEFAULT_PRICES, cost_usd

from support.scripted_upstream import CLAUDE, Answer

THINKING = {"type": "enabled", "budget_tokens": 2048}
# claude-3-5-haiku: $0.80 input, $4 output, $0.08 cache read, $1.00 (1.25x) cache write per Mtok
CACHE_COST = (100 * 0.80 + 1000 * 1.00 + 2000 * 0.08 + 50 * 4.0) / 1_000_000
LONG_SYSTEM = [
    {"type": "text", "text": "You answer questions about the attached manual. " * 40},
    {"type": "text", "text": "Manual: ...", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
]


def test_cache_writes_and_reads_are_priced_as_anthropic_bills_them() -> None:
    price = DEFAULT_PRICES["claude-3-5-haiku"]
    assert cost_usd(price, 3100, 50, cached_tokens=2000, cache_write_tokens=1000) == pytest.approx(
        CACHE_COST
    )
    # no cache use: the plain input price; OpenAI models have no writes
    assert cost_usd(price, 100, 50) == pytest.approx((100 * 0.80 + 50 * 4.0) / 1e6)


async def test_thinking_whole_answer_and_the_turn_sent_back_are_untouched(tmp_path: Path) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, up), client(gw) as sdk:
        up.queue.append(Answer(body=thinking_message()))
        raw = await sdk.messages.with_raw_response.create(
            model=CLAUDE,
            max_tokens=4096,
            thinking=THINKING,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "What is 2+2?"}],
        )
        message = await raw.parse()
        assert json.loads(raw.http_response.content)["content"] == thinking_message()["content"]
        thinking, redacted, text = message.content
        assert thinking.type == "thinking" and thinking.signature == SIGNATURE
        assert redacted.type == "redacted_thinking" and redacted.data == REDACTED
        assert text.type == "text" and text.text == "4"
        # the next turn carries the assistant's thinking blocks back: they must arrive as sent
        history: list[Any] = [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {"role": "user", "content": "And times 3?"},
        ]
        up.queue.append(Answer(body=thinking_message()))
        await sdk.messages.create(
            model=CLAUDE,
            max_tokens=4096,
            thinking=THINKING,
            messages=history,  # type: ignore[arg-type]
        )
    first, second = up.seen
    assert first.body["thinking"] == THINKING
    assert second.body["messages"] == history
    assert second.body["messages"][1]["content"][:2] == thinking_message()["content"][:2]


async def test_thinking_stream_keeps_signature_deltas(tmp_path: Path) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, up), client(gw) as sdk:
        up.queue.append(Answer(frames=thinking_stream()))
        kinds: list[str] = []
        async with sdk.messages.stream(
            model=CLAUDE,
            max_tokens=4096,
            thinking=THINKING,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "What is 2+2, streamed?"}],
        ) as stream:
            async for event in stream:
                if event.type == "content_block_delta":
                    kinds.append(event.delta.type)
            final = await stream.get_final_message()
    assert kinds == ["thinking_delta", "signature_delta", "text_delta"]
    thinking, redacted, text = final.content
    assert thinking.type == "thinking" and thinking.signature == SIGNATURE
    assert thinking.thinking == "The user wants a sum. 2+2=4."
    assert redacted.type == "redacted_thinking" and redacted.data == REDACTED
    assert text.type == "text" and text.text == "4"


@pytest.mark.parametrize("streamed", [False, True])
async def test_prompt_cache_usage_passes_through_and_is_priced(
    tmp_path: Path, streamed: bool
) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, up):
        key = await create_key(gw, budget={"max_usd": 10, "period": "daily"})
        async with client(gw, key["key"]) as sdk:
            params: dict[str, Any] = {
                "model": CLAUDE,
                "max_tokens": 256,
                "system": LONG_SYSTEM,
                "messages": [{"role": "user", "content": "Summarise chapter 2."}],
            }
            if streamed:
                up.queue.append(Answer(frames=thinking_stream(CACHE_USAGE)))
                async with sdk.messages.stream(**params) as stream:
                    message = await stream.get_final_message()
            else:
                up.queue.append(Answer(body=thinking_message(CACHE_USAGE)))
                message = await sdk.messages.create(**params)
        assert message.usage.cache_creation_input_tokens == 1000
        assert message.usage.cache_read_input_tokens == 2000
        assert message.usage.input_tokens == 100
        [seen] = up.seen
        assert seen.body["system"] == LONG_SYSTEM  # cache_control reached the upstream
        [row] = await audit_rows(gw, 1, key_id=key["id"])
        assert row["prompt_tokens"] == 3100 and row["cached_tokens"] == 2000
        assert row["completion_tokens"] == (30 if streamed else 50)
        expected = CACHE_COST if not streamed else CACHE_COST - (50 - 30) * 4.0 / 1_000_000
        assert row["cost_usd"] == pytest.approx(expected)
        assert await spent_usd(gw, key["id"], expected * 0.999) == pytest.approx(expected)


WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
LOOKUP = {
    "name": "lookup_order",
    "description": "An order by id",
    "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
    "cache_control": {"type": "ephemeral"},
}
SERVER_TOOL_TURN = [
    {"type": "text", "text": "Let me search first."},
    {
        "type": "server_tool_use",
        "id": "srvtoolu_01",
        "name": "web_search",
        "input": {"query": "order 42 status"},
    },
    {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_01",
        "content": [
            {
                "type": "web_search_result",
                "url": "https://example.com/orders",
                "title": "Orders",
                "encrypted_content": "EqgfCioIARgBIiQ3YTA0",
                "page_age": None,
            }
        ],
    },
    {"type": "tool_use", "id": "toolu_01", "name": "lookup_order", "input": {"id": "42"}},
]


async def test_server_tools_and_a_tool_round_trip_are_untouched(tmp_path: Path) -> None:
    first_answer = {
        **thinking_message(),
        "content": SERVER_TOOL_TURN,
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 50,
            "output_tokens": 20,
            "server_tool_use": {"web_search_requests": 1},
        },
    }
    async with gateway_and_upstream(tmp_path) as (gw, up), client(gw) as sdk:
        up.queue.append(Answer(body=first_answer))
        question = {"role": "user", "content": "Where is order 42?"}
        first = await sdk.messages.create(
            model=CLAUDE,
            max_tokens=512,
            tools=[WEB_SEARCH, LOOKUP],  # type: ignore[list-item]
            messages=[question],  # type: ignore[list-item]
        )
        assert first.stop_reason == "tool_use"
        assert [b.type for b in first.content] == [b["type"] for b in SERVER_TOOL_TURN]
        result = {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "shipped"}],
                    "is_error": False,
                }
            ],
        }
        up.queue.append(Answer(body=thinking_message()))
        await sdk.messages.create(
            model=CLAUDE,
            max_tokens=512,
            tools=[WEB_SEARCH, LOOKUP],  # type: ignore[list-item]
            messages=[question, {"role": "assistant", "content": SERVER_TOOL_TURN}, result],  # type: ignore[list-item]
        )
    sent_first, sent_second = up.seen
    assert sent_first.body["tools"] == [WEB_SEARCH, LOOKUP]
    assert sent_second.body["messages"][1]["content"] == SERVER_TOOL_TURN
    assert sent_second.body["messages"][2] == result
