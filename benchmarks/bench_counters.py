"""Per-admission cost of the counters (admit + settle, every limit and a budget set), per backend,
each next to a baseline measured in the same run:

- LocalCounters: a dict lookup (the least an in-process limiter does);
- SqliteCounters: two empty `BEGIN IMMEDIATE; COMMIT` through the same worker thread (an
  admission and a settle are one transaction each);
- RedisCounters: two PING round trips on the same client (an admission and a settle are one
  EVALSHA each), against Redis on 127.0.0.1:6379 under a key prefix of its own.

Medians over rounds, arms interleaved in each round.

    python benchmarks/bench_counters.py [--ops 2000] [--rounds 7] [--redis redis://127.0.0.1:6379]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis.asyncio as redis

from gateway.store.base import Admission, Counters, Settlement
from gateway.store.counters_local import LocalCounters
from gateway.store.counters_redis import RedisCounters, fail_fast_client
from gateway.store.counters_sqlite import SqliteCounters

Step = Callable[[int], Awaitable[float]]  # runs `ops` operations, returns the seconds to count


class NoSpend:
    async def spent_since(self, key_id: str, since: float) -> float:
        return 0.0


def admission(key_id: str, now: float) -> Admission:
    return Admission(
        key_id=key_id,
        now=now,
        rpm=1_000_000_000,
        rph=1_000_000_000,
        tpm=1_000_000_000,
        max_parallel=1_000_000,
        tokens_estimate=1200,
        reserve_usd=0.02,
        budget_usd=1_000_000.0,
        budget_window="total",
    )


def settlement(key_id: str, now: float) -> Settlement:
    return Settlement(key_id, now, "total", 0.02, 0.013, 1200, 700, True)


def counters_step(counters: Counters, key_id: str, *, admit_only: bool = False) -> Step:
    """admit + settle, timed together; or with `admit_only` only the admission, the part on the
    request's hot path (settle runs after the response)."""

    async def step(ops: int) -> float:
        counted = 0.0
        started = time.perf_counter()
        for _ in range(ops):
            now = time.time()
            ask = admission(key_id, now)
            begun = time.perf_counter()
            result = await counters.admit(ask, 0.0)
            if admit_only:
                counted += time.perf_counter() - begun
            assert result.allowed
            await counters.settle(settlement(key_id, now))
        return counted if admit_only else time.perf_counter() - started

    return step


def timed(run: Callable[[int], Awaitable[None]]) -> Step:
    async def step(ops: int) -> float:
        started = time.perf_counter()
        await run(ops)
        return time.perf_counter() - started

    return step


async def measure(arms: dict[str, Step], ops: int, rounds: int) -> dict[str, float]:
    """Median microseconds per operation of each arm; arms interleaved, rotating order."""
    samples: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for name in names:  # warm up: connections, scripts, first budget load
        await arms[name](max(ops // 10, 10))
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            samples[name].append(await arms[name](ops) / ops * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def local_arms() -> dict[str, Step]:
    table = {f"vk_{i}": i for i in range(1000)}

    async def lookup(ops: int) -> None:
        for _ in range(ops):
            table.get("vk_500")

    return {
        "local": counters_step(LocalCounters(), "vk_bench"),
        "admit": counters_step(LocalCounters(), "vk_bench", admit_only=True),
        "local-baseline": timed(lookup),
    }


def sqlite_arms(path: Path) -> tuple[dict[str, Step], Callable[[], Awaitable[None]]]:
    counters = SqliteCounters(path)
    executor = ThreadPoolExecutor(max_workers=1)
    connection: list[sqlite3.Connection] = []

    def empty_transaction() -> None:
        if not connection:
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            connection.append(db)
        connection[0].execute("BEGIN IMMEDIATE")
        connection[0].execute("COMMIT")

    async def baseline(ops: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(ops):
            await loop.run_in_executor(executor, empty_transaction)
            await loop.run_in_executor(executor, empty_transaction)

    async def close() -> None:
        await counters.close()
        if connection:
            await asyncio.get_running_loop().run_in_executor(executor, connection[0].close)
        executor.shutdown()

    arms = {"sqlite": counters_step(counters, "vk_bench"), "sqlite-baseline": timed(baseline)}
    return arms, close


def redis_arms(client: redis.Redis, prefix: str) -> tuple[dict[str, Step], Counters]:
    counters = RedisCounters(client, NoSpend(), prefix=prefix)

    async def baseline(ops: int) -> None:
        for _ in range(ops):
            await client.ping()
            await client.ping()

    arms = {"redis": counters_step(counters, "vk_bench"), "redis-baseline": timed(baseline)}
    return arms, counters


def report(label: str, figures: dict[str, float], arm: str, note: str) -> None:
    cost, base = figures[arm], figures[f"{arm}-baseline"]
    print(
        f"{label:<16} {cost:>10.2f} us   baseline {base:>9.3f} us ({note})   "
        f"ratio {cost / base:>7.1f}x   over baseline {cost - base:>8.2f} us"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="admissions per arm and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"load avg {load:.2f}, {os.cpu_count()} CPUs, {args.ops} ops x {args.rounds} rounds")
    print("per admission = admit + settle with rpm, rph, tpm, max_parallel and a budget set\n")

    local = await measure(local_arms(), args.ops * 10, args.rounds)
    report("LocalCounters", local, "local", "dict lookup")
    local["admit-baseline"] = local["local-baseline"]
    report("  admit alone", local, "admit", "dict lookup")

    with tempfile.TemporaryDirectory() as directory:
        arms, close = sqlite_arms(Path(directory) / "counters.db")
        sqlite_figures = await measure(arms, args.ops, args.rounds)
        await close()
    report("SqliteCounters", sqlite_figures, "sqlite", "2 empty txns")

    client = fail_fast_client(args.redis, timeout_s=5.0)
    prefix = f"sfbench-{uuid.uuid4().hex}"
    try:
        await client.ping()
    except (redis.ConnectionError, OSError) as error:
        print(f"RedisCounters    skipped: {args.redis} unreachable ({error})")
    else:
        arms, counters = redis_arms(client, prefix)
        redis_figures = await measure(arms, args.ops, args.rounds)
        report("RedisCounters", redis_figures, "redis", "2 PINGs")
        await counters.close()
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
