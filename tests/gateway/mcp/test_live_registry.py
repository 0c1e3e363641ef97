"""The live registry (gateway.mcp.live) against real MCP servers (the official SDK, on loopback
and over stdio) and a real SQLite registry store: lookups, reloads, tool refreshes and failures."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.core.toolspecs import McpServerSpec
from gateway.mcp.live import LiveServer, ToolRegistry, keep_fresh
from gateway.mcp.upstream import McpUpstream
from gateway.settings import McpSettings
from gateway.store.registry_sqlite import SqliteRegistryStore

from support.mcp_servers import demo_server, serve_mcp

STDIO_SERVER = Path(__file__).resolve().parents[2] / "support" / "mcp_stdio_server.py"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRegistryStore]:
    opened = await SqliteRegistryStore.open(tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def put(store: SqliteRegistryStore, name: str, url: str, **extra: Any) -> None:
    await store.put("mcp", name, McpServerSpec(name=name, url=url, **extra).model_dump(mode="json"))


async def until(condition: Callable[[], bool], limit_s: float = 30.0) -> None:
    """Poll until `condition` holds (a bound against hanging, not a timing assertion)."""
    async with asyncio.timeout(limit_s):
        while not condition():
            await asyncio.sleep(0.02)


async def test_reload_and_refresh_serve_lookups(
    store: SqliteRegistryStore, session: aiohttp.ClientSession
) -> None:
    async with serve_mcp(demo_server("one")) as one, serve_mcp(demo_server("two")) as two:
        await put(store, "one", one.url, cache_tools=["increment"])
        await put(store, "two", two.url, teams=["ml"])
        registry = ToolRegistry(store, McpSettings(), session)
        try:
            await registry.reload()
            assert [live.name for live in registry.servers()] == ["one", "two"]
            await registry.refresh_tools()
            live = registry.server("one")
            assert live is not None and live.healthy and live.last_error is None
            assert live.refreshed_at is not None and live.upstream.protocol_version
            echo = live.tool("echo")
            assert echo is not None and echo["annotations"]["readOnlyHint"] is True
            assert live.tool("missing") is None and registry.server("missing") is None
            assert live.cacheable("echo") and live.cacheable("add")  # read-only, idempotent
            assert live.cacheable("increment")  # listed by the operator
            assert not live.cacheable("fail") and not live.cacheable("missing")
            assert registry.server("two").spec.teams == ("ml",)  # type: ignore[union-attr]
        finally:
            await registry.close()


async def test_a_server_going_down_is_marked_and_others_keep_working(
    store: SqliteRegistryStore, session: aiohttp.ClientSession
) -> None:
    async with serve_mcp(demo_server("up")) as up, serve_mcp(demo_server("down")) as down:
        await put(store, "up", up.url)
        await put(store, "down", down.url)
        registry = ToolRegistry(store, McpSettings(), session)
        try:
            await registry.reload()
            await registry.refresh_tools()
            known = len(registry.server("down").tools)  # type: ignore[union-attr]
            await down.stop()
            await registry.refresh_tools()
            failed, fine = registry.server("down"), registry.server("up")
            assert failed is not None and fine is not None
            assert failed.healthy is False and failed.last_error and "down" in failed.last_error
            assert len(failed.tools) == known  # last known tools kept
            assert fine.healthy is True
        finally:
            await registry.close()


async def test_reload_keeps_unchanged_servers_and_replaces_changed_ones(
    store: SqliteRegistryStore, session: aiohttp.ClientSession
) -> None:
    async with serve_mcp(demo_server("a")) as a:
        await put(store, "keep", a.url)
        await put(store, "change", a.url)
        await put(store, "drop", a.url)
        registry = ToolRegistry(store, McpSettings(), session)
        try:
            await registry.reload()
            await registry.refresh_tools()
            kept, changed = registry.server("keep"), registry.server("change")
            assert await registry.reload_if_changed() is False  # nothing written since
            await put(store, "change", a.url, timeout_s=7)
            await store.delete("mcp", "drop")
            assert await registry.reload_if_changed() is True
            assert registry.server("keep") is kept and kept is not None and kept.healthy
            replaced = registry.server("change")
            assert replaced is not changed and replaced is not None
            assert replaced.spec.timeout_s == 7
            assert registry.server("drop") is None
            await until(lambda: replaced.refreshed_at is not None)  # refreshed on its own
            assert replaced.healthy
        finally:
            await registry.close()


async def test_bad_documents_are_skipped_and_the_config_file_wins(
    store: SqliteRegistryStore, session: aiohttp.ClientSession
) -> None:
    await store.put("mcp", "broken", {"name": "broken", "url": 5})
    await put(store, "both", "http://127.0.0.1:9/store")
    await store.put("a2a", "agent", {"name": "agent", "url": "http://127.0.0.1:9"})
    settings = McpSettings(servers=(McpServerSpec(name="both", url="http://127.0.0.1:9/config"),))
    registry = ToolRegistry(store, settings, session)
    try:
        await registry.reload()
        assert registry.server("broken") is None
        both = registry.server("both")
        assert both is not None and both.source == "config"
        assert both.spec.url == "http://127.0.0.1:9/config"
        agent = registry.agent("agent")
        assert agent is not None and registry.agent_source("agent") == "store"
        assert [spec.name for spec in registry.agents()] == ["agent"]
    finally:
        await registry.close()


async def test_failures_never_escape_the_registry(
    store: SqliteRegistryStore, session: aiohttp.ClientSession
) -> None:
    """A refused connection, a server that never answers, a stdio server where stdio is off,
    and an upstream client raising something unexpected: each marks its server unhealthy."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]

    class Broken:
        protocol_version = None

        async def list_tools(self) -> list[dict[str, Any]]:
            raise RuntimeError("a bug in a client")

        async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("a bug in a client")

        async def close(self) -> None:
            return None

    class Registry(ToolRegistry):
        def open_upstream(self, spec: McpServerSpec) -> McpUpstream:
            return Broken() if spec.name == "buggy" else super().open_upstream(spec)

    await put(store, "refused", "http://127.0.0.1:9/mcp")
    await put(store, "silent", f"http://127.0.0.1:{port}/mcp", timeout_s=0.3)
    await put(store, "buggy", "http://127.0.0.1:9/mcp")
    stdio = McpServerSpec(name="local", transport="stdio", command=("never-started",))
    await store.put("mcp", "local", stdio.model_dump(mode="json"))
    registry = Registry(store, McpSettings(), session)
    try:
        await registry.reload()
        await registry.refresh_tools()
        errors = {live.name: live.last_error for live in registry.servers()}
        assert all(not live.healthy for live in registry.servers())
        assert errors["silent"] is not None and "0.3" in errors["silent"]
        assert errors["local"] is not None and "SMARTFLOW_MCP_STDIO" in errors["local"]
        assert errors["buggy"] == "unexpected RuntimeError while listing tools"
        assert errors["refused"]
    finally:
        await registry.close()
        silent.close()


async def test_a_stdio_server_when_allowed(
    store: SqliteRegistryStore, session: aiohttp.ClientSession
) -> None:
    spec = McpServerSpec(
        name="local", transport="stdio", command=(sys.executable, str(STDIO_SERVER), "local")
    )
    await store.put("mcp", "local", spec.model_dump(mode="json"))
    registry = ToolRegistry(store, McpSettings(allow_stdio=True), session)
    try:
        await registry.reload()
        await registry.refresh_tools("local")
        live = registry.server("local")
        assert live is not None and live.healthy, live and live.last_error
        assert live.tool("add") is not None
    finally:
        await registry.close()


async def test_the_loop_follows_the_store(
    store: SqliteRegistryStore, session: aiohttp.ClientSession
) -> None:
    async with serve_mcp(demo_server("late")) as late:
        registry = ToolRegistry(store, McpSettings(), session)
        await registry.reload()
        loop = asyncio.create_task(keep_fresh(registry, 0.05, 0.1))
        try:
            await put(store, "late", late.url)  # as another replica would
            await until(lambda: registry.server("late") is not None)
            live: LiveServer | None = registry.server("late")
            assert live is not None
            await until(lambda: live.healthy)
            await late.stop()
            await until(lambda: not live.healthy)  # the periodic tools refresh saw it go
            await store.delete("mcp", "late")
            await until(lambda: registry.server("late") is None)
        finally:
            loop.cancel()
            with pytest.raises(asyncio.CancelledError):
                await loop
            await registry.close()
