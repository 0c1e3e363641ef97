"""Audit records shaped like the gateway's, and PostgreSQL helpers, for the audit-log tests."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from gateway.core.audit import AuditRecord

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
NOW = 1_795_300_000.0  # a fixed instant (2026-11-21 UTC): records never depend on the clock


async def pg_execute(dsn: str, statement: str, *args: Any) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


async def pg_fetch(dsn: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetch(statement, *args)
    finally:
        await connection.close()


MODELS = (
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai"),
    ("claude-sonnet-4", "claude-sonnet-4-20250514", "anthropic"),
)


def make_record(index: int, **overrides: Any) -> AuditRecord:
    """A realistic record: two keys and anonymous (admin-key) calls, two models, a mix of
    successes, rate limits and upstream failures, cache hits, streams."""
    requested, served, provider = MODELS[index % 2]
    status = (200, 200, 200, 429, 502)[index % 5]
    ok = status == 200
    hit = ok and index % 7 == 0
    values: dict[str, Any] = {
        "ts": NOW - index * 37.25,  # newest first by index; spans ~ a day and a half per 3500
        "request_id": f"req_{index:06d}_{secrets.token_hex(4)}",
        "key_id": ("key_alpha", "key_beta", None)[index % 3],
        "model_requested": requested,
        "model_served": served if ok else None,
        "provider": provider if status != 429 else None,
        "route": "chat" if requested.startswith("gpt") else "messages",
        "status": status,
        "stream": index % 4 == 0,
        "prompt_tokens": 120 + index % 50 if ok else None,
        "completion_tokens": 40 + index % 30 if ok and not hit else (0 if hit else None),
        "cached_tokens": 64 if ok and index % 6 == 0 else None,
        "cost_usd": 0 if hit or not ok else round(0.00015 * (1 + index % 9), 6),
        "latency_ms": 412.5 + index % 100,
        "upstream_ms": 0.0 if hit or status == 429 else 400.0 + index % 100,
        "overhead_ms": 0.41 + (index % 10) / 100,
        "cache": "hit-exact" if hit else "miss",
        "compliance": "pass" if ok else None,
        "client_ip": f"10.0.{index % 4}.{index % 250 + 1}",
        "error_code": {429: "rate_limit_exceeded", 502: "upstream_unavailable"}.get(status),
        "prompt": None,
    }
    values.update(overrides)
    return AuditRecord(**values)


def make_records(count: int, start: int = 0, **overrides: Any) -> list[AuditRecord]:
    return [make_record(index, **overrides) for index in range(start, start + count)]
