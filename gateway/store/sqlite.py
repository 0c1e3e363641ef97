"""The embedded state store: one SQLite file in the data directory, versioned migrations.

The embedded default needs nothing installed. Later stages (keys, budgets, the audit log) add
their tables as further migrations; each migration runs once, in order, inside a transaction, and
several processes starting at once (`--workers`) serialise on SQLite's write lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

DB_NAME = "smartflow.db"

MIGRATIONS: Sequence[str] = (
    # 1: bookkeeping of the store itself
    """
    CREATE TABLE instance_starts (
        started_at REAL NOT NULL,
        version TEXT NOT NULL,
        service TEXT NOT NULL,
        pid INTEGER NOT NULL
    )
    """,
)


def connect(path: Path) -> sqlite3.Connection:
    # Opened and closed off the event loop (asyncio.to_thread), so not pinned to one thread.
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def migrate(connection: sqlite3.Connection) -> int:
    """Apply pending migrations; returns the schema version now in force."""
    connection.execute("BEGIN IMMEDIATE")  # one migrator at a time across processes
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):
            connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


def open_store(data_dir: Path, *, version: str, service: str, pid: int) -> sqlite3.Connection:
    """Open (creating if needed) the store, migrate it, and record this start."""
    data_dir.mkdir(parents=True, exist_ok=True)
    connection = connect(data_dir / DB_NAME)
    migrate(connection)
    connection.execute(
        "INSERT INTO instance_starts VALUES (?, ?, ?, ?)", (time.time(), version, service, pid)
    )
    return connection
