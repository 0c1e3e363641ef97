"""The audit log's cost: `submit()` on the hot path, and write throughput into each store.

Baselines measured in the same run: `asyncio.Queue.put_nowait` (the least a hand-off to a
background writer can cost) for `submit()`, and a plain `executemany` INSERT ... ON CONFLICT DO
NOTHING for the PostgreSQL COPY path. Medians over rounds; each write round starts from an empty
table. Creates its own PostgreSQL database and drops it.

    python benchmarks/bench_audit.py [--submits 200000] [--records 50000] [--rounds 5] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from pathlib import Path

import asyncpg

from gateway.core.audit import AuditPage, AuditQuery, AuditRecord, Cursor, GroupBy, SpendRow
from gateway.observability.audit import AuditSink
from gateway.store.audit_base import AuditStore
from gateway.store.audit_postgres import COLUMNS, PostgresAuditStore, as_row
from gateway.store.audit_sqlite import SqliteAuditStore

BATCH = 500
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def records(count: int, start: float = 1_795_300_000.0) -> list[AuditRecord]:
    tag = secrets.token_hex(4)
    return [
        AuditRecord(
            ts=start + i / 1000,
            request_id=f"req_{tag}_{i:08d}",
            key_id=("key_alpha", "key_beta", None)[i % 3],
            model_requested="gpt-4o-mini",
            model_served="gpt-4o-mini-2024-07-18",
            provider="openai",
            route="chat",
            status=200,
            stream=i % 4 == 0,
            prompt_tokens=128,
            completion_tokens=42,
            cached_tokens=None,
            cost_usd=0.0000444,
            latency_ms=412.7,
            upstream_ms=411.9,
            overhead_ms=0.8,
            cache="miss",
            compliance="pass",
            client_ip="10.0.3.17",
            error_code=None,
        )
        for i in range(count)
    ]


def submit_cost_ns(batch: list[AuditRecord], rounds: int, spill_dir: Path) -> tuple[float, float]:
    """(put_nowait ns, submit ns) per record; arms interleaved, medians over rounds."""

    async def measure() -> tuple[float, float]:
        base: list[float] = []
        ours: list[float] = []
        for _ in range(rounds):
            queue: asyncio.Queue[AuditRecord] = asyncio.Queue()
            started = time.perf_counter_ns()
            for record in batch:
                queue.put_nowait(record)
            base.append((time.perf_counter_ns() - started) / len(batch))
            sink = AuditSink(
                _NullStore(), spill_path=spill_dir / "spill.jsonl", max_queue=len(batch) + 1
            )
            started = time.perf_counter_ns()
            for record in batch:
                sink.submit(record)
            ours.append((time.perf_counter_ns() - started) / len(batch))
        return statistics.median(base), statistics.median(ours)

    return asyncio.run(measure())


class _NullStore:
    """Never reached: the sink is not started while submit() is timed."""

    async def write_batch(self, records: Sequence[AuditRecord]) -> None:
        return None

    async def query(self, filters: AuditQuery, cursor: Cursor | None, limit: int) -> AuditPage:
        return AuditPage((), None)

    async def spend(
        self, group_by: GroupBy, since: float | None, until: float | None, key_id: str | None = None
    ) -> Sequence[SpendRow]:
        return []

    async def spent_since(self, key_id: str, since: float) -> float:
        return 0.0

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def throughput(
    write: Callable[[list[AuditRecord]], Awaitable[None]],
    reset: Callable[[], Awaitable[None]],
    count: int,
    rounds: int,
) -> float:
    """Records per second writing `count` records in batches of BATCH, median over rounds."""
    rates: list[float] = []
    for round_ in range(rounds):
        await reset()
        batch = records(count, start=1_795_300_000.0 + round_)
        started = time.perf_counter()
        for offset in range(0, count, BATCH):
            await write(batch[offset : offset + BATCH])
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


async def sink_throughput(
    store: AuditStore,
    reset: Callable[[], Awaitable[None]],
    count: int,
    rounds: int,
    spill_dir: Path,
) -> float:
    """End to end: submit `count` records, then close(): records/s until all are stored."""
    rates: list[float] = []
    for round_ in range(rounds):
        await reset()
        batch = records(count, start=1_795_400_000.0 + round_)
        sink = AuditSink(store, spill_path=spill_dir / "sink.jsonl", max_queue=count + 1)
        await sink.start()
        started = time.perf_counter()
        for record in batch:
            sink.submit(record)
        await sink.close()
        rates.append(count / (time.perf_counter() - started))
        assert sink.stats.written == count, sink.stats
    return statistics.median(rates)


async def bench_postgres(count: int, rounds: int, spill_dir: Path) -> list[tuple[str, float]]:
    name = f"smartflow_audit_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    store = await PostgresAuditStore.connect(f"{PG_SERVER}/{name}")
    plain = await asyncpg.connect(f"{PG_SERVER}/{name}")
    insert = (
        f"INSERT INTO audit_log ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))}) ON CONFLICT DO NOTHING"
    )

    async def reset() -> None:
        await plain.execute("TRUNCATE audit_log")

    async def executemany(batch: list[AuditRecord]) -> None:
        async with plain.transaction():
            await plain.executemany(insert, [as_row(r) for r in batch])

    try:
        base = await throughput(executemany, reset, count, rounds)
        copy = await throughput(store.write_batch, reset, count, rounds)
        sink = await sink_throughput(store, reset, count, rounds, spill_dir)
    finally:
        await plain.close()
        await store.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    return [
        ("PostgreSQL executemany (baseline)", base),
        ("PostgreSQL write_batch (COPY)", copy),
        ("PostgreSQL through AuditSink", sink),
    ]


async def bench_sqlite(count: int, rounds: int, spill_dir: Path) -> list[tuple[str, float]]:
    store = await SqliteAuditStore.open(spill_dir / "smartflow.db")

    async def reset() -> None:
        with closing(sqlite3.connect(spill_dir / "smartflow.db")) as connection:
            connection.execute("DELETE FROM audit_log")
            connection.commit()

    try:
        direct = await throughput(store.write_batch, reset, count, rounds)
        sink = await sink_throughput(store, reset, count, rounds, spill_dir)
    finally:
        await store.close()
    return [("SQLite write_batch", direct), ("SQLite through AuditSink", sink)]


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--submits", type=int, default=200_000)
    args.add_argument("--records", type=int, default=50_000)
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    options = args.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spill_dir = Path(tmp)
        base, ours = submit_cost_ns(records(options.submits), options.rounds, spill_dir)
        print(f"{'hot path, per record':<40}{'ns':>10}{'x baseline':>12}")
        print(f"{'asyncio.Queue.put_nowait (baseline)':<40}{base:>10.0f}{1.0:>12.2f}")
        print(f"{'AuditSink.submit':<40}{ours:>10.0f}{ours / base:>12.2f}")
        print()
        rows: list[tuple[str, float]] = []
        if not options.no_pg:
            rows += asyncio.run(bench_postgres(options.records, options.rounds, spill_dir))
        rows += asyncio.run(bench_sqlite(options.records, options.rounds, spill_dir))
        first = rows[0][1]
        print(f"{f'writes, batches of {BATCH}':<40}{'records/s':>10}{'x first':>12}")
        for name, rate in rows:
            print(f"{name:<40}{rate:>10.0f}{rate / first:>12.2f}")


if __name__ == "__main__":
    main()
