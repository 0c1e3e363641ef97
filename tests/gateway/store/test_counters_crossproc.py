"""Two OS processes (multiprocessing, spawn) admitting against one key at the same moment, through
Redis (the shared server on 127.0.0.1:6379, under a prefix of this test's own) and through one
SQLite file: limits and budgets hold across processes exactly."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.store.base import Admission, Counters, Settlement
from gateway.store.counters_redis import RedisCounters, fail_fast_client
from gateway.store.counters_sqlite import SqliteCounters

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600
KEY = "vk_crossproc"
REDIS_URL = "redis://127.0.0.1:6379"
RPM = 50
CAP_USD = 10.0
RESERVE_USD = 0.25  # exact in binary: the sums below are exact too


class NoSpend:
    async def spent_since(self, key_id: str, since: float) -> float:
        return 0.0


@dataclass(frozen=True)
class Target:
    backend: str  # "redis" | "sqlite"
    where: str  # key prefix | database path


def build(target: Target) -> tuple[Counters, Any]:
    if target.backend == "redis":
        client = fail_fast_client(REDIS_URL, timeout_s=5.0)
        return RedisCounters(client, NoSpend(), prefix=target.where), client
    return SqliteCounters(target.where), None


def admission(now: float, *, rpm: int | None = None, budget: float | None = None) -> Admission:
    return Admission(
        key_id=KEY,
        now=now,
        rpm=rpm,
        rph=None,
        tpm=None,
        max_parallel=None,
        tokens_estimate=100,
        reserve_usd=RESERVE_USD if budget is not None else 0.0,
        budget_usd=budget,
        budget_window="total",
    )


async def _work(target: Target, job: str, count: int, barrier: Any) -> list[bool]:
    counters, client = build(target)
    if job == "rpm":
        asks = [admission(T0 + 1 + i / 1000, rpm=RPM) for i in range(count)]
    else:
        asks = [admission(T0 + 1 + i / 1000, budget=CAP_USD) for i in range(count)]
    await counters.spend(KEY, "total", 0.0)  # connect (and load the scripts) before the start
    barrier.wait()  # both processes start admitting at the same moment
    results = await asyncio.gather(*(counters.admit(a, 0.0) for a in asks))
    if job == "budget":
        await asyncio.gather(
            *(
                counters.settle(
                    Settlement(KEY, T0 + 2, "total", RESERVE_USD, RESERVE_USD, 100, 100, False)
                )
                for result in results
                if result.allowed
            )
        )
    await counters.close()
    if client is not None:
        await client.aclose()
    return [result.allowed for result in results]


def worker(target: Target, job: str, count: int, barrier: Any, out: Any) -> None:
    out.put(asyncio.run(_work(target, job, count, barrier)))


def run_two(target: Target, job: str, count: int) -> list[bool]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    out = context.Queue()
    processes = [
        context.Process(target=worker, args=(target, job, count, barrier, out)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        allowed: list[bool] = out.get(timeout=60) + out.get(timeout=60)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0, 0]
    return allowed


@pytest.fixture(params=["redis", "sqlite"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    if request.param == "sqlite":
        yield Target("sqlite", str(tmp_path / "counters.db"))
        return
    prefix = f"sftest-{uuid.uuid4().hex}"
    yield Target("redis", prefix)
    client = fail_fast_client(REDIS_URL, timeout_s=5.0)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_exactly_rpm_admissions_succeed_across_two_processes(target: Target) -> None:
    allowed = await asyncio.to_thread(run_two, target, "rpm", 60)
    assert len(allowed) == 120
    assert sum(allowed) == RPM


async def test_concurrent_reservations_never_exceed_the_budget(target: Target) -> None:
    allowed = await asyncio.to_thread(run_two, target, "budget", 50)
    assert len(allowed) == 100
    assert sum(allowed) * RESERVE_USD <= CAP_USD
    assert sum(allowed) == int(CAP_USD / RESERVE_USD)  # and the budget is used up exactly
    counters, client = build(target)
    spend = await counters.spend(KEY, "total", 0.0)
    assert spend.spent_usd == sum(allowed) * RESERVE_USD
    assert spend.spent_usd <= CAP_USD
    assert spend.reserved_usd == 0.0
    await counters.close()
    if client is not None:
        await client.aclose()
