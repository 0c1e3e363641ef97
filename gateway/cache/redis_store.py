"""The cache shared by every replica through Redis (phase 2) and the stream that keeps each
replica's LocalCache (phases 1, 3 and the semantic index) in sync.

Keys, under a configurable prefix (default `sf:mc`):
    <p>:e:<key>         the encoded entry (gateway.cache.entry), PX = its remaining TTL
    <p>:n:<nkey>        normalized key -> exact key, same TTL (phase 3 across replicas)
    <p>:z:<namespace>   ZSET of the namespace's keys scored by expiry: capacity evicts the
                        earliest to expire (the oldest, with one TTL) and expired members go
    <p>:ns              SET of namespaces (purge of everything)
    <p>:events          STREAM (XADD MAXLEN ~) of put / evict / purge events; a put carries the
                        encoded entry, so replicas apply it without another read
A put is one Lua script (entry, normalized key, capacity, event: one round trip, atomic). The
scripts build key names from the prefix, so this layout is for a single Redis (or one slot), as
the rest of the shared mode.

Each replica's `follow` task XREADs the stream from where its `warm` started and calls back
for other replicas' events. A Redis outage degrades: every call returns None / False / [] at
once (no waiting on timeouts once down), one warning per outage, a probe pings until Redis
answers; the follower then resumes from its position, or re-warms (a "rewarm" event) when that
position was trimmed away or Redis lost its data.
A replica that started while Redis was down warms as soon as it answers (put events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.cache.entry import CacheEntry, EntryFormatError, decode, encode

log = logging.getLogger("smartflow.cache")

T = TypeVar("T")
OUTAGE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)
START: Final = "0-0"
SCAN_BATCH: Final = 500

_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('SADD', KEYS[5], ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'op', 'put', 'r', ARGV[7], 'e', ARGV[1])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[6])
local evicted = {}
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], over)
  for i = 1, #popped, 2 do
    redis.call('DEL', ARGV[9] .. popped[i])
    evicted[#evicted + 1] = popped[i]
  end
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'op', 'evict', 'r', ARGV[7],
             'k', table.concat(evicted, '\\n'))
end
return evicted
"""
_GET_NORMALIZED = """
local key = redis.call('GET', KEYS[1])
if not key then return false end
return redis.call('GET', ARGV[1] .. key)
"""

_GET_EITHER = """
local exact = redis.call('GET', KEYS[1])
if exact then return {exact, false} end
local key = redis.call('GET', KEYS[2])
if not key then return {false, false} end
return {false, redis.call('GET', ARGV[1] .. key)}
"""

EventKind = Literal["put", "evict", "purge", "rewarm"]


@dataclass(frozen=True, slots=True)
class CacheEvent:
    """What another replica did. put: `entry`; evict: `keys`; purge: `namespace` and/or
    `model` (None: any); rewarm: `entries` is the whole shared cache now (replace the local
    mirror: events were missed)."""

    kind: EventKind
    entry: CacheEntry | None = None
    keys: tuple[str, ...] = ()
    namespace: str | None = None
    model: str | None = None
    entries: tuple[CacheEntry, ...] = ()


def _reraise_cancellation() -> None:
    """On 3.11 a cancellation that meets redis-py's read timeout can surface as TimeoutError
    (an OSError, so it looks like an outage): a task being cancelled must still stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class RedisCacheStore:
    """`client` serves the calls on the request path: give it short timeouts and no retries
    (gateway.store.counters_redis.fail_fast_client). `follow_client` serves the follower's
    blocking XREAD: its socket timeout must exceed `block_ms` (default: `client`, with short
    blocks). Neither client is closed here."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_entries_per_namespace: int,
        follow_client: redis.Redis | None = None,
        prefix: str = "sf:mc",
        replica: str | None = None,
        stream_maxlen: int = 10_000,
        block_ms: int | None = None,
        probe_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._follow_client = follow_client or client
        self.max_entries_per_namespace = max_entries_per_namespace
        self._prefix = prefix
        self.replica = replica or secrets.token_hex(8)
        self._stream_maxlen = stream_maxlen
        self._block_ms = block_ms if block_ms is not None else (1000 if follow_client else 100)
        self._probe_interval_s = probe_interval_s
        self._clock = clock
        self._put_lua = client.register_script(_PUT)
        self._get_normalized_lua = client.register_script(_GET_NORMALIZED)
        self._get_either_lua = client.register_script(_GET_EITHER)
        self._events = f"{prefix}:events"
        self._namespaces = f"{prefix}:ns"
        self._position: str | None = None  # the last stream id applied (or warmed from)
        self._warm_limit = 50_000
        self._warm_owed = False  # warm() was asked for but Redis was down: the follower owes it
        self._down_since: float | None = None
        self._up = asyncio.Event()
        self._up.set()
        self._probe: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable (health checks, stats)."""
        return self._down_since is not None

    def _entry_key(self, key: str) -> str:
        return f"{self._prefix}:e:{key}"

    def _normalized_key(self, nkey: str) -> str:
        return f"{self._prefix}:n:{nkey}"

    def _zset(self, namespace: str) -> str:
        return f"{self._prefix}:z:{namespace}"

    # outage handling: one wrapper for every call

    async def _call(self, work: Callable[[], Awaitable[T]], failed: T) -> T:
        if self._down_since is not None:
            return failed
        try:
            return await work()
        except OUTAGE as error:
            _reraise_cancellation()
            self._went_down(error)
            return failed
        except RedisError as error:  # refused (OOM, a key of another type): not an outage
            log.warning("shared cache call failed: %s", error)
            return failed

    def _went_down(self, error: BaseException) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self._up.clear()
        log.warning(
            "Redis unreachable (%s: %s): the shared cache is off until it is back, "
            "each replica serves from its own memory",
            type(error).__name__,
            error,
        )
        self._probe = asyncio.get_running_loop().create_task(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval_s)
            try:
                await self._client.ping()
            except OUTAGE:
                continue
            down_s = time.monotonic() - (self._down_since or time.monotonic())
            self._down_since = None
            self._up.set()
            log.info("Redis is back after %.1f s: the shared cache is on again", down_s)
            return

    # phase 2 reads

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self._call(lambda: self._client.get(self._entry_key(key)), None)
        return self._decoded(raw)

    async def get_normalized(self, nkey: str) -> CacheEntry | None:
        prefix = self._entry_key("")
        raw = await self._call(
            lambda: self._get_normalized_lua((self._normalized_key(nkey),), (prefix,)), None
        )
        return self._decoded(raw)

    async def get_either(self, key: str, nkey: str) -> tuple[CacheEntry | None, CacheEntry | None]:
        """(the entry under the exact key, else the one under the normalized key): phases 2
        and 3 in one round trip, for a miss in this replica's memory."""
        keys = (self._entry_key(key), self._normalized_key(nkey))
        raw = await self._call(lambda: self._get_either_lua(keys, (self._entry_key(""),)), None)
        if not isinstance(raw, list) or len(raw) != 2:
            return None, None
        return self._decoded(raw[0] or None), self._decoded(raw[1] or None)

    def _decoded(self, raw: Any) -> CacheEntry | None:
        if raw is None:
            return None
        try:
            entry = decode(raw)
        except EntryFormatError as error:
            log.warning("skipping an unreadable shared cache entry: %s", error)
            return None
        return None if entry.expired(self._clock()) else entry

    # writes

    async def put(self, entry: CacheEntry) -> list[str] | None:
        """Stores the entry and tells the other replicas. Returns the keys Redis evicted to keep
        the namespace within capacity (drop them locally too), or None when not stored."""
        now = self._clock()
        ttl_ms = int((entry.expires_at - now) * 1000)
        if ttl_ms <= 0:
            return None
        keys = (
            self._entry_key(entry.key),
            self._normalized_key(entry.normalized_key),
            self._zset(entry.namespace),
            self._events,
            self._namespaces,
        )
        args = (
            encode(entry),
            ttl_ms,
            entry.expires_at,
            entry.key,
            now,
            self.max_entries_per_namespace,
            self.replica,
            self._stream_maxlen,
            self._entry_key(""),
            entry.namespace,
        )
        evicted = await self._call(lambda: self._put_lua(keys, args), None)
        return None if evicted is None else [_text(key) for key in evicted]

    async def remove(self, entry: CacheEntry) -> bool:
        """Deletes one entry everywhere (an invalidation); False when Redis is unavailable."""

        async def work() -> bool:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(self._entry_key(entry.key))
                pipe.zrem(self._zset(entry.namespace), entry.key)
                pipe.xadd(
                    self._events,
                    {"op": "evict", "r": self.replica, "k": entry.key},
                    maxlen=self._stream_maxlen,
                    approximate=True,
                )
                await pipe.execute()
            return True

        return await self._call(work, False)

    async def purge(self, namespace: str | None = None, model: str | None = None) -> int | None:
        """Deletes every entry of `namespace` and/or `model` (both None: all) and tells the
        other replicas; returns how many, or None when Redis is unavailable."""
        return await self._call(lambda: self._purge(namespace, model), None)

    async def _purge(self, namespace: str | None, model: str | None) -> int:
        if namespace is not None:
            names = [namespace]
        else:
            names = [_text(n) for n in await self._client.smembers(self._namespaces)]
        removed = 0
        for name in names:
            removed += await self._purge_namespace(name, model)
        event: dict[Any, Any] = {"op": "purge", "r": self.replica}
        if namespace is not None:
            event["ns"] = namespace
        if model is not None:
            event["m"] = model
        await self._client.xadd(self._events, event, maxlen=self._stream_maxlen, approximate=True)
        return removed

    async def _purge_namespace(self, namespace: str, model: str | None) -> int:
        zset = self._zset(namespace)
        members = [_text(k) for k in await self._client.zrange(zset, 0, -1)]
        removed = 0
        for start in range(0, len(members), SCAN_BATCH):
            keys = members[start : start + SCAN_BATCH]
            raws = await self._client.mget([self._entry_key(k) for k in keys])
            doomed: list[str] = []
            normalized: list[str] = []
            for key, raw in zip(keys, raws, strict=True):
                entry = self._decoded_any(raw)
                if entry is None or model is None or entry.model == model:
                    doomed.append(key)
                    if entry is not None:
                        normalized.append(self._normalized_key(entry.normalized_key))
                        removed += 1
            if doomed:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.delete(*[self._entry_key(k) for k in doomed], *normalized)
                    pipe.zrem(zset, *doomed)
                    await pipe.execute()
        if model is None:
            await self._client.srem(self._namespaces, namespace)
        return removed

    @staticmethod
    def _decoded_any(raw: Any) -> CacheEntry | None:
        if raw is None:
            return None
        try:
            return decode(raw)
        except EntryFormatError:
            return None

    # replication

    async def warm(self, limit: int = 50_000) -> list[CacheEntry]:
        """Up to `limit` live entries (oldest first) to fill this replica's LocalCache at
        start; the follower then starts from the stream position taken before the scan, so
        nothing written meanwhile is missed (an event may repeat an entry: puts are idempotent).
        [] when Redis is unavailable: the follower then warms once it is back."""
        self._warm_limit = limit
        entries = await self._call(lambda: self._warm(limit), None)
        self._warm_owed = entries is None
        return entries or []

    async def _warm(self, limit: int) -> list[CacheEntry]:
        last = await self._client.xrevrange(self._events, count=1)
        position = _text(last[0][0]) if last else START
        entries: list[CacheEntry] = []
        now = self._clock()
        async for batch in self._scan(f"{self._prefix}:e:*"):
            for raw in await self._client.mget(batch):
                entry = self._decoded_any(raw)
                if entry is not None and not entry.expired(now):
                    entries.append(entry)
            if len(entries) >= limit:
                break
        entries.sort(key=lambda e: e.created_at)
        self._position = position
        return entries[-limit:] if len(entries) > limit else entries

    async def _scan(self, match: str) -> AsyncIterator[list[Any]]:
        batch: list[Any] = []
        async for name in self._client.scan_iter(match=match, count=SCAN_BATCH):
            batch.append(name)
            if len(batch) >= SCAN_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    async def follow(self, on_event: Callable[[CacheEvent], None]) -> None:
        """Applies other replicas' events through `on_event` until cancelled (run it as a
        task). Starts where `warm` started, else at the stream's end. Survives outages."""
        resumed = False
        while not self._stopping:
            await self._up.wait()
            if self._stopping:
                return
            try:
                if self._position is None and self._warm_owed:
                    await self._late_warm(on_event)
                elif self._position is None:
                    last = await self._client.xrevrange(self._events, count=1)
                    self._position = _text(last[0][0]) if last else START
                elif resumed and await self._missed_events():
                    entries = await self._warm(self._warm_limit)
                    on_event(CacheEvent("rewarm", entries=tuple(entries)))
                resumed = False
                await self._read_once(on_event)
            except OUTAGE as error:
                _reraise_cancellation()
                self._went_down(error)
                resumed = True
            except ResponseError as error:  # e.g. the stream key replaced by another type
                log.warning("cannot follow the cache stream: %s", error)
                await asyncio.sleep(self._probe_interval_s)

    async def _late_warm(self, on_event: Callable[[CacheEvent], None]) -> None:
        """The warm start Redis was down for, done once it answers: its entries are added to
        what this replica cached meanwhile (put events: nothing local is older than them)."""
        entries = await self._warm(self._warm_limit)
        self._warm_owed = False
        log.info("response cache warmed from Redis after it came back (%d entries)", len(entries))
        for entry in entries:
            try:
                on_event(CacheEvent("put", entry=entry))
            except Exception:
                log.exception("applying a cache event failed")

    async def _missed_events(self) -> bool:
        """After an outage: were events after our position trimmed, or the stream lost?"""
        position = self._position or START
        if position == START:
            return False
        if not await self._client.exists(self._events):
            return True  # Redis restarted without its data (or everything expired)
        before = await self._client.xrange(self._events, min="-", max=position, count=1)
        return not before  # our id and everything up to it are gone: a gap is possible

    async def _read_once(self, on_event: Callable[[CacheEvent], None]) -> None:
        reply: Any = await self._follow_client.xread(
            {self._events: self._position or START}, count=500, block=self._block_ms
        )
        for _stream, messages in reply or ():
            for message_id, fields in messages:
                self._position = _text(message_id)
                event = self._event(fields)
                if event is not None:
                    try:
                        on_event(event)
                    except Exception:
                        log.exception("applying a cache event failed")

    def _event(self, fields: dict[Any, Any]) -> CacheEvent | None:
        data = {_text(k): v for k, v in fields.items()}
        if _text(data.get("r", b"")) == self.replica:
            return None  # this replica's own write: already applied locally
        op = _text(data.get("op", b""))
        if op == "put":
            entry = self._decoded_any(data.get("e"))
            return None if entry is None else CacheEvent("put", entry=entry)
        if op == "evict":
            keys = tuple(k for k in _text(data.get("k", b"")).split("\n") if k)
            return CacheEvent("evict", keys=keys)
        if op == "purge":
            ns, model = data.get("ns"), data.get("m")
            return CacheEvent(
                "purge",
                namespace=None if ns is None else _text(ns),
                model=None if model is None else _text(model),
            )
        return None

    def start_following(self, on_event: Callable[[CacheEvent], None]) -> asyncio.Task[None]:
        """Runs `follow` as a task that `close` stops."""
        self._follower = asyncio.get_running_loop().create_task(self.follow(on_event))
        return self._follower

    async def delete_all(self) -> None:
        """Removes every key under the prefix (tests, `sfctl cache clear`)."""

        async def work() -> None:
            async for batch in self._scan(f"{self._prefix}:*"):
                await self._client.delete(*batch)

        await self._call(work, None)

    async def close(self) -> None:
        """Stops the follower and the probe; the clients are the caller's. The follower ends
        after its current XREAD (cancelling a read blocked in redis-py can leave the task
        waiting on the socket timeout), cancelled only if that takes too long."""
        self._stopping = True
        self._up.set()
        follower, self._follower = self._follower, None
        if follower is not None and not follower.done():
            done, _ = await asyncio.wait({follower}, timeout=self._block_ms / 1000 + 1.0)
            if not done:
                follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
