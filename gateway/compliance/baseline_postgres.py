"""Baselines in PostgreSQL (shared mode: every replica learns from every replica's feedback).

The tables are created with CREATE TABLE IF NOT EXISTS when the store connects, under a
transaction-scoped advisory lock so replicas starting together do not race on the catalogue.
Each write is one transaction that also bumps the single-row revision counter.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import cast

import asyncpg

from gateway.compliance.baseline import Baseline, Feedback, Verdict
from gateway.compliance.baseline_store import SALT_BYTES
from gateway.store import postgres
from gateway.store.postgres import Connection

# pg_advisory_xact_lock id: "SFCOMP" in ASCII; distinct from every other Smartflow migrator.
SCHEMA_LOCK_ID = 0x5346_434F_4D50

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS smartflow_compliance_orgs (
        org TEXT PRIMARY KEY,
        salt BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS smartflow_compliance_feedback (
        id BIGSERIAL PRIMARY KEY,
        org TEXT NOT NULL,
        finding_type TEXT NOT NULL,
        scanner TEXT NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        digest TEXT NOT NULL,
        verdict TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS smartflow_compliance_feedback_org "
    "ON smartflow_compliance_feedback (org, id)",
    """
    CREATE TABLE IF NOT EXISTS smartflow_compliance_thresholds (
        org TEXT NOT NULL,
        name TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (org, name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS smartflow_compliance_revision (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revision BIGINT NOT NULL
    )
    """,
    "INSERT INTO smartflow_compliance_revision VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
)


async def create_schema(connection: Connection) -> None:
    await postgres.run_locked(connection, SCHEMA_LOCK_ID, SCHEMA)


async def _ensure_org(connection: Connection, org: str) -> None:
    await connection.execute(
        "INSERT INTO smartflow_compliance_orgs (org, salt, created_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (org) DO NOTHING",
        org,
        secrets.token_bytes(SALT_BYTES),
        time.time(),
    )


async def _bump(connection: Connection) -> None:
    await connection.execute(
        "UPDATE smartflow_compliance_revision SET revision = revision + 1 WHERE id = 1"
    )


async def _load(connection: Connection, org: str) -> Baseline:
    salt = await connection.fetchval(
        "SELECT salt FROM smartflow_compliance_orgs WHERE org = $1", org
    )
    if salt is None:
        return Baseline.empty(org)
    rows = await connection.fetch(
        "SELECT finding_type, scanner, confidence, digest, verdict "
        "FROM smartflow_compliance_feedback WHERE org = $1 ORDER BY id",
        org,
    )
    feedback = [
        Feedback(org, r["finding_type"], r["scanner"], r["confidence"], r["digest"],
                 cast(Verdict, r["verdict"]))
        for r in rows
    ]  # fmt: skip
    manual = {
        r["name"]: r["value"]
        for r in await connection.fetch(
            "SELECT name, value FROM smartflow_compliance_thresholds WHERE org = $1", org
        )
    }
    return Baseline.build(org, bytes(salt), feedback, manual)


class PostgresBaselineStore:
    """`BaselineStore` over the smartflow_compliance_* tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 4
    ) -> PostgresBaselineStore:
        return cls(
            await postgres.open_pool(dsn, create_schema, min_size=min_size, max_size=max_size)
        )

    async def baseline(self, org: str) -> Baseline:
        async with self._pool.acquire() as connection:
            baseline = await _load(connection, org)
            if baseline.salt:
                return baseline
            await _ensure_org(connection, org)  # a racing replica's salt wins
            return await _load(connection, org)

    async def record(self, feedback: Feedback) -> Baseline:
        async with self._pool.acquire() as connection, connection.transaction():
            await _ensure_org(connection, feedback.org)
            await connection.execute(
                "INSERT INTO smartflow_compliance_feedback (org, finding_type, scanner, "
                "confidence, digest, verdict, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                feedback.org,
                feedback.finding_type,
                feedback.scanner,
                feedback.confidence,
                feedback.digest,
                feedback.verdict,
                time.time(),
            )
            await _bump(connection)
            return await _load(connection, feedback.org)

    async def set_thresholds(self, org: str, thresholds: Mapping[str, float]) -> Baseline:
        async with self._pool.acquire() as connection, connection.transaction():
            await _ensure_org(connection, org)
            # the org row serialises concurrent replacements of one organisation's thresholds
            await connection.execute(
                "SELECT 1 FROM smartflow_compliance_orgs WHERE org = $1 FOR UPDATE", org
            )
            await connection.execute(
                "DELETE FROM smartflow_compliance_thresholds WHERE org = $1", org
            )
            await connection.executemany(
                "INSERT INTO smartflow_compliance_thresholds (org, name, value) "
                "VALUES ($1, $2, $3)",
                [(org, name, float(value)) for name, value in thresholds.items()],
            )
            await _bump(connection)
            return await _load(connection, org)

    async def revision(self) -> int:
        value = await self._pool.fetchval(
            "SELECT revision FROM smartflow_compliance_revision WHERE id = 1"
        )
        return int(value)

    async def close(self) -> None:
        await self._pool.close()
