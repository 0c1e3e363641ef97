"""Shared mode: two gateways (replicas) on one real Redis and one PostgreSQL database. A tool
result cached through one replica is a hit on the other (the upstream ran once), entries carry
the server's TTL in Redis, and a handshake-era session opened on one replica is valid on the
other (its id is a token signed with the deployment's admin key, not state)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from mcp_e2e import admin, create_key, mcp_gateway, modern_call, raw_call

from support.mcp_servers import demo_server, serve_mcp
from support.pg import fresh_database
from support.redis_server import RedisServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


async def test_the_cache_and_sessions_span_replicas(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        fresh_database("smartflow_mcp") as dsn,
        serve_mcp(demo_server("alpha")) as alpha,
    ):
        env = {"KEYSTORE_REDIS_URL": redis_server.url, "DATABASE_URL": dsn}
        async with (
            mcp_gateway(tmp_path / "a", env) as first,
            mcp_gateway(tmp_path / "b", env) as second,
        ):
            body = {"name": "alpha", "url": alpha.url, "cache_ttl_s": 60}
            await admin(first, "POST", "/api/admin/mcp/servers", body)
            for gw in (first, second):
                registry = gw.state.registry
                assert registry is not None
                await registry.reload()
                await registry.refresh_tools("alpha")
            key = await create_key(first)
            status, headers, _ = await modern_call(
                first.url + "/api/mcp/alpha", key, "add", {"a": 4, "b": 5}
            )
            assert status == 200 and headers["x-smartflow-cache"] == "miss"
            client = aioredis.Redis.from_url(redis_server.url)
            for _ in range(200):  # the entry is written after the response
                if await client.keys("sf:mcp:*"):
                    break
                await asyncio.sleep(0.01)
            status, headers, body = await modern_call(
                second.url + "/api/mcp/alpha", key, "add", {"a": 4, "b": 5}
            )
            assert headers["x-smartflow-cache"] == "hit-exact"
            assert body["result"]["structuredContent"] == {"result": 9}
            assert alpha.calls["add"] == 1
            try:
                keys = await client.keys("sf:mcp:*")
                assert len(keys) == 1
                assert 0 < await client.ttl(keys[0]) <= 60
            finally:
                await client.aclose()
            stats = await admin(second, "GET", "/api/mcp/cache/stats")
            assert stats["backend"] == "redis" and stats["hits"] == 1
            init = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
            _, headers, _ = await raw_call(first.url + "/api/mcp/alpha", key, init)
            session = {"Mcp-Session-Id": headers["Mcp-Session-Id"]}
            listed = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            status, _, body = await raw_call(second.url + "/api/mcp/alpha", key, listed, session)
            assert status == 200 and len(body["result"]["tools"]) == 5
