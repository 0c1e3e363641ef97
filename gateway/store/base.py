"""The contracts between the pipeline and the state backends.

Embedded (one process: memory; several `--workers`: SQLite) and shared (Redis, PostgreSQL)
backends keep the same semantics; the pipeline only sees these protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from gateway.core.keys import VirtualKey

LimitName = Literal["rpm", "rph", "tpm", "parallel", "budget"]


@dataclass(frozen=True, slots=True)
class Admission:
    """What one request asks of the counters, decided before the upstream call."""

    key_id: str
    now: float  # unix seconds
    rpm: int | None
    rph: int | None
    tpm: int | None
    max_parallel: int | None
    tokens_estimate: int  # prompt estimate + max output tokens, counted against tpm
    reserve_usd: float  # worst-case cost, held against the budget until settled
    budget_usd: float | None  # the cap; None: no budget
    budget_window: str  # from gateway.core.budget.window(): "total", "d20261122", "m202611"


@dataclass(frozen=True, slots=True)
class LimitState:
    """For the x-ratelimit-* response headers."""

    limit: int
    remaining: int
    reset_s: float  # seconds until the window frees capacity


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    allowed: bool
    refused_by: LimitName | None = None
    retry_after_s: float = 0.0
    requests: LimitState | None = None  # the tightest request limit (rpm, else rph)
    tokens: LimitState | None = None  # tpm
    spent_usd: float = 0.0  # settled spend in the window, after this admission


@dataclass(frozen=True, slots=True)
class Settlement:
    """After the response (or a cancelled stream): replace the reservation with the real figures."""

    key_id: str
    now: float
    budget_window: str
    reserved_usd: float
    actual_usd: float
    tokens_estimate: int
    actual_tokens: int
    held_parallel: bool  # whether admission took a parallel slot to give back


@dataclass(frozen=True, slots=True)
class Spend:
    key_id: str
    window: str
    spent_usd: float
    reserved_usd: float


class SpendSource(Protocol):
    """The durable record of spend (the audit log). Counters start from it when their own state
    is missing, so a Redis restart does not reset a budget."""

    async def spent_since(self, key_id: str, since: float) -> float: ...


class Counters(Protocol):
    """Rate limits, parallel slots and budget reservations, atomic across every process sharing
    the backend. One round trip per admission."""

    async def admit(self, admission: Admission, window_start: float) -> AdmissionResult: ...

    async def settle(self, settlement: Settlement) -> None: ...

    async def spend(self, key_id: str, window: str, window_start: float) -> Spend: ...

    async def close(self) -> None: ...


class KeyRepository(Protocol):
    """The durable record of virtual keys."""

    async def insert(self, key: VirtualKey) -> None: ...

    async def replace(self, key: VirtualKey) -> None: ...

    async def modify(
        self, key_id: str, change: Callable[[VirtualKey], VirtualKey]
    ) -> tuple[VirtualKey, VirtualKey] | None:
        """Read, change and write one key atomically, so a revoke racing an update or a rotate
        cannot be undone by it. Returns (before, after), or None when there is no such key."""
        ...

    async def get(self, key_id: str) -> VirtualKey | None: ...

    async def get_by_hash(self, key_hash: str) -> VirtualKey | None: ...

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[VirtualKey]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class KeyChange:
    """A key was updated, revoked or rotated: every replica drops it from its local cache."""

    key_id: str
    key_hash: str  # the hash that stops being valid (for a rotate: the old one)


class KeyEvents(Protocol):
    """Carries KeyChange to every process (Redis pub/sub when shared; SQLite polling between
    embedded workers). The management API publishes after the repository write."""

    async def publish(self, change: KeyChange) -> None: ...
