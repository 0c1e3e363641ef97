"""The limits and budget stages: admit a request against its key's rate limits and reserve its
worst-case cost before the upstream call; afterwards, settle to what it really cost.

One round trip to the counters backend per request on the way in; settlement runs after the
response, off the hot path, and is never skipped (a cancelled stream settles what was consumed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core import budget as budgets
from gateway.core.errors import RateLimited
from gateway.core.keys import VirtualKey
from gateway.core.pricing import (
    PriceTable,
    estimate_prompt_tokens,
    requested_max_tokens,
    worst_case_cost,
)
from gateway.store.base import Admission, AdmissionResult, Counters, LimitState, Settlement

LIMIT_MESSAGES = {
    "rpm": "requests per minute",
    "rph": "requests per hour",
    "tpm": "tokens per minute",
    "parallel": "parallel requests",
}


# The most one call may reserve. Counters keep USD as integer nano-dollars (64-bit in SQLite and
# Redis): a misconfigured price far above any budget must not overflow them.
MAX_CALL_PRICE_USD = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Ticket:
    """What admission holds for a request until it is settled."""

    key_id: str
    window: str
    reserved_usd: float
    tokens_estimate: int
    prompt_estimate: int
    held_parallel: bool
    result: AdmissionResult


def _needs_counting(key: VirtualKey) -> bool:
    limits = key.limits
    return bool(
        key.budget is not None or limits.rpm or limits.rph or limits.tpm or limits.max_parallel
    )


async def admit(
    *,
    counters: Counters,
    prices: PriceTable,
    key: VirtualKey,
    model: str,
    body: Mapping[str, Any],
    now: float | None = None,
) -> Ticket | None:
    """Admit or raise RateLimited (429; code budget_exceeded for an exhausted budget).

    Keys with neither limits nor a budget skip the counters entirely (no ticket): their spend is
    what the audit log records, which is also where the budget view reads it from.
    """
    if not _needs_counting(key):
        return None  # nothing to enforce; spend is still recorded in the audit log
    price = prices.price(model)
    prompt_estimate = estimate_prompt_tokens(body)
    max_tokens = requested_max_tokens(body, price)
    reserve = worst_case_cost(price, prompt_estimate, max_tokens)
    return await _admit(
        counters,
        key,
        reserve_usd=reserve,
        prompt_estimate=prompt_estimate,
        tokens_estimate=prompt_estimate + max_tokens,
        tpm=key.limits.tpm,
        now=now,
    )


async def admit_call(
    *, counters: Counters, key: VirtualKey, price_usd: float, now: float | None = None
) -> Ticket | None:
    """Admit one MCP tool call or A2A request: it counts as one request against rpm, rph and
    parallel, and reserves its fixed price against the budget (tokens are not involved).

    Same machinery and same refusals as `admit`, so a key's limits and budget cover chat, tools
    and agents together. Settle with `settlement(ticket, actual_usd=..., actual_tokens=0)`.
    """
    limits = key.limits
    if key.budget is None and not (limits.rpm or limits.rph or limits.max_parallel):
        return None  # nothing a call counts against (tpm alone does not apply to calls)
    return await _admit(
        counters,
        key,
        reserve_usd=_call_price(price_usd),
        prompt_estimate=0,
        tokens_estimate=0,
        tpm=None,  # a call spends no tokens: an exhausted tpm does not block it
        now=now,
    )


def _call_price(price_usd: float) -> float:
    """A call's reservation: negative or NaN reserves nothing; capped at MAX_CALL_PRICE_USD."""
    if not price_usd > 0:
        return 0.0
    return min(price_usd, MAX_CALL_PRICE_USD)


async def _admit(
    counters: Counters,
    key: VirtualKey,
    *,
    reserve_usd: float,
    prompt_estimate: int,
    tokens_estimate: int,
    tpm: int | None,
    now: float | None,
) -> Ticket:
    """One round trip to the counters: limits checked and the reservation made atomically."""
    now = time.time() if now is None else now
    period = key.budget.period if key.budget else "total"
    window, window_start, window_end = budgets.window(period, now)
    limits = key.limits
    admission = Admission(
        key_id=key.id,
        now=now,
        rpm=limits.rpm,
        rph=limits.rph,
        tpm=tpm,
        max_parallel=limits.max_parallel,
        tokens_estimate=tokens_estimate,
        reserve_usd=reserve_usd,
        budget_usd=key.budget.max_usd if key.budget else None,
        budget_window=window,
    )
    result = await counters.admit(admission, window_start)
    if not result.allowed:
        raise _refusal(result, key, window_end, now)
    return Ticket(
        key_id=key.id,
        window=window,
        reserved_usd=reserve_usd,
        tokens_estimate=tokens_estimate,
        prompt_estimate=prompt_estimate,
        held_parallel=limits.max_parallel is not None,
        result=result,
    )


def _refusal(
    result: AdmissionResult, key: VirtualKey, window_end: float | None, now: float
) -> RateLimited:
    retry = max(1, math.ceil(result.retry_after_s))
    headers = {"Retry-After": str(retry), **rate_limit_headers(result)}
    if result.refused_by == "budget":
        assert key.budget is not None
        resets = (
            f"; it resets in {math.ceil((window_end - now) / 60)} minutes"
            if window_end is not None
            else ""
        )
        return RateLimited(
            f"budget exhausted: this key's {key.budget.period} budget of "
            f"${key.budget.max_usd:.2f} is spent{resets}",
            code="budget_exceeded",
            headers=headers,
        )
    what = LIMIT_MESSAGES.get(result.refused_by or "", "rate")
    return RateLimited(
        f"rate limit reached for {what} on this key; retry after {retry}s", headers=headers
    )


def _reset(seconds: float) -> str:
    """OpenAI's reset format: '1s', '6m0s', '1h2m3s'."""
    whole = max(0, math.ceil(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rate_limit_headers(result: AdmissionResult) -> dict[str, str]:
    headers: dict[str, str] = {}
    for kind, state in (("requests", result.requests), ("tokens", result.tokens)):
        if state is None:
            continue
        headers.update(_limit_headers(kind, state))
    return headers


def _limit_headers(kind: str, state: LimitState) -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{kind}": str(state.limit),
        f"x-ratelimit-remaining-{kind}": str(max(0, state.remaining)),
        f"x-ratelimit-reset-{kind}": _reset(state.reset_s),
    }


def settlement(ticket: Ticket, *, actual_usd: float, actual_tokens: int) -> Settlement:
    """Replace the ticket's reservation with what the request really cost."""
    return Settlement(
        key_id=ticket.key_id,
        now=time.time(),
        budget_window=ticket.window,
        reserved_usd=ticket.reserved_usd,
        actual_usd=actual_usd,
        tokens_estimate=ticket.tokens_estimate,
        actual_tokens=actual_tokens,
        held_parallel=ticket.held_parallel,
    )
