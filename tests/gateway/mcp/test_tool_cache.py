"""The tool-result cache (in-process LRU and real Redis) and the handshake-era session tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.mcp.session_token import SessionTokens, derive_secret
from gateway.mcp.tool_cache import ToolCache, cache_key, cacheable

from support.redis_server import RedisServer

OK = {"content": [{"type": "text", "text": "3"}], "isError": False}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_what_may_be_cached() -> None:
    read_only = {"name": "echo", "annotations": {"readOnlyHint": True}}
    idempotent = {"name": "add", "annotations": {"readOnlyHint": False, "idempotentHint": True}}
    mutating = {"name": "increment", "annotations": {"readOnlyHint": False}}
    assert cacheable(read_only, "echo", ())
    assert cacheable(idempotent, "add", ())
    assert not cacheable(mutating, "increment", ())
    assert not cacheable({"name": "x"}, "x", ())
    assert cacheable({"name": "x"}, "x", ("x",))  # the operator listed it
    assert not cacheable(None, "y", ("x",))


def test_keys_separate_scopes_servers_tools_and_arguments() -> None:
    base = cache_key("team:a", "demo", "add", "h1")
    assert base == cache_key("team:a", "demo", "add", "h1")
    others = {
        cache_key("team:b", "demo", "add", "h1"),
        cache_key("team:a", "other", "add", "h1"),
        cache_key("team:a", "demo", "echo", "h1"),
        cache_key("team:a", "demo", "add", "h2"),
    }
    assert base not in others and len(others) == 4


async def test_lru_ttl_and_stats() -> None:
    clock = Clock()
    cache = ToolCache(max_entries=2, clock=clock)
    assert await cache.get("a") is None
    await cache.put("a", OK, ttl_s=10, upstream_s=0.25)
    hit = await cache.get("a")
    assert hit is not None and hit.result == OK
    await cache.put("b", OK, ttl_s=10, upstream_s=0.1)
    await cache.get("a")  # a is now the most recent
    await cache.put("c", OK, ttl_s=10, upstream_s=0.1)  # evicts b
    assert await cache.get("b") is None
    clock.now += 11
    assert await cache.get("a") is None  # expired
    cache.bypass()
    stats = cache.snapshot()
    assert (stats["hits"], stats["misses"], stats["bypasses"]) == (2, 3, 1)
    assert stats["time_saved_ms"] == 500.0
    assert stats["entries"] == 1 and stats["backend"] == "memory"


async def test_errors_and_zero_ttl_are_never_stored() -> None:
    cache = ToolCache(max_entries=10)
    await cache.put("e", {"content": [], "isError": True}, ttl_s=10, upstream_s=0.1)
    await cache.put("z", OK, ttl_s=0, upstream_s=0.1)
    assert await cache.get("e") is None and await cache.get("z") is None
    assert cache.snapshot()["stores"] == 0


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    server = RedisServer()
    server.start()
    client = aioredis.Redis.from_url(server.url)
    try:
        yield client
    finally:
        await client.aclose()
        server.kill()


async def test_redis_backend_is_shared_and_expires(redis_client: aioredis.Redis) -> None:
    first = ToolCache(max_entries=10, redis=redis_client)
    second = ToolCache(max_entries=10, redis=redis_client)  # another replica
    await first.put("k", OK, ttl_s=0.2, upstream_s=0.05)
    hit = await second.get("k")
    assert hit is not None and hit.result == OK and hit.upstream_s == 0.05
    ttl_ms = await redis_client.pttl("sf:mcp:k")
    assert 0 < ttl_ms <= 200
    assert second.snapshot()["backend"] == "redis"


async def test_redis_outage_is_a_miss() -> None:
    server = RedisServer()
    server.start()
    client = aioredis.Redis.from_url(server.url, socket_timeout=0.5)
    cache = ToolCache(max_entries=10, redis=client)
    server.kill()
    try:
        await cache.put("k", OK, ttl_s=10, upstream_s=0.1)  # logged, not raised
        assert await cache.get("k") is None
        assert cache.snapshot()["errors"] == 2
    finally:
        await client.aclose()


def test_session_tokens_bind_key_and_endpoint() -> None:
    tokens = SessionTokens(derive_secret("admin-key"))
    token = tokens.mint(scope="demo", key_id="key_1", version="2025-06-18")
    assert all(0x21 <= ord(c) <= 0x7E for c in token)
    assert tokens.verify(token, scope="demo", key_id="key_1") == "2025-06-18"
    assert tokens.verify(token, scope="demo", key_id="key_2") is None
    assert tokens.verify(token, scope="*", key_id="key_1") is None
    assert tokens.verify(token[:-2] + "AA", scope="demo", key_id="key_1") is None
    assert tokens.verify("garbage", scope="demo", key_id="key_1") is None
    replica = SessionTokens(derive_secret("admin-key"))  # same deployment, another process
    assert replica.verify(token, scope="demo", key_id="key_1") == "2025-06-18"
    other = SessionTokens(derive_secret("another-admin-key"))
    assert other.verify(token, scope="demo", key_id="key_1") is None
    tokens.end(token)
    assert tokens.verify(token, scope="demo", key_id="key_1") is None
