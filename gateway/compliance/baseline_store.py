"""Where organisations' baselines live: the embedded SQLite file, or PostgreSQL when shared.

Both keep the same three things per organisation (its random HMAC salt, the feedback rows, the
thresholds an administrator set) and one global revision that every write bumps, so a proxy
holding baselines in memory (`BaselineCache`) reloads only when something changed.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol

from gateway.compliance.baseline import Baseline, Feedback
from gateway.settings import Settings

SALT_BYTES = 32
CACHE_MAX_ORGS = 10_000


class BaselineStore(Protocol):
    async def baseline(self, org: str) -> Baseline:
        """The organisation's baseline; creates its salt on first use, so a digest computed
        with the returned baseline is the one `record` stores."""
        ...

    async def record(self, feedback: Feedback) -> Baseline: ...

    async def set_thresholds(self, org: str, thresholds: Mapping[str, float]) -> Baseline:
        """Replace the organisation's manual thresholds (an empty mapping clears them)."""
        ...

    async def revision(self) -> int: ...

    async def close(self) -> None: ...


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


@contextlib.asynccontextmanager
async def open_baseline_store(settings: Settings) -> AsyncIterator[BaselineStore]:
    """PostgreSQL when DATABASE_URL is set (replicas share feedback), else the SQLite file in
    the data directory. Closed on exit."""
    store: BaselineStore
    if settings.database_url:
        from gateway.compliance.baseline_postgres import PostgresBaselineStore

        store = await PostgresBaselineStore.connect(settings.database_url)
    else:
        from gateway.compliance.baseline_sqlite import SqliteBaselineStore

        store = SqliteBaselineStore.in_data_dir(settings.data_dir)
    try:
        yield store
    finally:
        await store.close()


class BaselineCache:
    """Baselines held in memory for the hot path; all dropped when the store's revision moves.

    The revision is read at most once per `every_s`, so a feedback written on one replica
    applies on the others within that delay; `get` costs a dict lookup otherwise.
    """

    def __init__(
        self,
        store: BaselineStore,
        *,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._every_s = every_s
        self._clock = clock
        self._revision: int | None = None
        self._checked_at = float("-inf")
        self._baselines: dict[str, Baseline] = {}

    async def get(self, org: str) -> Baseline:
        now = self._clock()
        if now - self._checked_at >= self._every_s:
            self._checked_at = now
            revision = await self._store.revision()
            if revision != self._revision:
                self._revision = revision
                self._baselines.clear()
        baseline = self._baselines.get(org)
        if baseline is None:
            if len(self._baselines) >= CACHE_MAX_ORGS:
                self._baselines.clear()  # bounded memory; the next lookups reload
            baseline = self._baselines[org] = await self._store.baseline(org)
        return baseline

    def peek(self, org: str) -> Baseline | None:
        """The baseline if it is in memory (no I/O: for work that must not wait, such as the
        scan made for the audit record after a response)."""
        return self._baselines.get(org)

    def forget(self) -> None:
        """Drop everything (after this process wrote to the store itself)."""
        self._baselines.clear()
        self._checked_at = float("-inf")
