"""Baselines in the embedded SQLite store (smartflow.db, tables from gateway.store.sqlite).

One dedicated thread owns the connection (as in gateway.store.keys_sqlite), so the event loop
never waits on disk. Each write is one IMMEDIATE transaction that also bumps the revision, and
`--workers` processes sharing the file serialise on SQLite's write lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from gateway.compliance.baseline import Baseline, Feedback, Verdict
from gateway.compliance.baseline_store import new_salt
from gateway.store import sqlite
from gateway.store.sqlite_thread import SqliteThread


def _load(connection: sqlite3.Connection, org: str) -> Baseline:
    """The baseline as stored; the caller holds a transaction or accepts a racing write."""
    row = connection.execute("SELECT salt FROM compliance_orgs WHERE org = ?", (org,)).fetchone()
    if row is None:
        return Baseline.empty(org)
    rows = connection.execute(
        "SELECT finding_type, scanner, confidence, digest, verdict FROM compliance_feedback "
        "WHERE org = ? ORDER BY id",
        (org,),
    ).fetchall()
    feedback = [Feedback(org, t, s, c, d, cast(Verdict, v)) for t, s, c, d, v in rows]
    manual = dict(
        connection.execute(
            "SELECT name, value FROM compliance_thresholds WHERE org = ?", (org,)
        ).fetchall()
    )
    return Baseline.build(org, bytes(row[0]), feedback, manual)


def _ensure_org(connection: sqlite3.Connection, org: str) -> None:
    connection.execute(
        "INSERT OR IGNORE INTO compliance_orgs (org, salt, created_at) VALUES (?, ?, ?)",
        (org, new_salt(), time.time()),
    )


def _bump(connection: sqlite3.Connection) -> None:
    connection.execute("UPDATE compliance_revision SET revision = revision + 1 WHERE id = 1")


class SqliteBaselineStore:
    """`BaselineStore` over the compliance_* tables of the embedded store."""

    def __init__(self, path: Path) -> None:
        self._thread = SqliteThread(
            path, "smartflow-baseline", closed_message="the baseline store is closed"
        )

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqliteBaselineStore:
        return cls(data_dir / sqlite.DB_NAME)

    async def baseline(self, org: str) -> Baseline:
        def work(connection: sqlite3.Connection) -> Baseline:
            baseline = _load(connection, org)
            if baseline.salt:
                return baseline
            _ensure_org(connection, org)  # autocommitted; a racing process's salt wins
            return _load(connection, org)

        return await self._thread.run(work)

    async def record(self, feedback: Feedback) -> Baseline:
        def write(connection: sqlite3.Connection) -> Baseline:
            _ensure_org(connection, feedback.org)
            connection.execute(
                "INSERT INTO compliance_feedback (org, finding_type, scanner, confidence, "
                "digest, verdict, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    feedback.org,
                    feedback.finding_type,
                    feedback.scanner,
                    feedback.confidence,
                    feedback.digest,
                    feedback.verdict,
                    time.time(),
                ),
            )
            _bump(connection)
            return _load(connection, feedback.org)

        return await self._thread.transaction(write)

    async def set_thresholds(self, org: str, thresholds: Mapping[str, float]) -> Baseline:
        values = [(org, name, float(value)) for name, value in thresholds.items()]

        def write(connection: sqlite3.Connection) -> Baseline:
            _ensure_org(connection, org)
            connection.execute("DELETE FROM compliance_thresholds WHERE org = ?", (org,))
            connection.executemany(
                "INSERT INTO compliance_thresholds (org, name, value) VALUES (?, ?, ?)", values
            )
            _bump(connection)
            return _load(connection, org)

        return await self._thread.transaction(write)

    async def revision(self) -> int:
        def read(connection: sqlite3.Connection) -> int:
            row = connection.execute(
                "SELECT revision FROM compliance_revision WHERE id = 1"
            ).fetchone()
            return int(row[0])

        return await self._thread.run(read)

    async def close(self) -> None:
        await self._thread.close()
