"""/api/providers/perf and /api/health/comprehensive, and the Redis perf board behind them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from gateway.services.ops_api import merge
from gateway.store.perf_board import BOARD, RedisPerfBoard

from support.gateway import ADMIN_KEY, running_gateway

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def test_perf_and_comprehensive_health(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw, httpx.AsyncClient(base_url=gw.url) as client:
        await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            headers=ADMIN,
        )
        perf = (await client.get("/api/providers/perf", headers=ADMIN)).json()
        health = (await client.get("/api/health/comprehensive", headers=ADMIN)).json()
        unauthorised = await client.get("/api/health/comprehensive")
    (deployment,) = perf["deployments"]
    assert deployment["provider"] == "mock" and deployment["requests"] == 1
    assert health["status"] == "ok"
    assert health["components"]["database"]["status"] == "ok"
    assert health["components"]["database"]["latency_ms"] >= 0
    assert health["components"]["providers"]["providers"]["mock"]["status"] == "ok"
    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]["type"] == "authentication_error"


async def test_comprehensive_health_reports_a_dead_redis(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw, httpx.AsyncClient(base_url=gw.url) as client:

        async def dead() -> None:
            raise ConnectionError("connection refused")

        gw.state.health_checks["redis"] = dead
        health = (await client.get("/api/health/comprehensive", headers=ADMIN)).json()
    assert health["status"] == "degraded"
    assert health["components"]["redis"] == {
        "status": "down",
        "error": "ConnectionError: connection refused",
        "latency_ms": health["components"]["redis"]["latency_ms"],
    }


async def test_perf_board_shares_fresh_snapshots_through_redis() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    now = [1000.0]
    board = RedisPerfBoard(client, clock=lambda: now[0])
    replica = f"test-{os.urandom(4).hex()}"
    row = {
        "deployment": "m/p/*",
        "model": "m",
        "provider": "p",
        "requests": 3,
        "errors": 1,
        "timeouts": 0,
        "cooldowns": 0,
        "error_rate": 0.33,
        "cooling_down": False,
        "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 3.0},
    }
    try:
        await board.publish(replica, [row])
        mine = [s for s in await board.snapshots() if s["replica"] == replica]
        assert mine and mine[0]["deployments"] == [row]
        now[0] += 60  # the replica stopped publishing: its snapshot is dropped
        assert not [s for s in await board.snapshots() if s["replica"] == replica]
        assert not await client.hexists(BOARD, replica)
    finally:
        await client.hdel(BOARD, replica)
        await client.aclose()


def test_merge_sums_counts_and_keeps_the_worst_latency() -> None:
    base = {
        "deployment": "d",
        "requests": 2,
        "errors": 0,
        "timeouts": 0,
        "cooldowns": 0,
        "error_rate": 0.0,
        "cooling_down": False,
        "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 5.0},
    }
    other = {
        **base,
        "requests": 3,
        "errors": 1,
        "error_rate": 0.3,
        "cooling_down": True,
        "latency_ms": {"p50": 2.0, "p90": 1.0, "p99": 4.0},
    }
    (row,) = merge([{"deployments": [base]}, {"deployments": [other]}])
    assert row["requests"] == 5 and row["errors"] == 1 and row["replicas"] == 2
    assert row["cooling_down"] is True
    assert row["latency_ms"] == {"p50": 2.0, "p90": 2.0, "p99": 5.0}


async def test_budget_view_of_a_key_without_limits_reads_the_audit_log(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw, httpx.AsyncClient(base_url=gw.url) as client:
        created = (
            await client.post("/api/enterprise/vkeys", json={"name": "free"}, headers=ADMIN)
        ).json()
        for text in ("one", "two", "three"):
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
                headers={"Authorization": f"Bearer {created['key']}"},
            )
            assert response.status_code == 200
        for _ in range(50):  # the audit log is written in batches, off the request path
            spend = (await client.get("/api/audit/spend?group_by=key", headers=ADMIN)).json()
            rows = [r for r in spend["rows"] if r["group"] == created["id"]]
            if rows and rows[0]["requests"] == 3:
                break
            await asyncio.sleep(0.05)
        budget = (
            await client.get(f"/api/enterprise/vkeys/{created['id']}/budget", headers=ADMIN)
        ).json()
    assert budget["budget"] is None and budget["remaining_usd"] is None
    assert budget["spent_usd"] == pytest.approx(rows[0]["cost_usd"])
    assert budget["spent_usd"] > 0
