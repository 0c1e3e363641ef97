"""Shared mode: two gateway replicas on one real Redis and one PostgreSQL database. An agent
registered through one replica is served by both; a key's budget counts tasks across them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from a2a_fixtures import ADMIN, a2a_gateway, audit_rows, bearer, create_key, message_params, rpc

from support.a2a_agents import serve_agent
from support.pg import fresh_database
from support.redis_server import RedisServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


async def test_a_budget_counts_tasks_across_replicas(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with fresh_database("smartflow_a2a") as dsn, serve_agent() as agent:
        env = {"KEYSTORE_REDIS_URL": redis_server.url, "DATABASE_URL": dsn}
        async with (
            a2a_gateway(tmp_path / "a", env=env) as first,
            a2a_gateway(tmp_path / "b", env=env) as second,
        ):
            spec = {"name": "echo", "url": agent.url, "price_per_task_usd": 0.1}
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    first.url + "/api/admin/a2a/agents", json=spec, headers=ADMIN
                ) as resp:
                    assert resp.status == 201, await resp.text()
                for gw in (first, second):
                    assert gw.state.registry is not None
                    await gw.state.registry.reload()
                key = await create_key(first, budget={"max_usd": 0.25, "period": "daily"})
                headers = {**bearer(key), "A2A-Version": "1.0"}
                statuses = []
                for index, gw in enumerate((first, second, first)):
                    body = rpc("SendMessage", message_params("x", f"m-{index}"), index)
                    async with session.post(f"{gw.url}/a2a/echo", json=body, headers=headers) as r:
                        statuses.append(r.status)
            assert statuses == [200, 200, 429]
            assert len(agent.tasks) == 2
            rows = await audit_rows(second, 3)
            assert sorted(r["cost_usd"] for r in rows) == pytest.approx([0.0, 0.1, 0.1])
