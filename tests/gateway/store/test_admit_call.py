"""admit_call: an MCP tool call or an A2A request counts as one request against the key's rpm,
rph and parallel limits and reserves its price against the budget, on every counters backend
(in-process, SQLite, and the shared Redis on 127.0.0.1:6379 under a prefix of this test's own),
through the same machinery as a chat request's admission, at explicit times."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.core import budget as budgets
from gateway.core.errors import RateLimited
from gateway.core.keys import KeyBudget, KeyLimits, VirtualKey
from gateway.core.pricing import PriceTable
from gateway.pipeline.admission import (
    MAX_CALL_PRICE_USD,
    Ticket,
    admit,
    admit_call,
    settlement,
)
from gateway.store.base import Admission, AdmissionResult, Counters, Settlement, Spend
from gateway.store.counters_local import LocalCounters
from gateway.store.counters_redis import RedisCounters, fail_fast_client
from gateway.store.counters_sqlite import SqliteCounters

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600  # on a boundary of every window


class NoSpend:
    async def spent_since(self, key_id: str, since: float) -> float:
        return 0.0


class Recording:
    """A real backend, with a log of what reached it."""

    def __init__(self, inner: Counters) -> None:
        self.inner = inner
        self.admissions: list[Admission] = []

    async def admit(self, admission: Admission, window_start: float) -> AdmissionResult:
        self.admissions.append(admission)
        return await self.inner.admit(admission, window_start)

    async def settle(self, settlement: Settlement) -> None:
        await self.inner.settle(settlement)

    async def spend(self, key_id: str, window: str, window_start: float) -> Spend:
        return await self.inner.spend(key_id, window, window_start)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(params=["local", "sqlite", "redis"])
async def counters(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Recording]:
    prefix = f"sftest-{uuid.uuid4().hex}"
    client = fail_fast_client("redis://127.0.0.1:6379") if request.param == "redis" else None
    inner: Counters
    if request.param == "local":
        inner = LocalCounters(None)
    elif request.param == "sqlite":
        inner = SqliteCounters(tmp_path / "counters.db", spend_source=None)
    else:
        assert client is not None
        inner = RedisCounters(client, NoSpend(), prefix=prefix)
    recording = Recording(inner)
    yield recording
    await recording.close()
    if client is not None:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def vkey(budget: KeyBudget | None = None, **limits: Any) -> VirtualKey:
    return VirtualKey(
        id="key_" + uuid.uuid4().hex[:16],
        key_hash=uuid.uuid4().hex * 2,
        key_prefix="sk-sf-abcd",
        name="tools",
        created_at=0,
        updated_at=0,
        budget=budget,
        limits=KeyLimits(**limits),
    )


async def spent(counters: Counters, key: VirtualKey, now: float) -> Spend:
    period = key.budget.period if key.budget else "total"
    window, start, _ = budgets.window(period, now)
    return await counters.spend(key.id, window, start)


async def settle(counters: Counters, ticket: Ticket | None, usd: float) -> None:
    assert ticket is not None
    await counters.settle(settlement(ticket, actual_usd=usd, actual_tokens=0))


async def test_a_key_without_limits_or_budget_never_reaches_the_counters(
    counters: Recording,
) -> None:
    assert await admit_call(counters=counters, key=vkey(), price_usd=5.0, now=T0) is None
    tpm_only = vkey(tpm=1000)  # a call spends no tokens: nothing to count either
    assert await admit_call(counters=counters, key=tpm_only, price_usd=5.0, now=T0) is None
    assert counters.admissions == []


async def test_each_call_counts_against_rpm(counters: Recording) -> None:
    key = vkey(rpm=2)
    for second in (0, 1):
        ticket = await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + second)
        assert ticket is not None and ticket.result.allowed
        assert ticket.result.requests is not None
        assert ticket.result.requests.remaining == 1 - second
    with pytest.raises(RateLimited) as refused:
        await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 2)
    assert refused.value.code == "rate_limit_exceeded"
    assert "requests per minute" in refused.value.message
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert refused.value.headers["x-ratelimit-remaining-requests"] == "0"
    later = await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 120)
    assert later is not None


async def test_calls_and_chat_share_the_keys_limits(counters: Recording) -> None:
    key = vkey(rph=2)
    prices = PriceTable()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    await admit(counters=counters, prices=prices, key=key, model="gpt-4o-mini", body=body, now=T0)
    await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 1)
    with pytest.raises(RateLimited, match="requests per hour"):
        await admit(
            counters=counters, prices=prices, key=key, model="gpt-4o-mini", body=body, now=T0 + 2
        )
    with pytest.raises(RateLimited, match="requests per hour"):
        await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 3)


async def test_the_price_is_reserved_then_settled_against_the_budget(
    counters: Recording,
) -> None:
    key = vkey(budget=KeyBudget(max_usd=1.0, period="total"))
    first = await admit_call(counters=counters, key=key, price_usd=0.4, now=T0)
    second = await admit_call(counters=counters, key=key, price_usd=0.4, now=T0 + 1)
    assert first is not None and first.reserved_usd == 0.4
    assert (await spent(counters, key, T0)).reserved_usd == pytest.approx(0.8)
    with pytest.raises(RateLimited) as refused:  # 0.8 reserved + 0.4 > 1.0
        await admit_call(counters=counters, key=key, price_usd=0.4, now=T0 + 2)
    assert refused.value.code == "budget_exceeded"
    assert "$1.00" in refused.value.message
    await settle(counters, first, 0.4)
    await settle(counters, second, 0.0)  # the call failed upstream: nothing charged
    state = await spent(counters, key, T0)
    assert state.spent_usd == pytest.approx(0.4)
    assert state.reserved_usd == pytest.approx(0.0)
    third = await admit_call(counters=counters, key=key, price_usd=0.4, now=T0 + 3)
    await settle(counters, third, 0.4)
    with pytest.raises(RateLimited, match="budget exhausted"):  # 0.8 spent
        await admit_call(counters=counters, key=key, price_usd=0.4, now=T0 + 4)
    free = await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 5)
    assert free is not None and free.reserved_usd == 0.0


async def test_an_overspent_budget_refuses_even_a_free_call(counters: Recording) -> None:
    key = vkey(budget=KeyBudget(max_usd=0.5, period="daily"))
    ticket = await admit_call(counters=counters, key=key, price_usd=0.5, now=T0)
    await settle(counters, ticket, 0.5)  # exactly spent: a free call spends nothing more
    ticket = await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 1)
    await settle(counters, ticket, 0.1)  # it cost something after all (a chat's dearer answer)
    with pytest.raises(RateLimited) as refused:
        await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 2)
    assert refused.value.code == "budget_exceeded"
    assert "daily" in refused.value.message


async def test_a_parallel_slot_is_held_until_settled(counters: Recording) -> None:
    key = vkey(max_parallel=1)
    held = await admit_call(counters=counters, key=key, price_usd=0.0, now=T0)
    assert held is not None and held.held_parallel
    with pytest.raises(RateLimited, match="parallel requests"):
        await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 1)
    await settle(counters, held, 0.0)
    assert await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 2) is not None


async def test_a_call_spends_no_tokens_and_an_exhausted_tpm_does_not_block_it(
    counters: Recording,
) -> None:
    key = vkey(tpm=10, rpm=100)
    ticket = await admit_call(counters=counters, key=key, price_usd=0.0, now=T0)
    assert ticket is not None and ticket.tokens_estimate == 0
    assert counters.admissions[-1].tpm is None
    big = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "word " * 200}]}
    with pytest.raises(RateLimited, match="tokens per minute"):  # chat is held to tpm
        await admit(
            counters=counters, prices=PriceTable(), key=key, model="m", body=big, now=T0 + 1
        )
    assert await admit_call(counters=counters, key=key, price_usd=0.0, now=T0 + 2) is not None


async def test_a_negative_price_reserves_nothing(counters: Recording) -> None:
    key = vkey(budget=KeyBudget(max_usd=1.0, period="total"))
    for price in (-3.0, math.nan):
        ticket = await admit_call(counters=counters, key=key, price_usd=price, now=T0)
        assert ticket is not None and ticket.reserved_usd == 0.0
        assert counters.admissions[-1].reserve_usd == 0.0
        await settle(counters, ticket, 0.0)


async def test_an_absurd_price_is_capped_and_refused_by_any_budget(counters: Recording) -> None:
    key = vkey(budget=KeyBudget(max_usd=1e5, period="total"))
    with pytest.raises(RateLimited, match="budget"):
        await admit_call(counters=counters, key=key, price_usd=1e300, now=T0)
    assert counters.admissions[-1].reserve_usd == MAX_CALL_PRICE_USD
    unbudgeted = vkey(rpm=10)  # no budget: the (capped) reservation is still held and released
    for second in range(3):
        ticket = await admit_call(
            counters=counters, key=unbudgeted, price_usd=math.inf, now=T0 + second
        )
        assert ticket is not None and ticket.reserved_usd == MAX_CALL_PRICE_USD
    await settle(counters, ticket, 0.0)
