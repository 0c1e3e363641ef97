"""POST /anthropic/v1/messages/count_tokens (to an Anthropic upstream, or estimated), GET
/anthropic/v1/models in Anthropic's list shape, and the anthropic-* headers forwarded to Anthropic
upstreams only: with the official anthropic SDK as the client."""

from __future__ import annotations

from pathlib import Path

import anthropic
import pytest
from anthropic_fixtures import client, create_key, gateway_and_upstream
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.core.anthropic_tokens import IMAGE_TOKENS, estimate_input_tokens, models_page
from gateway.providers.anthropic import forwarded_headers

from support.gateway import running_gateway
from support.scripted_upstream import CLAUDE, MODEL, Answer

MESSAGES = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
SYSTEM = "You are a careful assistant that answers briefly."
TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
BETA = "interleaved-thinking-2025-05-14,token-efficient-tools-2025-02-19"


async def test_count_tokens_goes_to_an_anthropic_upstream_with_its_headers(
    tmp_path: Path,
) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, up), client(gw) as sdk:
        up.queue.append(Answer(body={"input_tokens": 427}))
        counted = await sdk.messages.count_tokens(
            model=CLAUDE,
            system=SYSTEM,
            messages=MESSAGES,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            thinking={"type": "enabled", "budget_tokens": 2048},
            extra_headers={"anthropic-beta": BETA},
        )
        sdk_version = sdk.default_headers["anthropic-version"]
    assert counted.input_tokens == 427
    [seen] = up.seen
    assert seen.path == "/v1/messages/count_tokens"
    assert seen.body["system"] == SYSTEM and seen.body["tools"] == TOOLS
    assert seen.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert seen.headers["anthropic-beta"] == BETA
    assert seen.headers["anthropic-version"] == sdk_version  # the client's, not the pinned one


async def test_count_tokens_is_estimated_for_an_openai_upstream(tmp_path: Path) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, up), client(gw) as sdk:
        bare = await sdk.messages.count_tokens(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        full = await sdk.messages.count_tokens(
            model=MODEL,
            system=SYSTEM,
            messages=MESSAGES,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
        )
    assert up.seen == []  # nothing asked upstream
    assert 0 < bare.input_tokens < full.input_tokens
    assert full.input_tokens == estimate_input_tokens(
        {"system": SYSTEM, "messages": MESSAGES, "tools": TOOLS}
    )


async def test_count_tokens_on_the_builtin_mock_and_when_the_upstream_cannot_count(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path) as gw, client(gw) as sdk:
        counted = await sdk.messages.count_tokens(
            model="claude-sonnet-4-5",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert counted.input_tokens == estimate_input_tokens({"messages": MESSAGES})
    (tmp_path / "b").mkdir()
    async with gateway_and_upstream(tmp_path / "b") as (gw, up), client(gw) as sdk:
        up.queue.append(
            Answer(
                status=404,
                body={"type": "error", "error": {"type": "not_found_error", "message": "no"}},
            )
        )
        counted = await sdk.messages.count_tokens(model=CLAUDE, messages=MESSAGES)  # type: ignore[arg-type]
    assert counted.input_tokens == estimate_input_tokens({"messages": MESSAGES})


async def test_count_tokens_needs_a_key_that_may_use_the_model(tmp_path: Path) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, up):
        key = await create_key(gw, models=[MODEL])
        async with client(gw, "sk-sf-not-a-key") as sdk:
            with pytest.raises(anthropic.AuthenticationError) as unknown:
                await sdk.messages.count_tokens(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        async with client(gw, key["key"]) as sdk:
            allowed = await sdk.messages.count_tokens(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
            with pytest.raises(anthropic.PermissionDeniedError) as denied:
                await sdk.messages.count_tokens(model=CLAUDE, messages=MESSAGES)  # type: ignore[arg-type]
            with pytest.raises(anthropic.BadRequestError) as invalid:
                await sdk.post("/v1/messages/count_tokens", body={"model": MODEL}, cast_to=object)
    assert allowed.input_tokens > 0
    for error in (unknown.value, denied.value, invalid.value):
        body = error.body
        assert isinstance(body, dict) and body["type"] == "error", body
        assert set(body["error"]) >= {"type", "message"}
    assert up.seen == []


async def test_models_list_and_retrieve_in_anthropics_shape(tmp_path: Path) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, _):
        async with client(gw) as sdk:
            everything = [model async for model in sdk.models.list()]
            first = await sdk.models.list(limit=1)
            second = await sdk.models.list(limit=1, after_id=first.data[0].id)
            one = await sdk.models.retrieve(CLAUDE)
        key = await create_key(gw, models=[CLAUDE])
        async with client(gw, key["key"]) as sdk:
            allowed = [model.id async for model in sdk.models.list()]
            with pytest.raises(anthropic.NotFoundError):
                await sdk.models.retrieve(MODEL)
    assert {m.id for m in everything} == {MODEL, "gpt-4o", CLAUDE}
    assert all(m.type == "model" and m.display_name == m.id for m in everything)
    assert first.has_more and first.first_id == first.last_id == first.data[0].id
    assert second.data[0].id != first.data[0].id
    assert one.id == CLAUDE and one.type == "model" and one.created_at.year >= 2024
    assert allowed == [CLAUDE]


def test_models_page_walks_both_ways() -> None:
    names = ["a", "b", "c", "d"]
    page = models_page(names, "2026-01-01T00:00:00Z", limit=2)
    assert [m["id"] for m in page["data"]] == ["a", "b"] and page["has_more"]
    page = models_page(names, "2026-01-01T00:00:00Z", limit=2, after_id="b")
    assert [m["id"] for m in page["data"]] == ["c", "d"] and not page["has_more"]
    page = models_page(names, "2026-01-01T00:00:00Z", limit=1, before_id="c")
    assert [m["id"] for m in page["data"]] == ["b"] and page["has_more"]
    assert models_page([], "x")["first_id"] is None


async def test_beta_headers_reach_anthropic_upstreams_only(tmp_path: Path) -> None:
    async with gateway_and_upstream(tmp_path) as (gw, up), client(gw) as sdk:
        for model in (CLAUDE, MODEL):
            await sdk.messages.create(
                model=model,
                max_tokens=32,
                messages=MESSAGES,  # type: ignore[arg-type]
                extra_headers={"anthropic-beta": BETA},
            )
        async with sdk.messages.stream(
            model=CLAUDE,
            max_tokens=32,
            messages=[{"role": "user", "content": "A different question, streamed."}],
            extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
        ) as stream:
            await stream.get_final_message()
    native, translated, streamed = up.seen
    assert native.path == "/v1/messages" and native.headers["anthropic-beta"] == BETA
    assert translated.path == "/v1/chat/completions"
    assert not any(name.startswith("anthropic-") for name in translated.headers)
    assert streamed.headers["anthropic-beta"] == "context-1m-2025-08-07"


def test_repeated_beta_headers_are_joined() -> None:
    headers = CIMultiDict(
        [("Anthropic-Beta", "a-1"), ("anthropic-beta", "b-2"), ("Authorization", "Bearer x")]
    )
    assert forwarded_headers(CIMultiDictProxy(headers)) == {"anthropic-beta": "a-1,b-2"}
    assert forwarded_headers({"content-type": "application/json"}) == {}


def test_the_estimate_skips_signatures_and_prices_images_flat() -> None:
    text = {"role": "user", "content": [{"type": "text", "text": "x" * 400}]}
    signed = {
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "y" * 400, "signature": "S" * 4000}],
    }
    image = {
        "role": "user",
        "content": [
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "A" * 400_000},
            }
        ],
    }
    assert estimate_input_tokens({"messages": [text]}) == 4 + 100
    assert estimate_input_tokens({"messages": [signed]}) == 4 + 100
    assert estimate_input_tokens({"messages": [image]}) == 4 + IMAGE_TOKENS


async def test_cached_answers_are_kept_apart_per_beta_set(tmp_path: Path) -> None:
    """A beta can change the answer: the same body under another `anthropic-beta` is not served
    the first one's cached answer; under the same beta set it is."""
    async with gateway_and_upstream(tmp_path) as (gw, up), client(gw) as sdk:
        for beta in (BETA, "context-1m-2025-08-07", BETA):
            raw = await sdk.messages.with_raw_response.create(
                model=CLAUDE,
                max_tokens=32,
                messages=MESSAGES,  # type: ignore[arg-type]
                extra_headers={"anthropic-beta": beta},
            )
            await raw.parse()
        assert raw.headers["x-smartflow-cache"] == "hit-exact"
    assert [seen.headers["anthropic-beta"] for seen in up.seen] == [
        BETA,
        "context-1m-2025-08-07",
    ]
