"""Switching a shared SQLite file to WAL while another process holds it: SQLite can answer
SQLITE_BUSY at once (the CI run that found it had several workers open one fresh file), so
`use_wal` retries until its deadline. Real SQLite files; the clock and sleep are passed in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.store.sqlite import use_wal


def _held(path: Path) -> sqlite3.Connection:
    """Another connection holding the file exclusively (a rollback journal: not yet WAL)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_wal_waits_for_the_file_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    holder = _held(path)
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)  # no busy handler at all
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        waiter.execute("PRAGMA journal_mode=WAL")  # what the gateway did before: it failed

    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            holder.execute("COMMIT")  # the other process lets go while we wait

    use_wal(waiter, 30, sleep=sleep)
    assert waiter.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert len(slept) == 3 and slept == sorted(slept)  # backing off
    holder.close()
    waiter.close()


def test_wal_gives_up_at_its_deadline(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    holder = _held(path)
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(waiter, 2.0, clock=lambda: now[0], sleep=sleep)
    assert 1.5 <= now[0] <= 2.0  # it waited out the deadline, and no longer
    holder.execute("ROLLBACK")
    holder.close()
    waiter.close()
