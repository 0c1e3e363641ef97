"""RedisCounters against a redis-server of the test's own (started on a free port, killed and
restarted by the test): key layout, one round trip per admission, spend surviving a restart,
and an outage that degrades to the in-process fallback instead of failing requests."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from gateway.store.base import Admission, Settlement
from gateway.store.counters_redis import RedisCounters, fail_fast_client

from support.redis_server import RedisServer

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600
KEY = "vk_0123456789abcdef"
DAY = datetime(2027, 1, 15, tzinfo=UTC).timestamp()

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


class FixedSpend:
    def __init__(self, spent: float) -> None:
        self.spent = spent
        self.calls = 0

    async def spent_since(self, key_id: str, since: float) -> float:
        self.calls += 1
        return self.spent


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def admin(server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = fail_fast_client(server.url)
    yield client
    await client.aclose()


def ask(now: float, **limits: float | int | str | None) -> Admission:
    fields: dict[str, object] = {
        "key_id": KEY,
        "now": now,
        "rpm": None,
        "rph": None,
        "tpm": None,
        "max_parallel": None,
        "tokens_estimate": 100,
        "reserve_usd": 0.0,
        "budget_usd": None,
        "budget_window": "total",
    }
    fields.update(limits)
    return Admission(**fields)  # type: ignore[arg-type]


def done(now: float, **figures: float | int | str | bool) -> Settlement:
    fields: dict[str, object] = {
        "key_id": KEY,
        "now": now,
        "budget_window": "total",
        "reserved_usd": 0.0,
        "actual_usd": 0.0,
        "tokens_estimate": 100,
        "actual_tokens": 100,
        "held_parallel": False,
    }
    fields.update(figures)
    return Settlement(**fields)  # type: ignore[arg-type]


async def until_back(counters: RedisCounters) -> None:
    deadline = time.monotonic() + 20
    while counters.degraded:
        assert time.monotonic() < deadline, "the counters never went back to Redis"
        await asyncio.sleep(0.05)


async def test_keys_share_one_cluster_slot_and_all_expire(
    client: redis.Redis, admin: redis.Redis
) -> None:
    counters = RedisCounters(client, FixedSpend(0.0))
    admission = ask(
        DAY + 100,
        rpm=10,
        rph=100,
        tpm=1000,
        max_parallel=2,
        reserve_usd=0.5,
        budget_usd=5.0,
        budget_window="d20270115",
    )
    assert (await counters.admit(admission, DAY)).allowed
    keys = sorted(str(key) for key in await admin.keys("*"))
    tag = "{" + KEY + "}"
    assert keys == [f"sf:{tag}:b:d20270115", f"sf:{tag}:par", f"sf:{tag}:rl"]
    assert {key_slot(key.encode()) for key in keys} == {key_slot(KEY.encode())}
    ttls = {key.rsplit(":", 1)[-1]: await admin.ttl(key) for key in keys}
    assert 3600 < ttls["rl"] <= 7260  # two hours and a minute: rph is set
    assert 600 < ttls["par"] <= 660
    assert 86_400 < ttls["d20270115"] <= 2 * 86_400  # the day's rest plus a day
    minute, hour = int((DAY + 100) // 60), int((DAY + 100) // 3600)
    assert await admin.hgetall(f"sf:{tag}:rl") == {
        "mw": str(minute), "mc": "1", "mp": "0",
        "hw": str(hour), "hc": "1", "hp": "0",
        "tw": str(minute), "tc": "100", "tp": "0",
    }  # fmt: skip
    await counters.close()


async def test_rate_windows_of_a_key_without_rph_live_two_minutes(
    client: redis.Redis, admin: redis.Redis
) -> None:
    counters = RedisCounters(client, FixedSpend(0.0))
    assert (await counters.admit(ask(T0, rpm=10, tpm=1000), 0.0)).allowed
    assert 120 < await admin.ttl("sf:{" + KEY + "}:rl") <= 180
    # a "total" budget has no end: it is kept 30 days after its last use, then reloaded
    assert 29 * 86_400 < await admin.ttl("sf:{" + KEY + "}:b:total") <= 30 * 86_400
    await counters.close()


async def test_one_round_trip_per_admission_and_per_settle(server: RedisServer) -> None:
    # generous timeouts: this counts round trips, and a 0.25 s timeout on a loaded machine
    # would degrade the counters to local ones (by design), sending nothing at all
    client = fail_fast_client(server.url, timeout_s=10.0)
    counters = RedisCounters(client, FixedSpend(0.0))
    limits = {"rpm": 1000, "tpm": 100_000, "max_parallel": 50, "reserve_usd": 0.01}
    # the first calls load the budget state, and the scripts into Redis (NOSCRIPT, SCRIPT LOAD)
    await counters.admit(ask(T0, budget_usd=100.0, **limits), 0.0)
    await counters.settle(done(T0, reserved_usd=0.01, actual_usd=0.01, held_parallel=True))
    watcher = redis.Redis.from_url(server.url)
    sent: list[str] = []
    async with watcher.monitor() as monitor:
        for i in range(20):
            await counters.admit(ask(T0 + i, budget_usd=100.0, **limits), 0.0)
            await counters.settle(
                done(T0 + i, reserved_usd=0.01, actual_usd=0.01, held_parallel=True)
            )
        await client.echo("end of test")
        while (command := await monitor.next_command())["command"] != "ECHO end of test":
            if command["client_type"] != "lua":  # commands sent by the scripts themselves
                sent.append(command["command"].split(" ", 1)[0])
    await watcher.aclose()
    assert not counters.degraded
    assert sent == ["EVALSHA"] * 40
    await counters.close()
    await client.aclose()


async def test_a_restart_does_not_reset_spend(server: RedisServer, admin: redis.Redis) -> None:
    source = FixedSpend(0.0)  # the audit log: nothing spent yet
    client = fail_fast_client(server.url)
    counters = RedisCounters(client, source, probe_interval_s=0.05)
    assert (await counters.admit(ask(T0, reserve_usd=2.0, budget_usd=2.5), 0.0)).allowed
    await counters.settle(done(T0 + 1, reserved_usd=2.0, actual_usd=2.0))
    assert (await counters.spend(KEY, "total", 0.0)).spent_usd == 2.0
    source.spent = 2.0  # the audit log has the request now

    await admin.delete(*await admin.keys("*"))  # what a restart without persistence leaves
    assert (await counters.spend(KEY, "total", 0.0)).spent_usd == 2.0
    refused = await counters.admit(ask(T0 + 2, reserve_usd=1.0, budget_usd=2.5), 0.0)
    assert refused.refused_by == "budget"
    assert refused.spent_usd == 2.0

    server.kill()  # and a real restart: the fallback starts from the audit log too
    refused = await counters.admit(ask(T0 + 3, reserve_usd=1.0, budget_usd=2.5), 0.0)
    assert counters.degraded
    assert refused.refused_by == "budget"
    server.start()
    await until_back(counters)
    refused = await counters.admit(ask(T0 + 4, reserve_usd=1.0, budget_usd=2.5), 0.0)
    assert refused.refused_by == "budget"
    assert refused.spent_usd == 2.0
    await admin.connection_pool.disconnect()  # the test's own connection died with the server
    assert await admin.hget("sf:{" + KEY + "}:b:total", "s") == str(2 * 10**9)
    await counters.close()
    await client.aclose()


async def test_an_outage_degrades_to_local_limits_and_recovers(
    server: RedisServer, admin: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    client = fail_fast_client(server.url)
    counters = RedisCounters(client, FixedSpend(0.0), probe_interval_s=0.05)
    assert (await counters.admit(ask(T0, rpm=100), 0.0)).allowed
    rate_key = "sf:{" + KEY + "}:rl"
    assert await admin.hget(rate_key, "mc") == "1"

    server.kill()
    with caplog.at_level(logging.WARNING, logger="smartflow.counters"):
        results = [await counters.admit(ask(T0 + 1, rpm=3), 0.0) for _ in range(5)]
        await counters.settle(done(T0 + 1, actual_usd=0.5))
        spend = await counters.spend(KEY, "total", 0.0)
    assert counters.degraded
    # every request got an answer, and the fallback still limits (per replica)
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert results[3].refused_by == "rpm"
    assert spend.spent_usd == 0.5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Redis unreachable" in warnings[0].getMessage()

    server.start()
    await until_back(counters)
    assert (await counters.admit(ask(T0 + 2, rpm=100), 0.0)).allowed
    await admin.connection_pool.disconnect()  # the test's own connection died with the server
    assert await admin.hget(rate_key, "mc") == "1"  # a fresh Redis counts again
    await counters.close()
    await client.aclose()


async def test_settles_made_during_a_blip_are_replayed(
    server: RedisServer, admin: redis.Redis
) -> None:
    """Redis keeps its state but does not answer for a while (CLIENT PAUSE): the slot and the
    reservation taken there before the blip are given back once it answers again."""
    client = fail_fast_client(server.url)
    counters = RedisCounters(client, FixedSpend(0.0), probe_interval_s=0.05)
    first = ask(T0, max_parallel=1, reserve_usd=0.4, budget_usd=1.0)
    assert (await counters.admit(first, 0.0)).allowed
    assert (await counters.admit(ask(T0 + 1, max_parallel=1), 0.0)).refused_by == "parallel"

    await admin.client_pause(1500, all=True)
    await counters.settle(done(T0 + 2, reserved_usd=0.4, actual_usd=0.3, held_parallel=True))
    assert counters.degraded
    await until_back(counters)

    tag = "{" + KEY + "}"
    assert await admin.zcard(f"sf:{tag}:par") == 0
    assert await admin.hgetall(f"sf:{tag}:b:total") == {"s": str(3 * 10**8)}
    second = await counters.admit(ask(T0 + 3, max_parallel=1, reserve_usd=0.7, budget_usd=1.0), 0.0)
    assert second.allowed
    assert second.spent_usd == pytest.approx(0.3)
    await counters.close()
    await client.aclose()


async def test_admissions_during_an_outage_settle_locally_and_their_spend_reaches_redis(
    server: RedisServer, admin: redis.Redis
) -> None:
    client = fail_fast_client(server.url)
    counters = RedisCounters(client, FixedSpend(0.0), probe_interval_s=0.05)
    other_replica = RedisCounters(client, FixedSpend(0.0))
    limits = {"max_parallel": 2, "budget_usd": 10.0}
    assert (await counters.admit(ask(T0, **limits), 0.0)).allowed
    await counters.settle(done(T0, held_parallel=True))
    assert (await other_replica.admit(ask(T0, reserve_usd=0.25, **limits), 0.0)).allowed

    await admin.client_pause(1500, all=True)
    during = await counters.admit(ask(T0 + 1, reserve_usd=0.5, **limits), 0.0)
    assert during.allowed and counters.degraded
    await until_back(counters)
    # admitted by the fallback: its slot and reservation are given back there; its spend goes
    # to Redis, where the other replica's slot and reservation stay held
    await counters.settle(done(T0 + 2, reserved_usd=0.5, actual_usd=0.5, held_parallel=True))
    tag = "{" + KEY + "}"
    assert await admin.zcard(f"sf:{tag}:par") == 1
    assert await admin.hgetall(f"sf:{tag}:b:total") == {
        "s": str(5 * 10**8),
        "r" + str(int(T0 // 60)): str(25 * 10**7),
    }
    await counters.close()
    await other_replica.close()
    await client.aclose()
