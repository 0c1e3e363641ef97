"""Tool calls under the same keys, limits, budgets and audit as chat: a budget that counts tool
calls at the server's price per call (the call after it is spent is refused, 429 with
Retry-After, and an MCP error in the SDK client), a rate limit, the audit record of every call
(server, tool, argument hash, key, duration, status, cache) through GET /api/audit, 401 for a
missing or bad key, and the cache statistics (admin key)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from mcp.shared.exceptions import MCPError
from mcp_e2e import (
    admin,
    audit_rows,
    create_key,
    mcp_gateway,
    modern_call,
    register,
    sdk_client,
    settle,
)
from prometheus_client.parser import text_string_to_metric_families

from gateway.core.mcp_protocol import RATE_LIMITED, UNAUTHORIZED, args_hash

from support.mcp_servers import demo_server, serve_mcp

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_budget_counts_tool_calls(tmp_path: Path, mode: str) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url, price_per_call_usd=0.4)
        key = await create_key(gw, budget={"max_usd": 1.0, "period": "total"})
        async with sdk_client(gw.url + "/api/mcp/alpha", key, mode) as client:
            for _ in range(2):
                await client.call_tool("increment", {})
                await settle()
            with pytest.raises(MCPError) as refused:
                await client.call_tool("increment", {})
        assert refused.value.error.code == RATE_LIMITED
        assert refused.value.error.data["code"] == "budget_exceeded"
        assert "budget" in refused.value.error.message
        assert alpha.calls["increment"] == 2
        status, headers, body = await modern_call(gw.url + "/api/mcp/alpha", key, "increment", {})
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert body["error"]["code"] == RATE_LIMITED and body["id"] == 1
        rows = await audit_rows(gw, 4, route="mcp", tool="increment")
        assert sorted(row["status"] for row in rows) == [200, 200, 429, 429]
        assert sum(row["cost_usd"] for row in rows) == pytest.approx(0.8)


async def test_a_rate_limit_counts_tool_calls(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        key = await create_key(gw, limits={"rpm": 2})
        url = gw.url + "/api/mcp/alpha"
        for _ in range(2):
            status, headers, _ = await modern_call(url, key, "echo", {"text": "x"})
            assert status == 200 and headers["x-ratelimit-limit-requests"] == "2"
        status, headers, body = await modern_call(url, key, "echo", {"text": "x"})
        assert status == 429 and "Retry-After" in headers
        assert body["error"]["data"]["code"] == "rate_limit_exceeded"


async def test_every_tool_call_is_audited(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url, price_per_call_usd=0.01)
        key = await create_key(gw, tools={"mcp_tools": ["alpha__echo", "alpha__add"]})
        async with sdk_client(gw.url + "/api/mcp", key, "auto") as client:
            await client.call_tool("alpha__add", {"a": 1, "b": 2})
            await settle()
            await client.call_tool("alpha__add", {"b": 2, "a": 1})  # the same canonical arguments
            with pytest.raises(MCPError):
                await client.call_tool("alpha__increment", {})
            await alpha.stop()
            with pytest.raises(MCPError):
                await client.call_tool("alpha__echo", {"text": "gone"})
        rows = await audit_rows(gw, 4, route="mcp", provider="alpha")
        by_status: dict[tuple[int, str | None], dict[str, object]] = {
            (int(row["status"]), str(row["cache"])): row for row in rows
        }
        miss, hit = by_status[(200, "miss")], by_status[(200, "hit-exact")]
        assert miss["tool"] == hit["tool"] == "add"
        assert miss["args_hash"] == hit["args_hash"] == args_hash({"a": 1, "b": 2})
        assert miss["cost_usd"] == pytest.approx(0.01) and hit["cost_usd"] == 0
        assert float(str(miss["upstream_ms"])) > 0 and hit["upstream_ms"] == 0
        assert miss["model_requested"] == "-" and miss["latency_ms"] is not None
        refused = by_status[(403, "bypass")]
        assert refused["tool"] == "increment" and refused["error_code"] == "forbidden"
        down = next(row for row in rows if row["status"] == 503)
        assert down["tool"] == "echo" and down["error_code"] == "upstream_unavailable"
        async with aiohttp.ClientSession() as http, http.get(gw.url + "/metrics") as response:
            metrics = await response.text()
        counted = {
            (
                sample.labels["server"],
                sample.labels["tool"],
                sample.labels["result"],
                sample.labels["cache"],
            ): sample.value
            for family in text_string_to_metric_families(metrics)
            if family.name == "smartflow_mcp_tool_calls"
            for sample in family.samples
            if sample.name.endswith("_total")
        }
        assert counted == {
            ("alpha", "add", "ok", "miss"): 1,
            ("alpha", "add", "ok", "hit-exact"): 1,
            ("alpha", "echo", "unavailable", "miss"): 1,
            ("-", "-", "refused", "bypass"): 1,  # a client's names never become labels
        }
        ids = {row["key_id"] for row in rows}
        assert len(ids) == 1 and None not in ids  # the caller's key, on every record


async def test_keys_are_required(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        for secret in (None, "sk-sf-" + "x" * 43):
            status, headers, body = await modern_call(
                gw.url + "/api/mcp", secret, "alpha__echo", {}
            )
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
            assert body["error"]["code"] == UNAUTHORIZED
        with pytest.raises(Exception):  # noqa: B017  # the SDK client cannot connect either
            async with sdk_client(gw.url + "/api/mcp", "sk-sf-" + "y" * 43, "legacy") as client:
                await client.list_tools()
        assert alpha.calls["echo"] == 0


async def test_cache_stats_for_the_admin(tmp_path: Path) -> None:
    async with serve_mcp(demo_server("alpha")) as alpha, mcp_gateway(tmp_path) as gw:
        await register(gw, "alpha", alpha.url)
        key = await create_key(gw)
        url = gw.url + "/api/mcp/alpha"
        for _ in range(3):
            await modern_call(url, key, "slow", {"seconds": 0.05})
            await settle()
        await modern_call(url, key, "increment", {})
        stats = await admin(gw, "GET", "/api/mcp/cache/stats")
        assert (stats["hits"], stats["misses"], stats["bypasses"]) == (2, 1, 1)
        assert stats["time_saved_ms"] >= 100 and stats["entries"] == 1
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                gw.url + "/api/mcp/cache/stats", headers={"Authorization": f"Bearer {key}"}
            ) as response,
        ):
            assert response.status == 401  # a virtual key is not the admin key
        assert alpha.calls["slow"] == 1
