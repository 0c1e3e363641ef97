"""The contract of an audit-log store (PostgreSQL/TimescaleDB when shared, SQLite embedded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from gateway.core.audit import (
    AuditPage,
    AuditQuery,
    AuditRecord,
    Cursor,
    GroupBy,
    SpendRow,
    ts_to_us,
)


class RecordsRejected(Exception):
    """The store works but refuses these records for their values (a number too big for its
    column, a missing field): retrying will not help, unlike any other failure of a write."""


class AuditStore(Protocol):
    async def write_batch(self, records: Sequence[AuditRecord]) -> None:
        """Store every record in one transaction. Idempotent: a record whose (request_id, ts)
        is already stored is skipped, so a replayed spill file never duplicates. Raises
        RecordsRejected when a value is refused; anything else means the store is unavailable."""
        ...

    async def query(self, filters: AuditQuery, cursor: Cursor | None, limit: int) -> AuditPage:
        """Newest first; `cursor` continues after the page that returned it."""
        ...

    async def spend(
        self,
        group_by: GroupBy,
        since: float | None,
        until: float | None,
        key_id: str | None = None,
    ) -> Sequence[SpendRow]: ...

    async def spent_since(self, key_id: str, since: float) -> float:
        """Satisfies gateway.store.base.SpendSource."""
        ...

    async def ping(self) -> None:
        """Raises when the store cannot be reached."""
        ...

    async def close(self) -> None: ...


class Params:
    """Collects query parameters, answering each with its placeholder ($n for asyncpg, ? for
    sqlite3), so both stores build their WHERE clauses from the same code."""

    def __init__(self, style: Literal["$", "?"]) -> None:
        self.values: list[object] = []
        self._numbered = style == "$"

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self._numbered else "?"


def where_clause(
    filters: AuditQuery,
    cursor: Cursor | None,
    params: Params,
    *,
    ts_column: str,
    ts_value: Callable[[int], object],
) -> str:
    """The conditions of a query; `ts_value` turns microseconds into the store's time value."""
    conditions = ["1 = 1"]
    if filters.since is not None:
        conditions.append(f"{ts_column} >= {params(ts_value(ts_to_us(filters.since)))}")
    if filters.until is not None:
        conditions.append(f"{ts_column} < {params(ts_value(ts_to_us(filters.until)))}")
    if filters.key_id is not None:
        conditions.append(f"key_id = {params(filters.key_id)}")
    if filters.model is not None:
        conditions.append(
            f"(model_requested = {params(filters.model)} OR model_served = {params(filters.model)})"
        )
    for column in ("route", "provider", "tool"):
        value = getattr(filters, column)
        if value is not None:
            conditions.append(f"{column} = {params(value)}")
    if filters.status is not None:
        conditions.append(
            f"status >= {params(filters.status.low)} AND status < {params(filters.status.high)}"
        )
    if cursor is not None:
        conditions.append(
            f"({ts_column}, request_id) < "
            f"({params(ts_value(cursor.ts_us))}, {params(cursor.request_id)})"
        )
    return " AND ".join(conditions)
