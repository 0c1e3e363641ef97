"""The audit log in PostgreSQL, as a TimescaleDB hypertable where the extension is available.

Writes COPY a batch into a session-local temp table and move it with INSERT ... ON CONFLICT DO
NOTHING: one binary copy per batch, and a replayed batch adds nothing. Migrations are versioned
in `smartflow_schema_migrations` and run under a transaction-scoped advisory lock, so replicas
starting together apply each one exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

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
from gateway.store.audit_base import Params, RecordsRejected, where_clause

Connection = asyncpg.Connection | PoolConnectionProxy

log = logging.getLogger("smartflow.audit.postgres")

StorageMode = Literal["timescaledb", "plain"]
COMPONENT = "audit"
# Held for the migrating transaction only; the same number in every replica ("SMARTFLW").
MIGRATION_LOCK = 0x534D4152_54464C57
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
COLUMNS = FIELDS  # `ts` is timestamptz; every other column is the record's field of that name
_COLUMN_LIST = ", ".join(COLUMNS)
_NOT_TEXT = frozenset(
    {"ts", "status", "stream", "cost_usd", "latency_ms", "upstream_ms", "overhead_ms"}
    | {"prompt_tokens", "completion_tokens", "cached_tokens", "tokens_saved", "usd_saved"}
)
_TEXT_COLUMNS = tuple(i for i, name in enumerate(COLUMNS) if name not in _NOT_TEXT)
# A value PostgreSQL (class 22 data exception, 23 constraint) or the encoder refuses; any other
# failure means the database is unavailable.
_REFUSED = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    ValueError,  # UnicodeEncodeError among them
    TypeError,
    OverflowError,
)

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "audit_log table",
        """
        CREATE TABLE audit_log (
            ts timestamptz NOT NULL,
            request_id text NOT NULL,
            model_requested text NOT NULL,
            route text NOT NULL,
            status integer NOT NULL,
            latency_ms double precision NOT NULL,
            key_id text,
            model_served text,
            provider text,
            stream boolean NOT NULL,
            prompt_tokens bigint,
            completion_tokens bigint,
            cached_tokens bigint,
            cost_usd double precision NOT NULL,
            upstream_ms double precision NOT NULL,
            overhead_ms double precision NOT NULL,
            cache text NOT NULL,
            compliance text,
            client_ip text,
            error_code text,
            prompt text,
            -- a hypertable's unique indexes must hold its time column
            CONSTRAINT audit_log_request UNIQUE (request_id, ts)
        );
        CREATE INDEX audit_log_ts ON audit_log (ts, request_id);
        CREATE INDEX audit_log_key_ts ON audit_log (key_id, ts);
        """,
    ),
    (
        "cache savings",
        """
        ALTER TABLE audit_log ADD COLUMN tokens_saved bigint NOT NULL DEFAULT 0;
        ALTER TABLE audit_log ADD COLUMN usd_saved double precision NOT NULL DEFAULT 0;
        """,
    ),
    (
        "compliance verdicts",
        """
        ALTER TABLE audit_log ADD COLUMN findings text;
        ALTER TABLE audit_log ADD COLUMN policy text;
        ALTER TABLE audit_log ADD COLUMN policy_action text;
        """,
    ),
    (
        "tool and agent calls",
        """
        ALTER TABLE audit_log ADD COLUMN tool text;
        ALTER TABLE audit_log ADD COLUMN args_hash text;
        ALTER TABLE audit_log ADD COLUMN task_id text;
        """,
    ),
)

_GROUP_EXPRESSIONS: dict[GroupBy, str] = {
    "key": "key_id",
    "model": "model_requested",
    "day": "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}


def to_timestamp(ts_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=ts_us)


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a prompt or model name from a client may.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _maybe_clean(text: str | None) -> str | None:
    return None if text is None else _clean(text)


def as_row(record: AuditRecord) -> tuple[Any, ...]:
    values: list[Any] = [getattr(record, name) for name in COLUMNS]
    values[0] = to_timestamp(record.ts_us)
    for index in _TEXT_COLUMNS:
        if values[index] is not None:
            values[index] = _clean(values[index])
    return tuple(values)


def _record(row: asyncpg.Record) -> AuditRecord:
    values = dict(row.items())
    values["ts"] = us_to_ts((values["ts"] - EPOCH) // ONE_US)
    return AuditRecord(**values)


async def migrate(connection: Connection) -> StorageMode:
    """Apply pending migrations, then make audit_log a hypertable if TimescaleDB is there."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS smartflow_schema_migrations (
                component text NOT NULL,
                version integer NOT NULL,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        applied = {
            row["version"]
            for row in await connection.fetch(
                "SELECT version FROM smartflow_schema_migrations WHERE component = $1", COMPONENT
            )
        }
        for version, (name, statement) in enumerate(MIGRATIONS, start=1):
            if version in applied:
                continue
            await connection.execute(statement)
            await connection.execute(
                "INSERT INTO smartflow_schema_migrations (component, version, name) "
                "VALUES ($1, $2, $3)",
                COMPONENT,
                version,
                name,
            )
            log.info("audit migration applied", extra={"version": version, "migration": name})
        return await _storage_mode(connection)


async def _storage_mode(connection: Connection) -> StorageMode:
    available = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
    )
    if not available:
        log.info("audit_log is a plain PostgreSQL table (timescaledb is not available)")
        return "plain"
    try:
        async with connection.transaction():  # a savepoint: on failure the plain table stays
            await connection.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            await connection.execute(
                "SELECT create_hypertable('audit_log', 'ts', if_not_exists => TRUE, "
                "migrate_data => TRUE)"
            )
    except asyncpg.PostgresError as exc:
        log.warning(
            "timescaledb is available but could not be enabled; audit_log stays a plain table",
            extra={"error": str(exc)},
        )
        return "plain"
    log.info("audit_log is a TimescaleDB hypertable")
    return "timescaledb"


class PostgresAuditStore:
    def __init__(self, pool: asyncpg.Pool, mode: StorageMode) -> None:
        self._pool = pool
        self.storage_mode: StorageMode = mode

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
    ) -> PostgresAuditStore:
        """Open the pool and migrate. Raises when PostgreSQL cannot be reached."""
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            command_timeout=command_timeout_s,
            timeout=connect_timeout_s,
        )
        try:
            async with pool.acquire() as connection:
                mode = await migrate(connection)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, mode)

    async def write_batch(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        try:
            rows = [as_row(record) for record in records]
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS audit_incoming "
                    "(LIKE audit_log INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                await connection.copy_records_to_table(
                    "audit_incoming", records=rows, columns=COLUMNS
                )
                await connection.execute(
                    f"INSERT INTO audit_log ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} "  # noqa: S608
                    "FROM audit_incoming ON CONFLICT DO NOTHING"
                )
        except _REFUSED as exc:
            raise RecordsRejected(repr(exc)) from exc

    async def query(self, filters: AuditQuery, cursor: Cursor | None, limit: int) -> AuditPage:
        filters = replace(
            filters, key_id=_maybe_clean(filters.key_id), model=_maybe_clean(filters.model)
        )
        if cursor is not None:
            cursor = replace(cursor, request_id=_clean(cursor.request_id))
        params = Params("$")
        where = where_clause(filters, cursor, params, ts_column="ts", ts_value=to_timestamp)
        sql = (
            f"SELECT {_COLUMN_LIST} FROM audit_log WHERE {where} "  # noqa: S608
            f"ORDER BY ts DESC, request_id DESC LIMIT {params(limit + 1)}"
        )
        rows = await self._pool.fetch(sql, *params.values)
        return page_of([_record(row) for row in rows], limit)

    async def spend(
        self,
        group_by: GroupBy,
        since: float | None,
        until: float | None,
        key_id: str | None = None,
    ) -> Sequence[SpendRow]:
        params = Params("$")
        where = where_clause(
            AuditQuery(since=since, until=until, key_id=_maybe_clean(key_id)),
            None,
            params,
            ts_column="ts",
            ts_value=to_timestamp,
        )
        order = "grp" if group_by == "day" else "cost_usd DESC, grp ASC NULLS LAST"
        sql = (
            f"SELECT {_GROUP_EXPRESSIONS[group_by]} AS grp, count(*) AS requests, "  # noqa: S608
            "COALESCE(sum(prompt_tokens), 0)::bigint AS prompt_tokens, "
            "COALESCE(sum(completion_tokens), 0)::bigint AS completion_tokens, "
            "COALESCE(sum(cost_usd), 0)::double precision AS cost_usd "
            f"FROM audit_log WHERE {where} GROUP BY grp ORDER BY {order}"
        )
        rows = await self._pool.fetch(sql, *params.values)
        return [
            SpendRow(
                group=row["grp"],
                requests=row["requests"],
                prompt_tokens=row["prompt_tokens"],
                completion_tokens=row["completion_tokens"],
                cost_usd=row["cost_usd"],
            )
            for row in rows
        ]

    async def spent_since(self, key_id: str, since: float) -> float:
        spent = await self._pool.fetchval(
            "SELECT COALESCE(sum(cost_usd), 0)::double precision FROM audit_log "
            "WHERE key_id = $1 AND ts >= $2",
            _clean(key_id),
            to_timestamp(ts_to_us(since)),
        )
        return float(spent)

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    async def close(self, timeout_s: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), timeout_s)
        except TimeoutError:
            self._pool.terminate()
