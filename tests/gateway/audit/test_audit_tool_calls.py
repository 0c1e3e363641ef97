"""Audit records of MCP tool calls and A2A requests (issue 15): the tool, argument hash and task
id round trip on PostgreSQL and SQLite, the log filters by route, provider (server or agent) and
tool, and a log written before these columns existed is migrated in place, its rows kept."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from audit_records import NOW, PG_SERVER, make_record, make_records, pg_execute, pg_fetch

from gateway.core.audit import AuditQuery, AuditRecord
from gateway.store import audit_postgres, sqlite
from gateway.store.audit_base import AuditStore
from gateway.store.audit_postgres import PostgresAuditStore
from gateway.store.audit_sqlite import SqliteAuditStore

TOOL_COLUMNS = {"tool", "args_hash", "task_id"}


@pytest.fixture(params=["postgres", "sqlite"])
def store(request: pytest.FixtureRequest) -> AuditStore:
    store: AuditStore = request.getfixturevalue(
        "pg_store" if request.param == "postgres" else "sqlite_store"
    )
    return store


def args_hash(arguments: str) -> str:
    return hashlib.sha256(arguments.encode()).hexdigest()


def tool_call(index: int, server: str, tool: str, **overrides: Any) -> AuditRecord:
    """Shaped as the MCP gateway writes them: route mcp, provider the server, model "-"."""
    values: dict[str, Any] = {
        "route": "mcp",
        "provider": server,
        "model_requested": "-",
        "model_served": None,
        "tool": tool,
        "args_hash": args_hash(f'{{"n":{index}}}'),
        "prompt_tokens": None,
        "completion_tokens": None,
        "cached_tokens": None,
        "compliance": None,
        "cost_usd": 0.001,
        "cache": "hit-exact" if index % 3 == 0 else "miss",
        "status": 200,
        "error_code": None,
    }
    return make_record(index, **{**values, **overrides})


def a2a_call(index: int, agent: str, method: str, task_id: str | None) -> AuditRecord:
    return make_record(
        index,
        route="a2a",
        provider=agent,
        model_requested="-",
        model_served=None,
        tool=method,
        task_id=task_id,
        cache="bypass",
        stream=method == "SendStreamingMessage",
    )


def mixed() -> list[AuditRecord]:
    return [
        *make_records(20),  # chat and messages
        tool_call(100, "github", "create_issue"),
        tool_call(101, "github", "list_repos"),
        tool_call(102, "files", "read_file"),
        tool_call(103, "files", "list_repos"),  # the same tool name on another server
        tool_call(104, "github", "create_issue", status=403, error_code="forbidden", cost_usd=0),
        tool_call(105, "files", "read_file", status=503, error_code="unavailable", cost_usd=0),
        a2a_call(106, "planner", "SendMessage", "task-1"),
        a2a_call(107, "planner", "SendStreamingMessage", "task-2"),
        a2a_call(108, "coder", "GetTask", "task-1"),
    ]


async def query(store: AuditStore, filters: AuditQuery) -> list[AuditRecord]:
    page = await store.query(filters, None, 1000)
    assert page.next_cursor is None
    return list(page.records)


def newest_first(records: list[AuditRecord]) -> list[AuditRecord]:
    return sorted(records, key=lambda r: (r.ts_us, r.request_id), reverse=True)


async def test_tool_and_agent_fields_round_trip(store: AuditStore) -> None:
    records = mixed()
    await store.write_batch(records)
    stored = await query(store, AuditQuery())
    assert stored == newest_first(records)
    by_id = {r.request_id: r for r in stored}
    call = by_id[records[20].request_id]
    assert (call.tool, call.args_hash, call.task_id) == (
        "create_issue",
        args_hash('{"n":100}'),
        None,
    )
    assert by_id[records[-1].request_id].task_id == "task-1"
    assert by_id[records[0].request_id].tool is None  # a chat record has none


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (AuditQuery(route="mcp"), lambda r: r.route == "mcp"),
        (AuditQuery(route="a2a"), lambda r: r.route == "a2a"),
        (AuditQuery(route="chat"), lambda r: r.route == "chat"),
        (AuditQuery(route="nothing"), lambda r: False),
        (AuditQuery(provider="github"), lambda r: r.provider == "github"),
        (AuditQuery(provider="planner"), lambda r: r.provider == "planner"),
        (AuditQuery(provider="openai"), lambda r: r.provider == "openai"),
        (AuditQuery(tool="list_repos"), lambda r: r.tool == "list_repos"),
        (
            AuditQuery(provider="files", tool="read_file"),
            lambda r: r.provider == "files" and r.tool == "read_file",
        ),
        (AuditQuery(tool="SendMessage"), lambda r: r.tool == "SendMessage"),
        (
            AuditQuery(route="mcp", provider="github", key_id="key_alpha"),
            lambda r: r.route == "mcp" and r.provider == "github" and r.key_id == "key_alpha",
        ),
        (
            AuditQuery(route="mcp", since=NOW - 104 * 37.25),
            lambda r: r.route == "mcp" and r.ts >= NOW - 104 * 37.25,
        ),
    ],
)
async def test_filters_by_route_provider_and_tool(
    store: AuditStore, filters: AuditQuery, keep: Any
) -> None:
    records = mixed()
    await store.write_batch(records)
    assert await query(store, filters) == newest_first([r for r in records if keep(r)])


async def test_spend_counts_tool_calls_per_key(store: AuditStore) -> None:
    calls = [tool_call(200 + i, "github", "create_issue", key_id="key_tools") for i in range(4)]
    await store.write_batch(calls)
    rows = await store.spend("key", None, None, key_id="key_tools")
    assert [(row.group, row.requests) for row in rows] == [("key_tools", 4)]
    assert rows[0].cost_usd == pytest.approx(0.004)
    assert await store.spent_since("key_tools", NOW - 1_000_000) == pytest.approx(0.004)


# --- upgrading a log written before issue 15 ---------------------------------------------------


def _before_tools(migrations: Any, marker: str) -> Any:
    """The migrations up to (not including) the one that adds the tool columns."""
    at = next(i for i, m in enumerate(migrations) if marker in str(m))
    return migrations[:at]


async def test_sqlite_log_from_before_is_migrated_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _before_tools(sqlite.MIGRATIONS, "ADD COLUMN tool ")
    path = tmp_path / sqlite.DB_NAME
    with closing(sqlite.connect(path)) as connection:
        monkeypatch.setattr(sqlite, "MIGRATIONS", old)
        sqlite.migrate(connection)
        monkeypatch.undo()
        columns = {row[1] for row in connection.execute("PRAGMA table_info(audit_log)")}
        assert not columns & TOOL_COLUMNS
        connection.execute(
            "INSERT INTO audit_log (ts_us, request_id, model_requested, route, status, "
            "latency_ms, stream, cost_usd, upstream_ms, overhead_ms, cache) "
            "VALUES (?, 'req_old', 'gpt-4o-mini', 'chat', 200, 10.0, 0, 0.5, 9.0, 1.0, 'miss')",
            (int(NOW * 1_000_000),),
        )
    store = await SqliteAuditStore.open(path)
    try:
        await store.write_batch([tool_call(1, "github", "create_issue")])
        stored = await query(store, AuditQuery())
        old_row = {r.request_id: r for r in stored}["req_old"]
        assert len(stored) == 2
        assert old_row.tool is None and old_row.cost_usd == 0.5
        assert [r.tool for r in await query(store, AuditQuery(route="mcp"))] == ["create_issue"]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(sqlite.MIGRATIONS)
        columns = {row[1] for row in check.execute("PRAGMA table_info(audit_log)")}
        assert columns >= TOOL_COLUMNS


@pytest.fixture
async def fresh_pg() -> AsyncIterator[str]:
    name = f"smartflow_audit_tools_{secrets.token_hex(6)}"
    await pg_execute(f"{PG_SERVER}/postgres", f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        await pg_execute(f"{PG_SERVER}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_postgres_log_from_before_is_migrated_in_place(
    fresh_pg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _before_tools(audit_postgres.MIGRATIONS, "ADD COLUMN tool ")
    monkeypatch.setattr(audit_postgres, "MIGRATIONS", old)
    before = await PostgresAuditStore.connect(fresh_pg)
    await before.close()
    monkeypatch.undo()
    await pg_execute(
        fresh_pg,
        "INSERT INTO audit_log (ts, request_id, model_requested, route, status, latency_ms, "
        "stream, cost_usd, upstream_ms, overhead_ms, cache) VALUES "
        "(to_timestamp($1), 'req_old', 'gpt-4o-mini', 'chat', 200, 10, false, 0.5, 9, 1, 'miss')",
        NOW,
    )
    store = await PostgresAuditStore.connect(fresh_pg)
    try:
        await store.write_batch([a2a_call(1, "planner", "SendMessage", "task-9")])
        stored = await query(store, AuditQuery())
        old_row = {r.request_id: r for r in stored}["req_old"]
        assert len(stored) == 2
        assert old_row.tool is None and old_row.task_id is None
        assert [r.task_id for r in await query(store, AuditQuery(provider="planner"))] == ["task-9"]
    finally:
        await store.close()
    applied = await pg_fetch(
        fresh_pg, "SELECT version, name FROM smartflow_schema_migrations ORDER BY version"
    )
    assert [r["name"] for r in applied] == [name for name, _ in audit_postgres.MIGRATIONS]
    assert "tool and agent calls" in [r["name"] for r in applied]
