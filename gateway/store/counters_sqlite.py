"""Counters shared by the embedded `--workers` processes through one SQLite file.

Each admission and each settle is one `BEGIN IMMEDIATE` transaction (SQLite's write lock makes it
atomic across processes), run on one dedicated thread per process so the event loop never blocks.
The decision is the in-process backend's (`refusals`, `admission_result`), so the answers are the
same. Slots expire SLOT_TTL_S after admission and reservations after RESERVATION_BUCKETS minutes:
a worker that dies with requests in flight frees them by then.

Tables (created here, IF NOT EXISTS; a separate file from the main store keeps this hot write
lock away from other writers):
- counter_windows(key_id, name, idx, cur, prev): one sliding window per key and limit;
- counter_slots(key_id, expires_at): one row per parallel slot held;
- counter_spend(key_id, budget_window, spent): settled spend in nano-USD, one row per key and
  budget window (kept: it is a spend record, and small);
- counter_reserved(key_id, budget_window, bucket, amount): reservations in flight, per minute.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.core import ratelimit as rl
from gateway.store.base import (
    Admission,
    AdmissionResult,
    Settlement,
    Spend,
    SpendSource,
)
from gateway.store.counters_local import HOUR, MINUTE, Usage, admission_result, refusals
from gateway.store.sqlite import use_wal

T = TypeVar("T")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS counter_windows (
        key_id TEXT NOT NULL, name TEXT NOT NULL,
        idx INTEGER NOT NULL, cur INTEGER NOT NULL, prev INTEGER NOT NULL,
        PRIMARY KEY (key_id, name)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS counter_slots (
        key_id TEXT NOT NULL, expires_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS counter_slots_key ON counter_slots (key_id, expires_at)",
    """CREATE TABLE IF NOT EXISTS counter_spend (
        key_id TEXT NOT NULL, budget_window TEXT NOT NULL, spent INTEGER NOT NULL,
        PRIMARY KEY (key_id, budget_window)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS counter_reserved (
        key_id TEXT NOT NULL, budget_window TEXT NOT NULL, bucket INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        PRIMARY KEY (key_id, budget_window, bucket)) WITHOUT ROWID""",
)

UPSERT_WINDOW = """INSERT INTO counter_windows VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (key_id, name) DO UPDATE SET idx = excluded.idx, cur = excluded.cur,
    prev = excluded.prev"""


class _Missing(Exception):
    """The budget window has no row yet and must be loaded from the spend source first."""


def _begin(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def _spent(db: sqlite3.Connection, key_id: str, window: str, create: bool) -> int:
    row = db.execute(
        "SELECT spent FROM counter_spend WHERE key_id = ? AND budget_window = ?", (key_id, window)
    ).fetchone()
    if row is not None:
        return int(row[0])
    if not create:
        raise _Missing
    db.execute("INSERT INTO counter_spend VALUES (?, ?, 0)", (key_id, window))
    return 0


def _reserved(db: sqlite3.Connection, key_id: str, window: str, now: float) -> int:
    db.execute(
        "DELETE FROM counter_reserved WHERE key_id = ? AND bucket < ?",
        (key_id, rl.oldest_live_bucket(now)),
    )
    row = db.execute(
        "SELECT coalesce(sum(amount), 0) FROM counter_reserved"
        " WHERE key_id = ? AND budget_window = ?",
        (key_id, window),
    ).fetchone()
    return int(row[0])


def _windows(db: sqlite3.Connection, key_id: str, now: float) -> dict[str, tuple[int, int]]:
    rows = db.execute(
        "SELECT name, idx, cur, prev FROM counter_windows WHERE key_id = ?", (key_id,)
    ).fetchall()
    return {
        name: rl.roll(idx, cur, prev, rl.window_index(now, rl.WINDOWS[name]))
        for name, idx, cur, prev in rows
    }


def _admit(db: sqlite3.Connection, a: Admission, create: bool) -> AdmissionResult:
    now = a.now
    spent = _spent(db, a.key_id, a.budget_window, create)
    windows = _windows(db, a.key_id, now)
    db.execute("DELETE FROM counter_slots WHERE key_id = ? AND expires_at <= ?", (a.key_id, now))
    (slots,) = db.execute(
        "SELECT count(*) FROM counter_slots WHERE key_id = ?", (a.key_id,)
    ).fetchone()
    u = Usage(
        rl.position(now, MINUTE)[1],
        rl.position(now, HOUR)[1],
        rpm=windows.get("rpm", (0, 0)),
        rph=windows.get("rph", (0, 0)),
        tpm=windows.get("tpm", (0, 0)),
        slots=int(slots),
        spent=spent,
        reserved=_reserved(db, a.key_id, a.budget_window, now),
    )
    reserve = rl.to_nano(a.reserve_usd)
    budget = rl.to_nano(a.budget_usd) if a.budget_usd is not None else None
    refused = refusals(a, u, reserve, budget)
    if not refused:
        counted = (
            ("rpm", a.rpm, MINUTE, u.rpm, 1),
            ("rph", a.rph, HOUR, u.rph, 1),
            ("tpm", a.tpm, MINUTE, u.tpm, a.tokens_estimate),
        )
        db.executemany(
            UPSERT_WINDOW,
            [
                (a.key_id, name, rl.window_index(now, size), prev_cur[1] + cost, prev_cur[0])
                for name, limit, size, prev_cur, cost in counted
                if limit is not None
            ],
        )
        if a.max_parallel is not None:
            db.execute("INSERT INTO counter_slots VALUES (?, ?)", (a.key_id, now + rl.SLOT_TTL_S))
        if reserve:
            db.execute(
                """INSERT INTO counter_reserved VALUES (?, ?, ?, ?)
                ON CONFLICT (key_id, budget_window, bucket)
                DO UPDATE SET amount = amount + excluded.amount""",
                (a.key_id, a.budget_window, rl.reservation_bucket(now), reserve),
            )
    return admission_result(a, u, refused, reserve, budget)


def _release(db: sqlite3.Connection, s: Settlement, amount: int) -> None:
    """Release `amount` of reservations, newest bucket first (a leaked one is old: it ages out)."""
    rows = db.execute(
        """SELECT bucket, amount FROM counter_reserved
        WHERE key_id = ? AND budget_window = ? AND bucket >= ? ORDER BY bucket DESC""",
        (s.key_id, s.budget_window, rl.oldest_live_bucket(s.now)),
    ).fetchall()
    for bucket, held in rows:
        if amount <= 0:
            break
        taken = min(held, amount)
        amount -= taken
        db.execute(
            "UPDATE counter_reserved SET amount = amount - ?"
            " WHERE key_id = ? AND budget_window = ? AND bucket = ?",
            (taken, s.key_id, s.budget_window, bucket),
        )
    db.execute("DELETE FROM counter_reserved WHERE key_id = ? AND amount <= 0", (s.key_id,))


def _settle(db: sqlite3.Connection, s: Settlement, create: bool) -> None:
    _spent(db, s.key_id, s.budget_window, create)
    if s.held_parallel:
        db.execute(
            """DELETE FROM counter_slots WHERE rowid = (SELECT rowid FROM counter_slots
            WHERE key_id = ? ORDER BY expires_at DESC LIMIT 1)""",
            (s.key_id,),
        )
    delta = s.actual_tokens - s.tokens_estimate
    tpm = _windows(db, s.key_id, s.now).get("tpm") if delta else None
    if tpm is not None and (tpm[0] or tpm[1]):
        prev, cur = rl.corrected(tpm[0], tpm[1], delta)
        db.execute(
            UPSERT_WINDOW,
            (s.key_id, "tpm", rl.window_index(s.now, MINUTE), cur, prev),
        )
    db.execute(
        "DELETE FROM counter_reserved WHERE key_id = ? AND bucket < ?",
        (s.key_id, rl.oldest_live_bucket(s.now)),
    )
    reserved = rl.to_nano(s.reserved_usd)
    if reserved:
        _release(db, s, reserved)
    db.execute(
        "UPDATE counter_spend SET spent = spent + ? WHERE key_id = ? AND budget_window = ?",
        (rl.to_nano(s.actual_usd), s.key_id, s.budget_window),
    )


def _spend(db: sqlite3.Connection, key_id: str, window: str) -> Spend:
    row = db.execute(
        "SELECT spent FROM counter_spend WHERE key_id = ? AND budget_window = ?", (key_id, window)
    ).fetchone()
    if row is None:
        raise _Missing
    # as of the key's last admission or settle, which pruned the expired ones (no clock here)
    reserved = db.execute(
        "SELECT coalesce(sum(amount), 0) FROM counter_reserved"
        " WHERE key_id = ? AND budget_window = ?",
        (key_id, window),
    ).fetchone()[0]
    return Spend(key_id, window, rl.to_usd(int(row[0])), rl.to_usd(int(reserved)))


class SqliteCounters:
    """Counters in the SQLite file at `path`, atomic across every process that opens it. With a
    `spend_source`, a budget window with no row starts from the durable spend record."""

    def __init__(
        self,
        path: Path | str,
        *,
        spend_source: SpendSource | None = None,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self._path = str(path)
        self._spend_source = spend_source
        self._busy_timeout_s = busy_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sf-counters")
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, timeout=self._busy_timeout_s, isolation_level=None)
            use_wal(db, self._busy_timeout_s)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")

            def create(db: sqlite3.Connection) -> None:
                for statement in SCHEMA:
                    db.execute(statement)

            _begin(db, create)
            self._db = db
        return self._db

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def job() -> T:
            return _begin(self._connection(), work)

        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def _load(self, key_id: str, window: str, start: float) -> None:
        """Create a missing budget row from the spend source; a concurrent creator wins."""
        assert self._spend_source is not None
        spent = rl.to_nano(await self._spend_source.spent_since(key_id, start))

        def create(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO counter_spend VALUES (?, ?, ?)", (key_id, window, spent)
            )

        await self._run(create)

    async def admit(self, admission: Admission, window_start: float) -> AdmissionResult:
        create = self._spend_source is None
        try:
            return await self._run(lambda db: _admit(db, admission, create))
        except _Missing:
            await self._load(admission.key_id, admission.budget_window, window_start)
            return await self._run(lambda db: _admit(db, admission, True))

    async def settle(self, settlement: Settlement) -> None:
        create = self._spend_source is None
        try:
            await self._run(lambda db: _settle(db, settlement, create))
        except _Missing:
            start = rl.window_start(settlement.budget_window)
            await self._load(settlement.key_id, settlement.budget_window, start)
            await self._run(lambda db: _settle(db, settlement, True))

    async def spend(self, key_id: str, window: str, window_start: float) -> Spend:
        try:
            return await self._run(lambda db: _spend(db, key_id, window))
        except _Missing:
            if self._spend_source is None:
                return Spend(key_id, window, 0.0, 0.0)
            await self._load(key_id, window, window_start)
            return await self._run(lambda db: _spend(db, key_id, window))

    async def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)
