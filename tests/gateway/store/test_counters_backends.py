"""The same semantics from every counters backend: in-process, SQLite and Redis (the shared one
on 127.0.0.1:6379, under a key prefix of this test's own), at explicit times."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.core import ratelimit as rl
from gateway.store.base import (
    Admission,
    AdmissionResult,
    Counters,
    LimitState,
    Settlement,
    SpendSource,
)
from gateway.store.counters_local import LocalCounters
from gateway.store.counters_redis import RedisCounters, fail_fast_client
from gateway.store.counters_sqlite import SqliteCounters

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600  # on a boundary of every window
KEY = "vk_0123456789abcdef"

Make = Callable[..., Awaitable[Counters]]


class FixedSpend:
    """The durable spend record, reduced to one known figure; counts the look-ups."""

    def __init__(self, spent: float) -> None:
        self.spent = spent
        self.calls: list[tuple[str, float]] = []

    async def spent_since(self, key_id: str, since: float) -> float:
        self.calls.append((key_id, since))
        return self.spent


@pytest.fixture(params=["local", "sqlite", "redis"])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Make]:
    made: list[Counters] = []
    prefix = f"sftest-{uuid.uuid4().hex}"
    client = fail_fast_client("redis://127.0.0.1:6379") if request.param == "redis" else None

    async def build(spend_source: SpendSource | None = None) -> Counters:
        counters: Counters
        if request.param == "local":
            counters = LocalCounters(spend_source)
        elif request.param == "sqlite":
            counters = SqliteCounters(tmp_path / "counters.db", spend_source=spend_source)
        else:
            assert client is not None
            counters = RedisCounters(client, spend_source or FixedSpend(0.0), prefix=prefix)
        made.append(counters)
        return counters

    yield build
    for counters in made:
        await counters.close()
    if client is not None:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def ask(
    now: float,
    *,
    rpm: int | None = None,
    rph: int | None = None,
    tpm: int | None = None,
    parallel: int | None = None,
    tokens: int = 100,
    reserve: float = 0.0,
    budget: float | None = None,
    window: str = "total",
    key: str = KEY,
) -> Admission:
    return Admission(
        key_id=key,
        now=now,
        rpm=rpm,
        rph=rph,
        tpm=tpm,
        max_parallel=parallel,
        tokens_estimate=tokens,
        reserve_usd=reserve,
        budget_usd=budget,
        budget_window=window,
    )


def done(
    now: float,
    *,
    reserved: float = 0.0,
    actual: float = 0.0,
    tokens: int = 100,
    actual_tokens: int = 100,
    parallel: bool = False,
    window: str = "total",
) -> Settlement:
    return Settlement(
        key_id=KEY,
        now=now,
        budget_window=window,
        reserved_usd=reserved,
        actual_usd=actual,
        tokens_estimate=tokens,
        actual_tokens=actual_tokens,
        held_parallel=parallel,
    )


async def admit_all(counters: Counters, admissions: list[Admission]) -> list[AdmissionResult]:
    return [await counters.admit(a, rl.window_start(a.budget_window)) for a in admissions]


async def test_rpm_refuses_past_the_limit_and_recovers_as_the_window_slides(make: Make) -> None:
    counters = await make()
    results = await admit_all(counters, [ask(T0 + i, rpm=3) for i in range(3)])
    assert all(r.allowed for r in results)
    assert [r.requests.remaining for r in results if r.requests] == [2, 1, 0]
    assert results[0].requests == LimitState(limit=3, remaining=2, reset_s=120.0)

    refused = await counters.admit(ask(T0 + 10, rpm=3), 0.0)
    assert not refused.allowed
    assert refused.refused_by == "rpm"
    assert refused.requests is not None and refused.requests.remaining == 0
    assert refused.retry_after_s == 60.0  # the 3 of this window only start sliding out at +60 s
    # refusals consumed nothing: the next window sees exactly 3 in its previous window
    assert not (await counters.admit(ask(T0 + 60 + 19, rpm=3), 0.0)).allowed  # 3 * 41/60 + 1 > 3
    recovered = await counters.admit(ask(T0 + 60 + 20, rpm=3), 0.0)  # 3 * 40/60 + 1 = 3
    assert recovered.allowed
    assert recovered.requests is not None and recovered.requests.remaining == 0


async def test_retry_after_is_when_the_refusing_limit_has_room_again(make: Make) -> None:
    counters = await make()
    await admit_all(counters, [ask(T0 + 1, rpm=2), ask(T0 + 2, rpm=2)])
    at = T0 + 60 + 5
    refused = await counters.admit(ask(at, rpm=2), 0.0)  # estimate 2 * 55/60 + 1 > 2
    assert refused.refused_by == "rpm"
    assert refused.retry_after_s == 25.0  # 2 * (1 - f) <= 1 from f = 0.5
    assert not (await counters.admit(ask(at + refused.retry_after_s - 0.01, rpm=2), 0.0)).allowed
    assert (await counters.admit(ask(at + refused.retry_after_s, rpm=2), 0.0)).allowed


async def test_rph(make: Make) -> None:
    counters = await make()
    results = await admit_all(counters, [ask(T0 + i * 60, rph=2) for i in range(3)])
    assert [r.allowed for r in results] == [True, True, False]
    assert results[2].refused_by == "rph"
    assert results[2].requests is not None and results[2].requests.limit == 2
    assert results[2].retry_after_s == 3600.0
    assert not (await counters.admit(ask(T0 + 3600 + 1799, rph=2), 0.0)).allowed
    assert (await counters.admit(ask(T0 + 3600 + 1800, rph=2), 0.0)).allowed


async def test_rpm_is_the_request_header_state_when_both_are_set(make: Make) -> None:
    counters = await make()
    result = await counters.admit(ask(T0, rpm=5, rph=100), 0.0)
    assert result.requests is not None and result.requests.limit == 5
    refused = await admit_all(counters, [ask(T0 + 1, rpm=5, rph=2), ask(T0 + 2, rpm=5, rph=2)])
    assert refused[1].refused_by == "rph"
    assert refused[1].requests is not None and refused[1].requests.limit == 5


async def test_tpm_counts_the_estimate_and_settle_corrects_it(make: Make) -> None:
    counters = await make()
    first = await counters.admit(ask(T0, tpm=1000, tokens=400), 0.0)
    assert first.tokens is not None and first.tokens.remaining == 600
    await counters.admit(ask(T0 + 1, tpm=1000, tokens=400), 0.0)
    refused = await counters.admit(ask(T0 + 2, tpm=1000, tokens=400), 0.0)
    assert refused.refused_by == "tpm"
    assert refused.tokens is not None and refused.tokens.remaining == 200
    # the refused 400 were not counted: 200 still fit
    assert (await counters.admit(ask(T0 + 3, tpm=1000, tokens=200), 0.0)).allowed
    assert not (await counters.admit(ask(T0 + 4, tpm=1000, tokens=1), 0.0)).allowed
    # the first request used 100 of its 400: 300 come back
    await counters.settle(done(T0 + 5, tokens=400, actual_tokens=100))
    after = await counters.admit(ask(T0 + 6, tpm=1000, tokens=300), 0.0)
    assert after.allowed
    assert after.tokens is not None and after.tokens.remaining == 0
    # a request that used more than its estimate counts the surplus
    await counters.settle(done(T0 + 7, tokens=200, actual_tokens=700))
    later = await counters.admit(ask(T0 + 60 + 30, tpm=1000, tokens=1), 0.0)
    assert later.tokens is not None and later.tokens.remaining == 1000 - 750 - 1


async def test_a_request_larger_than_the_tpm_limit_is_refused_for_a_window(make: Make) -> None:
    counters = await make()
    refused = await counters.admit(ask(T0, tpm=1000, tokens=1001), 0.0)
    assert refused.refused_by == "tpm"
    assert refused.retry_after_s == 60.0


async def test_a_refused_request_consumes_no_limit(make: Make) -> None:
    counters = await make()
    first = await counters.admit(
        ask(T0, rpm=10, tpm=1000, parallel=5, reserve=0.6, budget=1.0), 0.0
    )
    assert first.allowed
    for i in range(5):  # the budget refuses each; rpm, tpm and the slots must not move
        result = await counters.admit(
            ask(T0 + i, rpm=10, tpm=1000, parallel=5, reserve=0.6, budget=1.0), 0.0
        )
        assert result.refused_by == "budget"
        assert result.requests is not None and result.requests.remaining == 9
        assert result.tokens is not None and result.tokens.remaining == 900
    spend = await counters.spend(KEY, "total", 0.0)
    assert spend.reserved_usd == pytest.approx(0.6)
    small = [ask(T0 + 10, rpm=10, parallel=5, reserve=0.1, budget=1.0) for _ in range(4)]
    assert all(r.allowed for r in await admit_all(counters, small))  # 4 more slots were free


async def test_parallel_slots_are_taken_and_given_back(make: Make) -> None:
    counters = await make()
    results = await admit_all(counters, [ask(T0 + i, parallel=2) for i in range(3)])
    assert [r.allowed for r in results] == [True, True, False]
    assert results[2].refused_by == "parallel"
    assert results[2].retry_after_s == rl.PARALLEL_RETRY_S
    await counters.settle(done(T0 + 3, parallel=True))
    assert (await counters.admit(ask(T0 + 4, parallel=2), 0.0)).allowed
    assert not (await counters.admit(ask(T0 + 5, parallel=2), 0.0)).allowed


async def test_a_slot_never_given_back_expires(make: Make) -> None:
    counters = await make()
    assert (await counters.admit(ask(T0, parallel=1), 0.0)).allowed
    assert not (await counters.admit(ask(T0 + rl.SLOT_TTL_S - 1, parallel=1), 0.0)).allowed
    assert (await counters.admit(ask(T0 + rl.SLOT_TTL_S, parallel=1), 0.0)).allowed


async def test_budget_refuses_at_the_cap_and_settle_corrects_the_reservation(make: Make) -> None:
    counters = await make()
    results = await admit_all(counters, [ask(T0 + i, reserve=0.4, budget=1.0) for i in range(3)])
    assert [r.allowed for r in results] == [True, True, False]
    assert results[2].refused_by == "budget"
    assert results[2].retry_after_s == rl.RESERVED_RETRY_S  # held by requests in flight
    # cheaper than reserved: the difference is free again (0.1 + 0.4 + 0.4 <= 1.0)
    await counters.settle(done(T0 + 3, reserved=0.4, actual=0.1))
    assert (await counters.admit(ask(T0 + 4, reserve=0.4, budget=1.0), 0.0)).allowed
    spend = await counters.spend(KEY, "total", 0.0)
    assert spend.spent_usd == pytest.approx(0.1)
    assert spend.reserved_usd == pytest.approx(0.8)
    # dearer than reserved: all of it is spent
    await counters.settle(done(T0 + 5, reserved=0.4, actual=0.55))
    await counters.settle(done(T0 + 6, reserved=0.4, actual=0.4))
    spend = await counters.spend(KEY, "total", 0.0)
    assert spend.spent_usd == pytest.approx(1.05)
    assert spend.reserved_usd == 0.0
    exhausted = await counters.admit(ask(T0 + 7, reserve=0.0, budget=1.0), 0.0)
    assert exhausted.refused_by == "budget"
    assert exhausted.spent_usd == pytest.approx(1.05)
    assert exhausted.retry_after_s == rl.TOTAL_BUDGET_RETRY_S


async def test_a_daily_budget_refuses_until_the_day_ends(make: Make) -> None:
    counters = await make()
    day = datetime(2027, 1, 15, tzinfo=UTC).timestamp()
    window = "d20270115"
    assert (
        await counters.admit(ask(day + 10, reserve=2.0, budget=2.0, window=window), day)
    ).allowed
    await counters.settle(done(day + 20, reserved=2.0, actual=2.0, window=window))
    refused = await counters.admit(ask(day + 3600, reserve=0.01, budget=2.0, window=window), day)
    assert refused.refused_by == "budget"
    assert refused.retry_after_s == 86_400 - 3600
    # the next day is a new window
    tomorrow = ask(day + 86_400 + 1, reserve=0.01, budget=2.0, window="d20270116")
    assert (await counters.admit(tomorrow, day + 86_400)).allowed
    assert (await counters.spend(KEY, window, day)).spent_usd == pytest.approx(2.0)


async def test_spend_is_counted_without_a_budget(make: Make) -> None:
    counters = await make()
    await counters.admit(ask(T0, reserve=0.3), 0.0)
    assert (await counters.spend(KEY, "total", 0.0)).reserved_usd == pytest.approx(0.3)
    await counters.settle(done(T0 + 1, reserved=0.3, actual=0.25))
    await counters.settle(done(T0 + 2, reserved=0.0, actual=0.5))
    spend = await counters.spend(KEY, "total", 0.0)
    assert spend.key_id == KEY and spend.window == "total"
    assert spend.spent_usd == pytest.approx(0.75)
    assert spend.reserved_usd == 0.0
    assert (await counters.spend("vk_other", "total", 0.0)).spent_usd == 0.0


async def test_a_window_starts_from_the_durable_spend_record(make: Make) -> None:
    source = FixedSpend(0.75)
    counters = await make(source)
    refused = await counters.admit(ask(T0, reserve=0.5, budget=1.0), 0.0)
    assert refused.refused_by == "budget"
    assert refused.spent_usd == 0.75
    allowed = await counters.admit(ask(T0 + 1, reserve=0.25, budget=1.0), 0.0)
    assert allowed.allowed
    assert (await counters.spend(KEY, "total", 0.0)).spent_usd == 0.75
    assert source.calls == [(KEY, 0.0)]  # loaded once, then kept


async def test_keys_are_counted_apart(make: Make) -> None:
    counters = await make()
    assert (await counters.admit(ask(T0, rpm=1, key="vk_a"), 0.0)).allowed
    assert (await counters.admit(ask(T0, rpm=1, key="vk_b"), 0.0)).allowed
    assert not (await counters.admit(ask(T0, rpm=1, key="vk_a"), 0.0)).allowed


@pytest.mark.parametrize("make", ["sqlite", "redis"], indirect=True)
async def test_a_reservation_never_settled_expires(make: Make) -> None:
    """A process that died with a request in flight does not hold the budget forever."""
    counters = await make()
    assert (await counters.admit(ask(T0, reserve=1.0, budget=1.0), 0.0)).allowed
    lifetime = rl.RESERVATION_BUCKETS * rl.RESERVATION_BUCKET_S
    assert not (await counters.admit(ask(T0 + lifetime - 1, reserve=1.0, budget=1.0), 0.0)).allowed
    assert (await counters.admit(ask(T0 + lifetime, reserve=1.0, budget=1.0), 0.0)).allowed
    # a late settle of the lost request cannot release more than is held
    await counters.settle(done(T0 + lifetime + 1, reserved=1.5, actual=0.0))
    assert (await counters.spend(KEY, "total", 0.0)).reserved_usd == 0.0
