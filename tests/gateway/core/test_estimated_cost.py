"""The cost a policy sees before the call: prompt estimate plus the most the request may
generate, finite whatever a client sends."""

from __future__ import annotations

import math

import pytest

from gateway.core.pricing import MAX_COUNTED_TOKENS, ModelPrice, estimated_cost

PRICE = ModelPrice(input_per_mtok=2.0, output_per_mtok=8.0)


def test_the_prompt_and_the_generation_limit_are_priced() -> None:
    assert estimated_cost(PRICE, 1_000, {"max_tokens": 500}) == pytest.approx(0.006)
    assert estimated_cost(PRICE, 1_000, {"max_completion_tokens": 500}) == pytest.approx(0.006)
    assert estimated_cost(PRICE, 1_000, {}) == pytest.approx(0.002)


@pytest.mark.parametrize("limit", [True, "500", -5, None, 2.5])
def test_a_limit_that_is_not_a_count_adds_nothing(limit: object) -> None:
    assert estimated_cost(PRICE, 1_000, {"max_tokens": limit}) == pytest.approx(0.002)


def test_absurd_counts_stay_finite() -> None:
    cost = estimated_cost(PRICE, 10**400, {"max_tokens": 10**400})
    assert math.isfinite(cost)
    assert cost == pytest.approx((2.0 + 8.0) * MAX_COUNTED_TOKENS / 1_000_000)
