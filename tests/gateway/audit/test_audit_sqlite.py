"""The embedded store's specifics: its migration in smartflow.db, several worker processes."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from audit_records import make_records

from gateway.core.audit import AuditQuery
from gateway.store import sqlite
from gateway.store.audit_sqlite import SqliteAuditStore

WRITER = """
import asyncio, sys
from pathlib import Path
from gateway.core.audit import AuditRecord
from gateway.store.audit_sqlite import SqliteAuditStore

async def main(path, worker, batches, size):
    store = await SqliteAuditStore.open(Path(path))
    for batch in range(batches):
        records = [
            AuditRecord(
                ts=1_795_300_000 + batch + i / 1000, request_id=f"w{worker}-b{batch}-r{i}",
                key_id=f"key_{worker}", model_requested="gpt-4o-mini", route="chat", status=200,
                latency_ms=400.0, cost_usd=0.001, prompt_tokens=100, completion_tokens=20,
            )
            for i in range(size)
        ]
        await store.write_batch(records)
        await store.write_batch(records[: size // 2])  # replays are ignored
    await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""


async def test_worker_processes_write_one_file_together(tmp_path: Path) -> None:
    path = tmp_path / sqlite.DB_NAME
    workers, batches, size = 4, 25, 200
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(path), str(worker), str(batches), str(size),
            stderr=subprocess.PIPE,
        )
        for worker in range(workers)
    ]  # fmt: skip
    reader = await SqliteAuditStore.open(path)
    try:
        while any(p.returncode is None for p in processes):  # reads while they write
            await reader.query(AuditQuery(key_id="key_1"), None, 50)
            await asyncio.sleep(0.01)
        for process in processes:
            _, stderr = await process.communicate()
            assert process.returncode == 0, stderr.decode()
        for worker in range(workers):
            rows = await reader.spend("key", None, None, key_id=f"key_{worker}")
            assert [(row.group, row.requests) for row in rows] == [
                (f"key_{worker}", batches * size)
            ]
    finally:
        await reader.close()


async def test_table_comes_from_the_embedded_migrations(tmp_path: Path) -> None:
    """The app's own start (sqlite.open_store) and the audit store agree on one schema."""
    connection = sqlite.open_store(tmp_path, version="test", service="all", pid=1)
    connection.close()
    store = await SqliteAuditStore.open(tmp_path / sqlite.DB_NAME)
    try:
        await store.write_batch(make_records(10))
        assert len((await store.query(AuditQuery(), None, 100)).records) == 10
    finally:
        await store.close()
    with closing(sqlite3.connect(tmp_path / sqlite.DB_NAME)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(sqlite.MIGRATIONS)
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plan = " ".join(
            str(row)
            for row in check.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM audit_log WHERE key_id = ? ORDER BY ts_us DESC, request_id DESC",
                ("k",),
            )
        )
        assert "audit_log_key_ts" in plan or "audit_log_ts" in plan
