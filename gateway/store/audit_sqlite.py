"""The audit log in the embedded store (`smartflow.db`), for the single-node default.

Its table comes from a migration in gateway.store.sqlite. Each store holds two connections, each
on its own thread (sqlite3 blocks): one writes, one reads, so a long query does not hold back
writes, and the event loop never waits on the file. Several worker processes share the file
through WAL and a busy timeout; a batch is one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gateway.core.audit import (
    FIELDS,
    AuditPage,
    AuditQuery,
    AuditRecord,
    Cursor,
    GroupBy,
    SpendRow,
    page_of,
    ts_to_us,
    us_to_ts,
)
from gateway.store import sqlite
from gateway.store.audit_base import Params, RecordsRejected, where_clause

T = TypeVar("T")

# Time is kept as integer microseconds (`ts_us`): exact to compare, order and page through.
COLUMNS = ("ts_us", *FIELDS[1:])
_COLUMN_LIST = ", ".join(COLUMNS)
_STREAM = COLUMNS.index("stream")
# Only a record already stored is skipped (OR IGNORE would also drop one that breaks NOT NULL).
_INSERT = (
    f"INSERT INTO audit_log ({_COLUMN_LIST}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT (request_id, ts_us) DO NOTHING"
)
# A value SQLite refuses (NOT NULL, a type it cannot bind, an int over 64 bits); anything else
# (locked past the busy timeout, disk full, read-only) means the store is unavailable.
_REFUSED = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
    ValueError,
    TypeError,
    OverflowError,
)
_GROUP_EXPRESSIONS: dict[GroupBy, str] = {
    "key": "key_id",
    "model": "model_requested",
    "day": "strftime('%Y-%m-%d', ts_us / 1000000, 'unixepoch')",
}


def _row(record: AuditRecord) -> tuple[Any, ...]:
    return (record.ts_us, *(getattr(record, name) for name in FIELDS[1:]))


def _record(row: tuple[Any, ...]) -> AuditRecord:
    values = dict(zip(FIELDS, row, strict=True))
    values["ts"] = us_to_ts(row[0])
    values["stream"] = bool(row[_STREAM])
    return AuditRecord(**values)


class _Worker:
    """One sqlite3 connection, used only from its own thread."""

    def __init__(self, path: Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        self._path = path
        self.connection: sqlite3.Connection | None = None

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self.connection is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite.connect(self._path)
                try:
                    sqlite.migrate(connection)  # a no-op once the schema is current
                except BaseException:
                    connection.close()
                    raise
                self.connection = connection
            return job(self.connection)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        def close() -> None:
            if self.connection is not None:
                self.connection.close()
                self.connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)


class SqliteAuditStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = _Worker(path)
        self._reader = _Worker(path)

    @classmethod
    async def open(cls, path: Path) -> SqliteAuditStore:
        """Open (creating and migrating if needed) the store at `path` (smartflow.db) now, so
        a bad path fails at start. The constructor alone opens it at first use."""
        store = cls(path)
        try:
            await store._writer.run(lambda connection: None)
            await store.ping()
        except BaseException:
            await store.close()
            raise
        return store

    async def write_batch(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return

        def write(connection: sqlite3.Connection) -> None:
            rows = [_row(record) for record in records]
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(_INSERT, rows)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

        try:
            await self._writer.run(write)
        except _REFUSED as exc:
            raise RecordsRejected(repr(exc)) from exc

    async def query(self, filters: AuditQuery, cursor: Cursor | None, limit: int) -> AuditPage:
        params = Params("?")
        where = where_clause(filters, cursor, params, ts_column="ts_us", ts_value=int)
        sql = (
            f"SELECT {_COLUMN_LIST} FROM audit_log WHERE {where} "  # noqa: S608
            f"ORDER BY ts_us DESC, request_id DESC LIMIT {params(limit + 1)}"
        )
        rows = await self._fetch(sql, params.values)
        return page_of([_record(row) for row in rows], limit)

    async def spend(
        self,
        group_by: GroupBy,
        since: float | None,
        until: float | None,
        key_id: str | None = None,
    ) -> Sequence[SpendRow]:
        params = Params("?")
        where = where_clause(
            AuditQuery(since=since, until=until, key_id=key_id),
            None,
            params,
            ts_column="ts_us",
            ts_value=int,
        )
        order = "grp" if group_by == "day" else "cost_usd DESC, grp ASC NULLS LAST"
        sql = (
            f"SELECT {_GROUP_EXPRESSIONS[group_by]} AS grp, count(*), "  # noqa: S608
            "COALESCE(sum(prompt_tokens), 0), COALESCE(sum(completion_tokens), 0), "
            "COALESCE(sum(cost_usd), 0.0) AS cost_usd "
            f"FROM audit_log WHERE {where} GROUP BY grp ORDER BY {order}"
        )
        rows = await self._fetch(sql, params.values)
        return [SpendRow(row[0], row[1], row[2], row[3], float(row[4])) for row in rows]

    async def spent_since(self, key_id: str, since: float) -> float:
        rows = await self._fetch(
            "SELECT COALESCE(sum(cost_usd), 0.0) FROM audit_log WHERE key_id = ? AND ts_us >= ?",
            [key_id, ts_to_us(since)],
        )
        return float(rows[0][0])

    async def ping(self) -> None:
        await self._fetch("SELECT 1", [])

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()

    async def _fetch(self, sql: str, values: Sequence[object]) -> list[tuple[Any, ...]]:
        def fetch(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return connection.execute(sql, values).fetchall()

        return await self._reader.run(fetch)
