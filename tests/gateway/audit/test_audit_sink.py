"""The audit sink never loses a record: store outages, a full queue, shutdown, crashes."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from audit_records import make_record, make_records, pg_fetch

from gateway.core.audit import AuditRecord
from gateway.observability.audit import AuditEvent, AuditSink, SpillFile
from gateway.store.audit_postgres import PostgresAuditStore

PG_PORT = 5432
DEADLINE_S = 60.0  # a bound on waiting for background work, not a speed requirement


class Forwarder:
    """A TCP proxy 127.0.0.1:<port> -> PostgreSQL that can be cut (listener closed and live
    connections reset) and restored on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False

    async def start(self) -> None:
        self._stopped = False
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._stopped = True
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", PG_PORT)
        if self._stopped:  # cut while this connection was being set up
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._writers.add(up_writer)
        for source, target in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                target.write(data)
                await target.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            target.transport.abort()
            self._writers.discard(target)


@pytest.fixture
async def forwarder() -> AsyncIterator[Forwarder]:
    proxy = Forwarder()
    await proxy.start()
    try:
        yield proxy
    finally:
        if proxy._server is not None:
            await proxy.stop()


async def wait_for(
    condition: Callable[[], Awaitable[bool]], what: str, sink: AuditSink | None = None
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await condition():
        if loop.time() > deadline:
            state = (
                f" ({sink.stats}, queued {sink.queued}, store up: {sink.store_up})" if sink else ""
            )
            raise AssertionError(f"gave up waiting: {what}{state}")
        await asyncio.sleep(0.02)


async def stored_ids(dsn: str) -> list[str]:
    rows = await pg_fetch(dsn, "SELECT request_id FROM audit_log")
    return [row["request_id"] for row in rows]


def spill_lines(path: Path) -> list[AuditRecord]:
    if not path.exists():
        return []
    return [AuditRecord.from_json(line) for line in path.read_bytes().splitlines() if line.strip()]


def via(forwarder: Forwarder, dsn: str) -> str:
    return dsn.replace(f":{PG_PORT}/", f":{forwarder.port}/")


async def test_postgres_down_then_back_loses_nothing(
    pg_store: PostgresAuditStore, pg_database: str, forwarder: Forwarder, tmp_path: Path
) -> None:
    store = await PostgresAuditStore.connect(
        via(forwarder, pg_database), command_timeout_s=5, connect_timeout_s=2
    )
    events: Counter[AuditEvent] = Counter()
    spill = tmp_path / "spill" / "audit.jsonl"
    sink = AuditSink(
        store,
        spill_path=spill,
        batch_size=100,
        flush_interval_s=0.02,
        retry_initial_s=0.05,
        retry_max_s=0.2,
        on_count=lambda event, n: events.update({event: n}),
    )
    await sink.start()
    try:
        before = make_records(250)
        for record in before:
            sink.submit(record)

        async def first_written() -> bool:
            return events["written"] == 250 and len(await stored_ids(pg_database)) == 250

        await wait_for(first_written, "the first records in PostgreSQL")

        await forwarder.stop()  # PostgreSQL unreachable: live connections reset, port refused
        during = make_records(700, start=250)
        for start in range(0, 700, 70):  # arriving over time, as requests finish
            for record in during[start : start + 70]:
                sink.submit(record)
            await asyncio.sleep(0.01)

        async def all_spilled() -> bool:
            return sink.stats.spilled == 700

        await wait_for(all_spilled, "records spilled while PostgreSQL is down", sink)
        assert not sink.store_up
        assert {r.request_id for r in spill_lines(spill)} == {r.request_id for r in during}

        await forwarder.start()  # back, on the same port
        after = make_records(50, start=950)
        for record in after:
            sink.submit(record)

        async def replayed() -> bool:
            acknowledged = events["written"] + events["replayed"] == 1000
            return (
                acknowledged
                and not sink.spill.pending()
                and len(await stored_ids(pg_database)) == 1000
            )

        await wait_for(replayed, "the spill file replayed into PostgreSQL", sink)
        ids = await stored_ids(pg_database)
        assert sorted(ids) == sorted(r.request_id for r in before + during + after)  # each once
        assert not spill.exists() and not sink.spill.replaying.exists()
        assert sink.store_up
        # `after` may have arrived before the sink saw PostgreSQL back: spilled, then replayed
        assert events["replayed"] == events["spilled"] >= 700
        assert events["written"] + events["replayed"] == 1000
        assert events["rejected"] == events["lost"] == events["unreadable"] == 0
    finally:
        await sink.close()
        await store.close()


async def test_full_queue_spills_and_nothing_is_dropped(
    pg_store: PostgresAuditStore, pg_database: str, tmp_path: Path
) -> None:
    spill = tmp_path / "audit.jsonl"
    sink = AuditSink(pg_store, spill_path=spill, max_queue=50, batch_size=20, flush_interval_s=0.02)
    records = make_records(200)
    for record in records:  # before start: nothing drains the queue
        sink.submit(record)
    assert sink.queued == 50
    assert [r.request_id for r in spill_lines(spill)] == [
        r.request_id for r in records[50:]
    ]  # in order
    await sink.start()
    try:

        async def done() -> bool:
            return not sink.spill.pending() and len(await stored_ids(pg_database)) == 200

        await wait_for(done, "queue written and spill replayed")
        assert sorted(await stored_ids(pg_database)) == sorted(r.request_id for r in records)
    finally:
        await sink.close()


async def test_close_writes_everything_queued(
    pg_store: PostgresAuditStore, pg_database: str, tmp_path: Path
) -> None:
    spill = tmp_path / "audit.jsonl"
    # nothing would be written before close: the interval is long and no batch fills up
    sink = AuditSink(pg_store, spill_path=spill, batch_size=10_000, flush_interval_s=3600)
    await sink.start()
    records = make_records(1234)
    for record in records:
        sink.submit(record)
    await asyncio.sleep(0)
    assert await stored_ids(pg_database) == []
    await sink.close()
    assert sorted(await stored_ids(pg_database)) == sorted(r.request_id for r in records)
    assert not spill.exists()
    late = make_record(5000)
    sink.submit(late)  # after close: kept in the spill file for the next start
    assert spill_lines(spill) == [late]


async def test_close_while_postgres_is_down_spills_then_next_start_replays(
    pg_store: PostgresAuditStore, pg_database: str, forwarder: Forwarder, tmp_path: Path
) -> None:
    spill = tmp_path / "audit.jsonl"
    store = await PostgresAuditStore.connect(
        via(forwarder, pg_database), command_timeout_s=5, connect_timeout_s=2
    )
    sink = AuditSink(store, spill_path=spill, flush_interval_s=3600, write_timeout_s=2)
    await sink.start()
    records = make_records(300)
    for record in records:
        sink.submit(record)
    await forwarder.stop()
    await sink.close()  # SIGTERM while the database is unreachable
    await store.close()
    assert sorted(r.request_id for r in spill_lines(spill)) == sorted(r.request_id for r in records)
    assert await stored_ids(pg_database) == []

    restarted = AuditSink(pg_store, spill_path=spill, flush_interval_s=0.02)
    await restarted.start()
    try:

        async def replayed() -> bool:
            return not restarted.spill.pending()

        await wait_for(replayed, "the leftover spill file replayed")
        assert sorted(await stored_ids(pg_database)) == sorted(r.request_id for r in records)
    finally:
        await restarted.close()


async def test_leftovers_of_a_crash_are_replayed_at_start(
    pg_store: PostgresAuditStore, pg_database: str, tmp_path: Path
) -> None:
    spill_path = tmp_path / "audit.jsonl"
    files = SpillFile(spill_path)
    mid_replay = make_records(120)
    already = mid_replay[:40]
    await pg_store.write_batch(already)  # the crashed process had replayed these before dying
    files.replaying.write_bytes(b"".join(r.to_json() + b"\n" for r in mid_replay))
    spilled = make_records(80, start=120)
    files.append(spilled[:50], fsync=True)
    torn = spilled[50].to_json()[:57]  # the process died in the middle of this append
    with spill_path.open("ab") as file:
        file.write(torn)
    files.append(spilled[51:], fsync=True)

    sink = AuditSink(pg_store, spill_path=spill_path, batch_size=25, flush_interval_s=0.02)
    await sink.start()
    try:

        async def replayed() -> bool:
            return not sink.spill.pending()

        await wait_for(replayed, "crash leftovers replayed")
        expected = [r.request_id for r in mid_replay + spilled if r is not spilled[50]]
        assert sorted(await stored_ids(pg_database)) == sorted(expected)
        assert sink.stats.unreadable == 1
        assert files.rejected.read_bytes().strip() == torn  # set aside for an operator, not dropped
    finally:
        await sink.close()


async def test_a_record_the_store_refuses_is_set_aside_and_the_rest_written(
    pg_store: PostgresAuditStore, pg_database: str, tmp_path: Path
) -> None:
    spill_path = tmp_path / "audit.jsonl"
    sink = AuditSink(pg_store, spill_path=spill_path, batch_size=50, flush_interval_s=0.02)
    await sink.start()
    good = make_records(99)
    poison = make_record(99, prompt_tokens=2**70)  # no bigint holds it
    try:
        for record in [*good[:40], poison, *good[40:]]:
            sink.submit(record)

        async def written() -> bool:
            return sink.stats.written == 99 and len(await stored_ids(pg_database)) == 99

        await wait_for(written, "the good records written")
        assert sink.store_up
        assert spill_lines(sink.spill.rejected) == [poison]
        assert sink.stats.rejected == 1 and sink.stats.written == 99
        assert not spill_path.exists()
    finally:
        await sink.close()


def test_spill_file_appends_racing_replays_lose_nothing(tmp_path: Path) -> None:
    """Appenders (threads here, processes in production: the same lock) race a replayer."""
    files = SpillFile(tmp_path / "audit.jsonl")
    writers, per_writer = 4, 300
    replayed: list[AuditRecord] = []
    done = threading.Event()

    def append(worker: int) -> None:
        for i in range(per_writer):
            files.append([make_record(worker * per_writer + i)], fsync=False)

    def replay() -> None:
        while not done.is_set() or files.pending():
            with files.replay_lock() as held:
                if held and files.claim():
                    replayed.extend(spill_lines(files.replaying))
                    files.finish()

    threads = [threading.Thread(target=append, args=(w,)) for w in range(writers)]
    replayer = threading.Thread(target=replay)
    replayer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    replayer.join()
    assert len(replayed) == writers * per_writer
    assert len({r.request_id for r in replayed}) == writers * per_writer


async def test_a_store_too_slow_to_answer_is_down_not_refusing(
    pg_store: PostgresAuditStore, pg_database: str, tmp_path: Path
) -> None:
    """A write stuck behind a lock times out: the batch is spilled and retried, never rejected."""
    sink = AuditSink(
        pg_store,
        spill_path=tmp_path / "audit.jsonl",
        flush_interval_s=0.02,
        write_timeout_s=0.3,
        retry_initial_s=0.05,
        retry_max_s=0.2,
    )
    blocker = await asyncpg.connect(pg_database)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
    await sink.start()
    records = make_records(100)
    try:
        for record in records:
            sink.submit(record)

        async def spilled() -> bool:
            return sink.stats.spilled == 100

        await wait_for(spilled, "records spilled while writes time out", sink)
        await transaction.rollback()  # the lock goes away

        async def replayed() -> bool:
            return not sink.spill.pending() and sink.stats.replayed == 100

        await wait_for(replayed, "the spill file replayed", sink)
        assert sorted(await stored_ids(pg_database)) == sorted(r.request_id for r in records)
        assert sink.stats.rejected == 0 and not sink.spill.rejected.exists()
    finally:
        await blocker.close()
        await sink.close()
