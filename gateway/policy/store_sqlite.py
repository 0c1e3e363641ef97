"""Policies and guardrail settings in the embedded SQLite store (smartflow.db).

One thread owns the connection (as in gateway.store.keys_sqlite), so the event loop never waits
on disk. A write is one IMMEDIATE transaction: it holds SQLite's write lock across `--workers`
processes while it reads the latest version and appends the next, so two writers never pick the
same number. Tables: migrations in gateway.store.sqlite.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import orjson

from gateway.policy.store import UNCHANGED, Kind, Maker, Row, VersionedStore, missing_version
from gateway.store import sqlite
from gateway.store.sqlite_thread import SqliteThread

_SELECT = (
    "SELECT d.name, d.version, d.created_at, d.note, d.document, "
    "h.version IS NOT NULL AND h.version = d.version "
    "FROM policy_documents d LEFT JOIN policy_heads h ON h.kind = d.kind AND h.name = d.name "
)


def _row(raw: tuple[object, ...]) -> Row:
    name, version, created_at, note, document, active = raw
    return Row(
        str(name),
        int(str(version)),
        float(str(created_at)),
        str(note),
        orjson.loads(str(document)),
        bool(active),
    )


def _append(
    connection: sqlite3.Connection, kind: Kind, name: str, make: Maker, source_version: int | None
) -> Row:
    """Append the next version; run inside an IMMEDIATE transaction."""
    latest = connection.execute(
        "SELECT coalesce(max(version), 0) FROM policy_documents WHERE kind = ? AND name = ?",
        (kind, name),
    ).fetchone()[0]
    found = connection.execute(
        _SELECT + "WHERE d.kind = ? AND d.name = ? AND d.version = h.version", (kind, name)
    ).fetchone()
    head = None if found is None else _row(found)
    source = None
    if source_version is not None:
        copied = connection.execute(
            "SELECT document FROM policy_documents WHERE kind = ? AND name = ? AND version = ?",
            (kind, name, source_version),
        ).fetchone()
        if copied is None:
            raise missing_version(name, source_version)
        source = orjson.loads(copied[0])
    made = make(latest, head, source)
    if made is None:
        assert head is not None
        return dataclasses.replace(head, note=UNCHANGED)
    document, note = made
    version = latest + 1
    created_at = time.time()
    connection.execute(
        "INSERT INTO policy_documents (kind, name, version, created_at, note, document) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (kind, name, version, created_at, note, orjson.dumps(document).decode()),
    )
    connection.execute(
        "INSERT INTO policy_heads (kind, name, version) VALUES (?, ?, ?) "
        "ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version",
        (kind, name, version),
    )
    _bump(connection)
    return Row(name, version, created_at, note, document, True)


def _bump(connection: sqlite3.Connection) -> None:
    connection.execute(
        "INSERT INTO policy_revision (id, revision) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE SET revision = revision + 1"
    )


class SqlitePolicyStore(VersionedStore):
    """`PolicyStore` over the policy tables of smartflow.db."""

    def __init__(self, path: Path) -> None:
        self._thread = SqliteThread(path, "smartflow-policy")

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqlitePolicyStore:
        return cls(data_dir / sqlite.DB_NAME)

    async def _append(
        self, kind: Kind, name: str, make: Maker, source_version: int | None = None
    ) -> Row:
        return await self._thread.transaction(
            lambda c: _append(c, kind, name, make, source_version)
        )

    async def _heads(self, kind: Kind) -> list[Row]:
        def read(connection: sqlite3.Connection) -> list[Row]:
            rows = connection.execute(
                "SELECT d.name, d.version, d.created_at, d.note, d.document, 1 "
                "FROM policy_heads h JOIN policy_documents d "
                "ON d.kind = h.kind AND d.name = h.name AND d.version = h.version "
                "WHERE h.kind = ? ORDER BY h.name",
                (kind,),
            ).fetchall()
            return [_row(row) for row in rows]

        return await self._thread.run(read)

    async def _row(self, kind: Kind, name: str, version: int | None) -> Row | None:
        def read(connection: sqlite3.Connection) -> Row | None:
            if version is None:
                query = _SELECT + "WHERE d.kind = ? AND d.name = ? AND d.version = h.version"
                row = connection.execute(query, (kind, name)).fetchone()
            else:
                query = _SELECT + "WHERE d.kind = ? AND d.name = ? AND d.version = ?"
                row = connection.execute(query, (kind, name, version)).fetchone()
            return None if row is None else _row(row)

        return await self._thread.run(read)

    async def _rows(self, kind: Kind, name: str) -> list[Row]:
        def read(connection: sqlite3.Connection) -> list[Row]:
            query = _SELECT + "WHERE d.kind = ? AND d.name = ? ORDER BY d.version"
            return [_row(row) for row in connection.execute(query, (kind, name)).fetchall()]

        return await self._thread.run(read)

    async def _drop_head(self, kind: Kind, name: str) -> bool:
        def write(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM policy_heads WHERE kind = ? AND name = ?", (kind, name)
            )
            if cursor.rowcount:
                _bump(connection)
            return cursor.rowcount > 0

        return await self._thread.transaction(write)

    async def revision(self) -> int:
        def read(connection: sqlite3.Connection) -> int:
            row = connection.execute("SELECT revision FROM policy_revision WHERE id = 1").fetchone()
            return 0 if row is None else int(row[0])

        return await self._thread.run(read)

    async def close(self) -> None:
        await self._thread.close()
