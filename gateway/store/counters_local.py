"""In-process counters: the embedded single-process default, and the Redis fallback.

One event loop owns the state, so plain dicts and no locks. The decision and the result are built
by `refusals` and `admission_result`, which the SQLite and Redis backends share, so every backend
answers the same admission the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core import ratelimit as rl
from gateway.store.base import (
    Admission,
    AdmissionResult,
    LimitName,
    LimitState,
    Settlement,
    Spend,
    SpendSource,
)

BUDGET_WINDOWS_KEPT = 2  # per key: the current budget window and the one before
MINUTE = rl.WINDOWS["rpm"]
HOUR = rl.WINDOWS["rph"]


@dataclass(slots=True)
class Usage:
    """A key's counts as one admission sees them: (prev, cur) rolled to `now` per limit, live
    parallel slots, spend and reservations in nano-USD, and how far `now` is into the current
    minute and hour windows (`rl.position`)."""

    minute: float
    hour: float
    rpm: tuple[int, int] = (0, 0)
    rph: tuple[int, int] = (0, 0)
    tpm: tuple[int, int] = (0, 0)
    slots: int = 0
    spent: int = 0
    reserved: int = 0


def refusals(a: Admission, u: Usage, reserve: int, budget: int | None) -> list[LimitName]:
    """The limits that have no room for this admission (empty: admit)."""
    refused: list[LimitName] = []
    if a.rpm is not None and not rl.has_room(a.rpm, u.rpm, u.minute, MINUTE, 1):
        refused.append("rpm")
    if a.rph is not None and not rl.has_room(a.rph, u.rph, u.hour, HOUR, 1):
        refused.append("rph")
    if a.tpm is not None and not rl.has_room(a.tpm, u.tpm, u.minute, MINUTE, a.tokens_estimate):
        refused.append("tpm")
    if a.max_parallel is not None and u.slots >= a.max_parallel:
        refused.append("parallel")
    if not rl.budget_fits(budget, u.spent, u.reserved, reserve):
        refused.append("budget")
    return refused


def _wait(a: Admission, u: Usage, name: LimitName, reserve: int, budget: int | None) -> float:
    if name == "rpm" and a.rpm is not None:
        return rl.retry_after(a.rpm, u.rpm, u.minute, MINUTE, 1)
    if name == "rph" and a.rph is not None:
        return rl.retry_after(a.rph, u.rph, u.hour, HOUR, 1)
    if name == "tpm" and a.tpm is not None:
        return rl.retry_after(a.tpm, u.tpm, u.minute, MINUTE, a.tokens_estimate)
    if name == "budget" and budget is not None:
        return rl.budget_retry_after(a.budget_window, a.now, budget, u.spent, reserve)
    return rl.PARALLEL_RETRY_S


def _state(limit: int, counts: tuple[int, int], elapsed: float, size: float) -> LimitState:
    return LimitState(
        limit=limit,
        remaining=rl.remaining(limit, counts, elapsed, size),
        reset_s=rl.reset_after(counts, elapsed, size),
    )


def _refusal(
    a: Admission, u: Usage, refused: list[LimitName], reserve: int, budget: int | None
) -> tuple[LimitName, float]:
    """A budget refusal names the budget (it maps to its own error code); otherwise the refusing
    limit that frees last is named, so a client that waits `retry_after_s` is not refused again
    at once by another limit."""
    if "budget" in refused:
        return "budget", _wait(a, u, "budget", reserve, budget)
    waits = [(_wait(a, u, name, reserve, budget), name) for name in refused]
    wait, name = max(waits, key=lambda pair: pair[0])
    return name, wait


def admission_result(
    a: Admission, u: Usage, refused: list[LimitName], reserve: int, budget: int | None
) -> AdmissionResult:
    """The answer, given the usage `u` seen before the admission and the limits that refused."""
    by: LimitName | None = None
    wait = 0.0
    if refused:
        by, wait = _refusal(a, u, refused, reserve, budget)
        rpm, rph, tpm = u.rpm, u.rph, u.tpm
    else:
        rpm = (u.rpm[0], u.rpm[1] + 1)
        rph = (u.rph[0], u.rph[1] + 1)
        tpm = (u.tpm[0], u.tpm[1] + a.tokens_estimate)
    if a.rpm is not None:
        requests: LimitState | None = _state(a.rpm, rpm, u.minute, MINUTE)
    elif a.rph is not None:
        requests = _state(a.rph, rph, u.hour, HOUR)
    else:
        requests = None
    return AdmissionResult(
        allowed=by is None,
        refused_by=by,
        retry_after_s=wait,
        requests=requests,
        tokens=_state(a.tpm, tpm, u.minute, MINUTE) if a.tpm is not None else None,
        spent_usd=rl.to_usd(u.spent),
    )


class _Key:
    """One key's state. A window is [index, cur, prev]; slots are expiry times, oldest first."""

    __slots__ = ("budgets", "rph", "rpm", "slots", "tpm")

    def __init__(self) -> None:
        self.rpm = [0, 0, 0]
        self.rph = [0, 0, 0]
        self.tpm = [0, 0, 0]
        self.slots: list[float] = []
        self.budgets: dict[str, list[int]] = {}  # window -> [spent, reserved]


def _view(window: list[int], index: int) -> tuple[int, int]:
    stored = window[0]
    if stored == index:
        return window[2], window[1]
    if stored == index - 1:
        return window[1], 0
    return 0, 0


class LocalCounters:
    """Counters of this process only. With a `spend_source`, a budget window this process has
    not seen yet starts from the durable spend record instead of zero. Slots expire as in every
    backend; reservations need not (they cannot outlive the process that holds them)."""

    def __init__(self, spend_source: SpendSource | None = None) -> None:
        self._spend_source = spend_source
        self._keys: dict[str, _Key] = {}

    def clear(self) -> None:
        """Forget everything (the Redis backend calls it when an outage starts, so the fallback
        starts from the durable spend record, not from what it saw in the last outage)."""
        self._keys.clear()

    def _key(self, key_id: str) -> _Key:
        key = self._keys.get(key_id)
        if key is None:
            key = self._keys[key_id] = _Key()
        return key

    async def _budget(self, key: _Key, key_id: str, window: str, start: float) -> list[int]:
        budget = key.budgets.get(window)
        if budget is not None:
            return budget
        spent = 0
        if self._spend_source is not None:
            spent = rl.to_nano(await self._spend_source.spent_since(key_id, start))
            budget = key.budgets.get(window)  # another admission may have loaded it meanwhile
            if budget is not None:
                return budget
        if len(key.budgets) >= BUDGET_WINDOWS_KEPT:
            del key.budgets[next(iter(key.budgets))]
        budget = key.budgets[window] = [spent, 0]
        return budget

    async def admit(self, admission: Admission, window_start: float) -> AdmissionResult:
        a = admission
        now = a.now
        key = self._keys.get(a.key_id) or self._key(a.key_id)
        budget_state = key.budgets.get(a.budget_window) or await self._budget(
            key, a.key_id, a.budget_window, window_start
        )
        slots = key.slots
        while slots and slots[0] <= now:
            del slots[0]
        minute_index, minute = rl.position(now, MINUTE)
        hour_index, hour = rl.position(now, HOUR)
        u = Usage(
            minute,
            hour,
            rpm=_view(key.rpm, minute_index) if a.rpm is not None else (0, 0),
            rph=_view(key.rph, hour_index) if a.rph is not None else (0, 0),
            tpm=_view(key.tpm, minute_index) if a.tpm is not None else (0, 0),
            slots=len(slots),
            spent=budget_state[0],
            reserved=budget_state[1],
        )
        reserve = rl.to_nano(a.reserve_usd)
        budget = rl.to_nano(a.budget_usd) if a.budget_usd is not None else None
        refused = refusals(a, u, reserve, budget)
        if not refused:
            if a.rpm is not None:
                key.rpm[:] = minute_index, u.rpm[1] + 1, u.rpm[0]
            if a.rph is not None:
                key.rph[:] = hour_index, u.rph[1] + 1, u.rph[0]
            if a.tpm is not None:
                key.tpm[:] = minute_index, u.tpm[1] + a.tokens_estimate, u.tpm[0]
            if a.max_parallel is not None:
                slots.append(now + rl.SLOT_TTL_S)
            budget_state[1] += reserve
        return admission_result(a, u, refused, reserve, budget)

    async def settle(self, settlement: Settlement) -> None:
        s = settlement
        key = self._keys.get(s.key_id) or self._key(s.key_id)
        if s.held_parallel and key.slots:
            key.slots.pop()  # the newest: a leaked slot is an old one, and ages out
        delta = s.actual_tokens - s.tokens_estimate
        if delta:
            index = rl.window_index(s.now, MINUTE)
            prev, cur = _view(key.tpm, index)
            if prev or cur:
                prev, cur = rl.corrected(prev, cur, delta)
                key.tpm[:] = index, cur, prev
        budget = key.budgets.get(s.budget_window) or await self._budget(
            key, s.key_id, s.budget_window, rl.window_start(s.budget_window)
        )
        budget[1] = max(budget[1] - rl.to_nano(s.reserved_usd), 0)
        budget[0] += rl.to_nano(s.actual_usd)

    async def spend(self, key_id: str, window: str, window_start: float) -> Spend:
        key = self._keys.get(key_id)
        budget = key.budgets.get(window) if key is not None else None
        if budget is None:  # a report does not make room for a window no request uses
            spent = 0.0
            if self._spend_source is not None:
                spent = await self._spend_source.spent_since(key_id, window_start)
            return Spend(key_id, window, spent, 0.0)
        return Spend(key_id, window, rl.to_usd(budget[0]), rl.to_usd(budget[1]))

    async def close(self) -> None:
        self._keys.clear()
