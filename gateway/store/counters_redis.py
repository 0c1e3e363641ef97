"""Counters shared by every replica through Redis: one Lua script per admission, one per settle.

Keys (hash-tagged: every key of a virtual key lives in one Redis Cluster slot):
    <prefix>:{<key_id>}:rl                 hash of the rate windows: mw mc mp (rpm: window index,
                                           count, previous window's count), hw hc hp (rph), tw tc
                                           tp (tpm)
    <prefix>:{<key_id>}:par                zset of parallel slots scored by their expiry
    <prefix>:{<key_id>}:b:<budget window>  hash s (settled spend), r<minute> (reservations made
                                           in that minute)
Money is integer nano-USD. Every key has a TTL, so nothing accumulates: the rate windows two
windows + 60 s (of the longest limit set, renewed when a window index moves on), the slots 660 s,
a budget window its end + 1 day (a "total" budget 30 days after its last reservation); an
expired budget reloads from the spend source.

When a budget window's state is missing (first use, a Redis restart, expiry), it is loaded from
`SpendSource` and set with HSETNX before admitting: a restart does not reset spend. Only that rare
path takes more than one round trip.

A Redis outage degrades, it never fails a request: on a connection error or timeout admissions
and settles go to the in-process fallback (per-replica limits), one warning is logged, and a
background probe pings Redis every `probe_interval_s` until it answers. Settles made meanwhile
for reservations and slots held in Redis are replayed to it then, so a short blip does not
leave a slot taken for ten minutes or spend uncounted. This process knows which slots and
reservations it took in Redis (counts per key), so a settle gives back only what was taken
there. A timeout is ambiguous (the command may still run): at worst a count is applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import redis.asyncio as redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from gateway.core import ratelimit as rl
from gateway.store.base import (
    Admission,
    AdmissionResult,
    LimitName,
    Settlement,
    Spend,
    SpendSource,
)
from gateway.store.counters_local import LocalCounters, Usage, admission_result

log = logging.getLogger("smartflow.counters")

# redis-py wraps socket errors in its ConnectionError; a bare OSError is not caught, so a failing
# spend source (a database driver's connection error) is not taken for a Redis outage.
OUTAGE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
MASK: tuple[tuple[int, LimitName], ...] = (
    (1, "rpm"),
    (2, "rph"),
    (4, "tpm"),
    (8, "parallel"),
    (16, "budget"),
)
BUDGET_SLACK_S = 86_400  # a finished budget window stays readable for a day
TOTAL_BUDGET_TTL_S = 30 * 86_400  # a "total" budget idle this long reloads from the spend source
REPLAY_MAX = 100_000  # settles kept for replay during one outage (oldest dropped beyond)
MISSING = -1


def fail_fast_client(url: str, *, timeout_s: float = 0.25) -> redis.Redis:
    """A client for the counters: short timeouts and no retries, so an outage costs a request
    milliseconds, not redis-py's default 5 s timeouts times 10 retries."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


def _lua(name: str) -> str:
    return resources.files("gateway.store").joinpath("lua", name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=256)
def _window_end(window: str) -> float | None:
    return rl.window_end(window)  # parses the window id: worth remembering on the hot path


def budget_ttl_s(window: str, now: float) -> int:
    end = _window_end(window)
    if end is None:
        return TOTAL_BUDGET_TTL_S
    return max(int(end - now), 0) + BUDGET_SLACK_S


@dataclass(frozen=True, slots=True)
class _Replay:
    """A settle made during an outage, for what this process had taken in Redis."""

    key_id: str
    budget_window: str
    now: float
    give_slot: bool
    release: int
    actual: int


class RedisCounters:
    """`client` should come from `fail_fast_client` (short timeouts, no retries); it is not
    closed here. `spend_source` starts missing budget states. `fallback` decides while Redis is
    down (default: a LocalCounters on the same spend source). `prefix` starts every key."""

    def __init__(
        self,
        client: redis.Redis,
        spend_source: SpendSource,
        *,
        fallback: LocalCounters | None = None,
        prefix: str = "sf",
        probe_interval_s: float = 1.0,
    ) -> None:
        self._client = client
        self._spend_source = spend_source
        self._fallback = fallback if fallback is not None else LocalCounters(spend_source)
        self._prefix = prefix
        self._probe_interval_s = probe_interval_s
        self._admit_lua = client.register_script(_lua("admit.lua"))
        self._settle_lua = client.register_script(_lua("settle.lua"))
        self._init_lua = client.register_script(_lua("init_budget.lua"))
        self._slot_ids = itertools.count()
        self._process = secrets.token_hex(8)
        # what this process holds in Redis, so a settle gives back only what was taken there
        self._remote_slots: dict[str, int] = {}
        self._remote_reserved: dict[tuple[str, str], int] = {}
        self._down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None
        self._replay: deque[_Replay] = deque(maxlen=REPLAY_MAX)

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and the fallback decides (for health checks)."""
        return self._down_since is not None

    def _budget_key(self, key_id: str, window: str) -> str:
        return f"{self._prefix}:{{{key_id}}}:b:{window}"

    # admission

    async def admit(self, admission: Admission, window_start: float) -> AdmissionResult:
        if self._down_since is None:
            try:
                return await self._admit_remote(admission, window_start)
            except OUTAGE as error:
                self._went_down(error)
        return await self._fallback.admit(admission, window_start)

    async def _admit_remote(self, a: Admission, window_start: float) -> AdmissionResult:
        base = f"{self._prefix}:{{{a.key_id}}}:"
        keys = (base + "rl", base + "par", base + "b:" + a.budget_window)
        reserve = rl.to_nano(a.reserve_usd)
        budget = rl.to_nano(a.budget_usd) if a.budget_usd is not None else None
        now = a.now
        args = (
            now,
            a.rpm or 0,
            a.rph or 0,
            a.tpm or 0,
            a.tokens_estimate,
            a.max_parallel or 0,
            f"{self._process}:{next(self._slot_ids)}",
            now + rl.SLOT_TTL_S,
            reserve,
            -1 if budget is None else budget,
            budget_ttl_s(a.budget_window, now),
            rl.reservation_bucket(now),
            rl.oldest_live_bucket(now),
        )
        packed = ("|".join(map(repr, args[:6])), args[6], "|".join(map(repr, args[7:])))
        argv = ("|".join(packed),)  # one argument: see the top of admit.lua
        reply = await self._admit_lua(keys, argv)
        if reply[0] == MISSING:
            await self._load(a.key_id, a.budget_window, window_start, now)
            reply = await self._admit_lua(keys, argv)
            if reply[0] == MISSING:
                raise RuntimeError(f"budget state for {a.key_id} vanished while loading")
        u = Usage(
            rl.position(now, rl.WINDOWS["rpm"])[1],
            rl.position(now, rl.WINDOWS["rph"])[1],
            rpm=(reply[2], reply[3]),
            rph=(reply[4], reply[5]),
            tpm=(reply[6], reply[7]),
            slots=reply[8],
            spent=reply[9],
            reserved=reply[10],
        )
        mask = reply[1]
        refused = [name for bit, name in MASK if mask & bit]
        if not refused:
            if a.max_parallel is not None:
                self._remote_slots[a.key_id] = self._remote_slots.get(a.key_id, 0) + 1
            if reserve:
                held = (a.key_id, a.budget_window)
                self._remote_reserved[held] = self._remote_reserved.get(held, 0) + reserve
        return admission_result(a, u, refused, reserve, budget)

    async def _load(self, key_id: str, window: str, window_start: float, now: float) -> None:
        spent = rl.to_nano(await self._spend_source.spent_since(key_id, window_start))
        await self._init_lua(
            (self._budget_key(key_id, window),), (spent, budget_ttl_s(window, now))
        )

    # settlement

    def _take_slot(self, key_id: str) -> bool:
        held = self._remote_slots.get(key_id, 0)
        if held <= 0:
            return False
        if held == 1:
            del self._remote_slots[key_id]
        else:
            self._remote_slots[key_id] = held - 1
        return True

    def _take_reserved(self, key_id: str, window: str, amount: int) -> int:
        held = self._remote_reserved.get((key_id, window), 0)
        taken = min(held, amount)
        if taken >= held:
            self._remote_reserved.pop((key_id, window), None)
        else:
            self._remote_reserved[(key_id, window)] = held - taken
        return taken

    async def settle(self, settlement: Settlement) -> None:
        s = settlement
        give_slot = s.held_parallel and self._take_slot(s.key_id)
        reserved = rl.to_nano(s.reserved_usd)
        release = self._take_reserved(s.key_id, s.budget_window, reserved) if reserved else 0
        local = replace(
            s,
            reserved_usd=rl.to_usd(reserved - release),
            held_parallel=s.held_parallel and not give_slot,
        )
        remote = _Replay(
            s.key_id, s.budget_window, s.now, give_slot, release, rl.to_nano(s.actual_usd)
        )
        if self._down_since is None:
            try:
                await self._settle_remote(remote, s.actual_tokens - s.tokens_estimate, replay=False)
            except OUTAGE as error:
                self._went_down(error)
            else:
                if local.held_parallel or local.reserved_usd:
                    # taken from the fallback in an outage: give it back there (spend: Redis)
                    await self._fallback.settle(
                        replace(local, actual_usd=0.0, actual_tokens=s.tokens_estimate)
                    )
                return
        await self._fallback.settle(local)
        self._replay.append(remote)

    async def _settle_remote(self, item: _Replay, token_delta: int, *, replay: bool) -> bool:
        """Settle in Redis; True when the budget state was missing and loaded first. A replayed
        settle's spend is then not added: the durable record it was loaded from has it."""
        base = f"{self._prefix}:{{{item.key_id}}}:"
        keys = (base + "rl", base + "par", base + "b:" + item.budget_window)

        def args(actual: int) -> tuple[Any, ...]:
            return (
                item.now,
                token_delta,
                1 if item.give_slot else 0,
                item.release,
                actual,
                rl.oldest_live_bucket(item.now),
            )

        if await self._settle_lua(keys, args(item.actual)) != MISSING:
            return False
        start = rl.window_start(item.budget_window)
        await self._load(item.key_id, item.budget_window, start, item.now)
        await self._settle_lua(keys, args(0 if replay else item.actual))
        return True

    # reporting

    async def spend(self, key_id: str, window: str, window_start: float) -> Spend:
        if self._down_since is None:
            try:
                return await self._spend_remote(key_id, window, window_start)
            except OUTAGE as error:
                self._went_down(error)
        return await self._fallback.spend(key_id, window, window_start)

    async def _spend_remote(self, key_id: str, window: str, window_start: float) -> Spend:
        key = self._budget_key(key_id, window)
        fields = await self._budget_fields(key)
        if "s" not in fields:
            await self._load(key_id, window, window_start, time.time())
            fields = await self._budget_fields(key)
        spent = fields.pop("s", 0)
        # as of the key's last admission or settle, which pruned the expired ones
        reserved = sum(fields.values())
        return Spend(key_id, window, rl.to_usd(spent), rl.to_usd(reserved))

    async def _budget_fields(self, key: str) -> dict[str, int]:
        fields: dict[bytes | str, bytes | str] = await self._client.hgetall(key)
        return {
            (name.decode() if isinstance(name, bytes) else name): int(value)
            for name, value in fields.items()
        }

    # outage

    def _went_down(self, error: BaseException) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        log.warning(
            "Redis unreachable (%s: %s): rate limits and budgets are per replica until it is back",
            type(error).__name__,
            error,
        )
        self._fallback.clear()
        self._probe = asyncio.get_running_loop().create_task(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval_s)
            try:
                await self._client.ping()
                await self._replay_settles()
            except OUTAGE:
                continue
            except Exception:
                log.exception("replaying settles to Redis failed; they are dropped")
                self._replay.clear()
            down_s = time.monotonic() - (self._down_since or time.monotonic())
            self._down_since = None
            log.info("Redis is back after %.1f s: rate limits and budgets are shared again", down_s)
            return

    async def _replay_settles(self) -> None:
        # A budget state that Redis lost (a restart) is loaded from the durable record, which
        # already has this outage's spend: later settles of the same window must not add it again.
        loaded: set[tuple[str, str]] = set()
        while self._replay:
            item = self._replay[0]
            window = (item.key_id, item.budget_window)
            if window in loaded:
                item = replace(item, actual=0)
            if await self._settle_remote(item, 0, replay=True):
                loaded.add(window)
            self._replay.popleft()

    async def close(self) -> None:
        """Stops the probe. The client is the caller's: it may be shared, so it stays open."""
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        await self._fallback.close()
