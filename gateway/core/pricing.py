"""Prices per million tokens, cost of a request, and the worst-case cost reserved before sending.

Defaults cover current OpenAI and Anthropic models; the routing config's `pricing` section
overrides or extends them. A model with no known price costs 0 but its tokens are still counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
DEFAULT_MAX_TOKENS = 4096
# Anthropic bills prompt-cache writes (5-minute cache) at 1.25x the input price; reads are the
# model's cached_input_per_mtok (0.1x input for Claude models).
CACHE_WRITE_MULTIPLIER = 1.25


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_per_mtok: float | None = Field(default=None, ge=0)  # None: 1.25x input
    max_output_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1)


FREE = ModelPrice(input_per_mtok=0, output_per_mtok=0)


def _p(inp: float, out: float, cached: float | None = None, max_out: int = 16_384) -> ModelPrice:
    return ModelPrice(
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cached,
        max_output_tokens=max_out,
    )


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-5": _p(1.25, 10.0, 0.125, 128_000),
    "gpt-5-mini": _p(0.25, 2.0, 0.025, 128_000),
    "gpt-5-nano": _p(0.05, 0.40, 0.005, 128_000),
    "gpt-4.1": _p(2.0, 8.0, 0.50, 32_768),
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10, 32_768),
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025, 32_768),
    "gpt-4o": _p(2.50, 10.0, 1.25),
    "gpt-4o-mini": _p(0.15, 0.60, 0.075),
    "o3": _p(2.0, 8.0, 0.50, 100_000),
    "o3-mini": _p(1.10, 4.40, 0.55, 100_000),
    "o4-mini": _p(1.10, 4.40, 0.275, 100_000),
    "gpt-3.5-turbo": _p(0.50, 1.50, None, 4_096),
    "gpt-3.5-turbo-instruct": _p(1.50, 2.0, None, 4_096),
    "text-embedding-3-small": _p(0.02, 0.0, None, 1),
    "text-embedding-3-large": _p(0.13, 0.0, None, 1),
    "text-embedding-ada-002": _p(0.10, 0.0, None, 1),
    "claude-opus-4-5": _p(5.0, 25.0, 0.50, 64_000),
    "claude-opus-4-1": _p(15.0, 75.0, 1.50, 32_000),
    "claude-opus-4": _p(15.0, 75.0, 1.50, 32_000),
    "claude-sonnet-4-5": _p(3.0, 15.0, 0.30, 64_000),
    "claude-sonnet-4": _p(3.0, 15.0, 0.30, 64_000),
    "claude-haiku-4-5": _p(1.0, 5.0, 0.10, 64_000),
    "claude-3-5-haiku": _p(0.80, 4.0, 0.08, 8_192),
}

_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")


class PriceTable:
    """Looks a model up by exact name, then without a date suffix or `provider/` prefix, then by
    the longest known name it starts with (so `gpt-4o-mini-2024-07-18` is priced as gpt-4o-mini)."""

    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}
        self._by_length = sorted(self._prices, key=len, reverse=True)
        self._memo: dict[str, ModelPrice] = {}

    def price(self, model: str) -> ModelPrice:
        found = self._memo.get(model)
        if found is None:
            found = self._memo[model] = self._lookup(model)
        return found

    def _lookup(self, model: str) -> ModelPrice:
        name = model.rsplit("/", 1)[-1]
        for candidate in (model, name, _DATE_SUFFIX.sub("", name)):
            if candidate in self._prices:
                return self._prices[candidate]
        for known in self._by_length:
            if name.startswith(known + "-"):
                return self._prices[known]
        return FREE


def cost_usd(
    price: ModelPrice,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float:
    """`prompt_tokens` counts every input token, cache reads (`cached_tokens`) and cache writes
    (`cache_write_tokens`, Anthropic's cache_creation_input_tokens) included; reads are charged
    at the cached rate, writes at the cache-write rate, the rest at the input price."""
    cached = min(max(cached_tokens, 0), prompt_tokens)
    written = min(max(cache_write_tokens, 0), prompt_tokens - cached)
    cached_rate = price.cached_input_per_mtok
    if cached_rate is None:
        cached_rate = price.input_per_mtok
    write_rate = price.cache_write_per_mtok
    if write_rate is None:
        write_rate = price.input_per_mtok * CACHE_WRITE_MULTIPLIER
    return (
        (prompt_tokens - cached - written) * price.input_per_mtok
        + cached * cached_rate
        + written * write_rate
        + completion_tokens * price.output_per_mtok
    ) / 1_000_000


MAX_COUNTED_TOKENS = 2**53  # past any real request; keeps the float arithmetic finite


def estimated_cost(price: ModelPrice, prompt_tokens: int, body: Mapping[str, Any]) -> float:
    """What a request may cost before it is sent: its prompt estimate plus the most it may
    generate (`max_tokens` / `max_completion_tokens` when given), for policies' `cost`."""
    limit = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    completion = limit if isinstance(limit, int) and not isinstance(limit, bool) else 0
    return cost_usd(
        price,
        min(max(prompt_tokens, 0), MAX_COUNTED_TOKENS),
        min(max(completion, 0), MAX_COUNTED_TOKENS),
    )


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_chars(item) for item in value)
    if isinstance(value, dict):
        return sum(_text_chars(item) for key, item in value.items() if key != "image_url")
    return 0


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A fast upper-leaning estimate of input tokens (about 4 characters a token) for the
    reservation made before the upstream reports real usage."""
    messages = body.get("messages")
    count = 0
    if isinstance(messages, list):
        count += len(messages) * MESSAGE_OVERHEAD_TOKENS
        count += _text_chars(messages) // CHARS_PER_TOKEN
    for field in ("system", "prompt", "input", "tools"):
        if field in body:
            count += _text_chars(body[field]) // CHARS_PER_TOKEN
    return max(count, 1)


def requested_max_tokens(body: Mapping[str, Any], price: ModelPrice) -> int:
    for field in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return price.max_output_tokens


def worst_case_cost(price: ModelPrice, prompt_estimate: int, max_tokens: int) -> float:
    return cost_usd(price, prompt_estimate, max_tokens)
