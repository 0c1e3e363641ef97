"""The embedded state store: one SQLite file in the data directory, versioned migrations.

The embedded default needs nothing installed. Later stages (keys, budgets, the audit log) add
their tables as further migrations; each migration runs once, in order, inside a transaction, and
several processes starting at once (`--workers`) serialise on SQLite's write lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
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
    # 2: virtual keys (gateway.store.keys_sqlite); the record is the JSON of VirtualKey, which
    # holds only the secret's hash
    """
    CREATE TABLE virtual_keys (
        id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        record TEXT NOT NULL
    )
    """,
    # 3: listing pages through keys in creation order
    "CREATE INDEX virtual_keys_created ON virtual_keys (created_at, id)",
    # audit log (gateway.store.audit_sqlite): one row per request; time in integer microseconds so
    # the page cursor (ts_us, request_id) compares exactly; a replayed record is ignored
    """
    CREATE TABLE audit_log (
        ts_us INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        model_requested TEXT NOT NULL,
        route TEXT NOT NULL,
        status INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        key_id TEXT,
        model_served TEXT,
        provider TEXT,
        stream INTEGER NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached_tokens INTEGER,
        cost_usd REAL NOT NULL,
        upstream_ms REAL NOT NULL,
        overhead_ms REAL NOT NULL,
        cache TEXT NOT NULL,
        compliance TEXT,
        client_ip TEXT,
        error_code TEXT,
        prompt TEXT,
        UNIQUE (request_id, ts_us)
    )
    """,
    # audit log pages, newest first
    "CREATE INDEX audit_log_ts ON audit_log (ts_us, request_id)",
    # audit log per key (spend, budgets rebuilt from the log)
    "CREATE INDEX audit_log_key_ts ON audit_log (key_id, ts_us)",
    # a cache hit records what it saved (issue 13)
    "ALTER TABLE audit_log ADD COLUMN tokens_saved INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE audit_log ADD COLUMN usd_saved REAL NOT NULL DEFAULT 0",
    # compliance verdicts (issue 14): finding types and counts, the deciding policy rule
    "ALTER TABLE audit_log ADD COLUMN findings TEXT",
    "ALTER TABLE audit_log ADD COLUMN policy TEXT",
    "ALTER TABLE audit_log ADD COLUMN policy_action TEXT",
    # compliance baselines (issue 14, gateway.compliance.baseline_sqlite): each organisation's
    # random HMAC salt; feedback rows hold a value's HMAC digest, never the value
    """
    CREATE TABLE compliance_orgs (
        org TEXT PRIMARY KEY,
        salt BLOB NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE compliance_feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        org TEXT NOT NULL,
        finding_type TEXT NOT NULL,
        scanner TEXT NOT NULL,
        confidence REAL NOT NULL,
        digest TEXT NOT NULL,
        verdict TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    "CREATE INDEX compliance_feedback_org ON compliance_feedback (org, id)",
    # thresholds an administrator set, by finding type or scanner
    """
    CREATE TABLE compliance_thresholds (
        org TEXT NOT NULL,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (org, name)
    )
    """,
    # bumped by every baseline write, so proxies know when to reload
    "CREATE TABLE compliance_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER)",
    "INSERT INTO compliance_revision VALUES (1, 0)",
    # guardrail policies and settings (issue 14, gateway.policy.store_sqlite): every version of
    # every document (kind 'policy' or 'guardrails'); a head row marks the active version
    """
    CREATE TABLE policy_documents (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at REAL NOT NULL,
        note TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (kind, name, version)
    )
    """,
    """
    CREATE TABLE policy_heads (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    )
    """,
    # bumped by every policy write, so proxies know when to reload
    "CREATE TABLE policy_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER)",
    # tool and agent calls (issue 15): the MCP tool or A2A method, the arguments' sha256, the
    # A2A task id
    "ALTER TABLE audit_log ADD COLUMN tool TEXT",
    "ALTER TABLE audit_log ADD COLUMN args_hash TEXT",
    "ALTER TABLE audit_log ADD COLUMN task_id TEXT",
)


def use_wal(
    connection: sqlite3.Connection,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Switch to WAL, retrying while another process holds the file. SQLite may answer this
    PRAGMA with SQLITE_BUSY at once, without its busy handler (several workers opening one
    fresh file together), so the connection's busy timeout alone does not cover it."""
    deadline = clock() + timeout_s
    delay = 0.005
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if clock() + delay > deadline:
                raise
        sleep(delay)
        delay = min(delay * 2, 0.2)


def connect(path: Path) -> sqlite3.Connection:
    # Opened and closed off the event loop (asyncio.to_thread), so not pinned to one thread.
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    use_wal(connection, 30)
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
