"""The live registry: the MCP servers and A2A agents this process fronts, with each server's
upstream client, tool list and health.

Lookups (`server`, `agent`) are dict reads: they sit on the hot path of every MCP and A2A
request. Everything that does I/O happens beside it: `reload` re-reads the registrations (store
and config file) and swaps in new dicts in one assignment, `refresh_tools` asks each upstream
for `tools/list` under a bounded wait. An upstream that fails is marked unhealthy with its
error; nothing an upstream does can stop the loop (`keep_fresh`) that runs both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from pydantic import ValidationError

from gateway.core.toolspecs import A2aAgentSpec, McpServerSpec
from gateway.mcp.upstream import McpUnavailable, McpUpstream, McpUpstreamError, open_upstream
from gateway.settings import McpSettings
from gateway.store.registry_base import RegistryStore

log = logging.getLogger("smartflow.mcp.registry")

Source = Literal["config", "store"]
LIST_TIMEOUT_CAP_S = 10.0  # a tools/list refresh never waits longer, whatever the spec says


@dataclass(slots=True, eq=False)
class LiveServer:
    """One upstream MCP server as this process sees it now."""

    spec: McpServerSpec
    upstream: McpUpstream
    tools: list[dict[str, Any]] = field(default_factory=list)
    healthy: bool = False  # False with refreshed_at None: not checked yet
    last_error: str | None = None
    refreshed_at: float | None = None
    source: Source = "store"
    _by_name: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _cacheable: frozenset[str] = field(default_factory=frozenset, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def tool(self, name: str) -> dict[str, Any] | None:
        """The tool's `tools/list` entry, if the last refresh listed it."""
        return self._by_name.get(name)

    def cacheable(self, tool: str) -> bool:
        """Its results may be cached: annotated read-only or idempotent in the last tools/list,
        or listed by the operator (`cache_tools`)."""
        return tool in self._cacheable or tool in self.spec.cache_tools

    def set_tools(self, tools: list[dict[str, Any]], now: float) -> None:
        """A successful tools/list: the server is healthy and lists these."""
        self.tools = [tool for tool in tools if isinstance(tool.get("name"), str)]
        self._by_name = {tool["name"]: tool for tool in self.tools}
        self._cacheable = frozenset(tool["name"] for tool in self.tools if _hinted(tool))
        self.healthy, self.last_error, self.refreshed_at = True, None, now

    def mark_failed(self, error: str, now: float) -> None:
        """The server could not be reached (or a call to it failed as transport): unhealthy.
        The last known tools are kept, so the next refresh can restore it as it was."""
        self.healthy, self.last_error, self.refreshed_at = False, error, now

    def mark_ok(self, now: float) -> None:
        """A call went through: the server is up again."""
        if not self.healthy:
            self.healthy, self.last_error = True, None
            self.refreshed_at = now


def _hinted(tool: dict[str, Any]) -> bool:
    hints = tool.get("annotations")
    return isinstance(hints, dict) and (
        hints.get("readOnlyHint") is True or hints.get("idempotentHint") is True
    )


class _Refused:
    """The upstream of a registration this process cannot open (a stdio server where stdio
    is off): every use fails as unavailable, with the reason."""

    protocol_version: str | None = None

    def __init__(self, reason: str) -> None:
        self._reason = reason

    async def list_tools(self) -> list[dict[str, Any]]:
        raise McpUnavailable(self._reason)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        raise McpUnavailable(self._reason)

    async def close(self) -> None:
        return None


def _failure(exc: BaseException, timeout_s: float) -> str:
    """What `last_error` says: the client's own message (never carries a credential), else
    only the kind of failure."""
    if isinstance(exc, McpUpstreamError):
        return f"tools/list failed: {exc.message} (JSON-RPC {exc.code})"
    if isinstance(exc, McpUnavailable):
        return str(exc) or "unavailable"
    if isinstance(exc, TimeoutError):
        return f"no tools/list answer within {timeout_s:g} s"
    return f"unexpected {type(exc).__name__} while listing tools"


class ToolRegistry:
    """The registrations in force and their live upstreams (GatewayState.registry)."""

    def __init__(
        self,
        store: RegistryStore,
        settings: McpSettings,
        session: aiohttp.ClientSession,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._session = session
        self._env = settings.environ if env is None else env
        self._servers: dict[str, LiveServer] = {}
        self._agents: dict[str, A2aAgentSpec] = {}
        self._agent_sources: dict[str, Source] = {}
        self._generation: int | None = None
        self._reload_lock = asyncio.Lock()
        self._refreshing: dict[int, asyncio.Task[None]] = {}  # by id(LiveServer)
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> RegistryStore:
        return self._store

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP client session upstreams share (A2A proxies use it too)."""
        return self._session

    def server(self, name: str) -> LiveServer | None:
        return self._servers.get(name)

    def servers(self) -> list[LiveServer]:
        return list(self._servers.values())

    def agent(self, name: str) -> A2aAgentSpec | None:
        return self._agents.get(name)

    def agents(self) -> list[A2aAgentSpec]:
        return list(self._agents.values())

    def agent_source(self, name: str) -> Source | None:
        return self._agent_sources.get(name)

    def open_upstream(self, spec: McpServerSpec) -> McpUpstream:
        """A fresh client for `spec` (the admin API's live tools/list uses one of its own)."""
        try:
            return open_upstream(
                spec,
                session=self._session,
                env=self._env,
                allow_stdio=self._settings.allow_stdio,
            )
        except McpUnavailable as exc:
            return _Refused(str(exc))

    async def reload_if_changed(self) -> bool:
        """Reload when the store's generation moved (one cheap read otherwise)."""
        generation = await self._store.generation()
        if generation == self._generation:
            return False
        await self.reload()
        return True

    async def reload(self) -> None:
        """Registrations from the store and the config file (the file wins a name) -> live
        servers. An unchanged spec keeps its upstream, tools and health; a new or changed one
        gets a new upstream, refreshed in the background; a removed one is closed."""
        async with self._reload_lock:
            generation = await self._store.generation()
            servers = await self._specs("mcp", McpServerSpec, self._settings.servers)
            agents = await self._specs("a2a", A2aAgentSpec, self._settings.agents)
            current = self._servers
            fresh: dict[str, LiveServer] = {}
            for name, (spec, source) in servers.items():
                live = current.get(name)
                if live is None or live.spec != spec:
                    live = LiveServer(spec, self.open_upstream(spec), source=source)
                    self._start_refresh(live)
                live.source = source
                fresh[name] = live
            self._servers = fresh
            self._agents = {name: spec for name, (spec, _) in agents.items()}
            self._agent_sources = {name: source for name, (_, source) in agents.items()}
            self._generation = generation
            for name, old in current.items():
                if fresh.get(name) is not old:
                    self._close_later(old)

    async def _specs(
        self,
        kind: Literal["mcp", "a2a"],
        model: type[McpServerSpec] | type[A2aAgentSpec],
        configured: tuple[Any, ...],
    ) -> dict[str, tuple[Any, Source]]:
        found: dict[str, tuple[Any, Source]] = {}
        for document in await self._store.list(kind):
            try:
                spec = model.model_validate(document)
            except ValidationError as exc:
                name = document.get("name") if isinstance(document, dict) else None
                log.warning(
                    "skipping a stored %s registration that does not validate",
                    kind,
                    extra={"registration": name, "error": exc.errors(include_url=False)[0]["msg"]},
                )
                continue
            found[spec.name] = (spec, "store")
        for spec in configured:
            found[spec.name] = (spec, "config")
        return dict(sorted(found.items()))

    async def refresh_tools(self, name: str | None = None) -> None:
        """tools/list on one server (or every server), concurrently, each under a bounded
        wait; a refresh already running for a server is joined, not repeated."""
        tasks = self.start_refresh(name)
        if tasks:
            await asyncio.gather(*(asyncio.shield(task) for task in tasks))

    def start_refresh(self, name: str | None = None) -> list[asyncio.Task[None]]:
        """`refresh_tools` without waiting for it (an unknown name refreshes nothing)."""
        if name is None:
            targets = list(self._servers.values())
        else:
            found = self._servers.get(name)
            targets = [] if found is None else [found]
        return [self._start_refresh(live) for live in targets]

    def _start_refresh(self, live: LiveServer) -> asyncio.Task[None]:
        key = id(live)
        task = self._refreshing.get(key)
        if task is None:
            task = asyncio.create_task(self._refresh_one(live), name=f"mcp-refresh-{live.name}")
            self._refreshing[key] = task
            task.add_done_callback(lambda _: self._refreshing.pop(key, None))
        return task

    async def _refresh_one(self, live: LiveServer) -> None:
        wait_s = min(live.spec.timeout_s, LIST_TIMEOUT_CAP_S)
        try:
            tools = await asyncio.wait_for(live.upstream.list_tools(), wait_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an upstream must never stop the registry
            if not isinstance(exc, McpUnavailable | McpUpstreamError | TimeoutError):
                log.warning(
                    "MCP server refresh failed",
                    extra={"server": live.name, "error_type": type(exc).__name__},
                )
            live.mark_failed(_failure(exc, wait_s), time.time())
            return
        live.set_tools(tools, time.time())

    def _close_later(self, live: LiveServer) -> None:
        async def close() -> None:
            with contextlib.suppress(Exception):
                await live.upstream.close()

        task = asyncio.create_task(close(), name=f"mcp-close-{live.name}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Stop refreshes and close every upstream (stdio children are ended)."""
        refreshing = list(self._refreshing.values())
        for task in refreshing:
            task.cancel()
        await asyncio.gather(*refreshing, return_exceptions=True)
        servers, self._servers = list(self._servers.values()), {}
        for live in servers:
            self._close_later(live)
        await asyncio.gather(*list(self._closing), return_exceptions=True)


async def keep_fresh(registry: ToolRegistry, refresh_s: float, tools_refresh_s: float) -> None:
    """Reload registrations every `refresh_s` when they changed; refresh every server's tools
    every `tools_refresh_s`. Runs until cancelled; a failing store or upstream is logged."""
    next_tools = time.monotonic() + tools_refresh_s
    while True:
        await asyncio.sleep(refresh_s)
        try:
            await registry.reload_if_changed()
        except Exception as exc:  # the store is down: keep serving what is loaded
            log.warning("registry reload failed", extra={"error_type": type(exc).__name__})
        if time.monotonic() >= next_tools:
            next_tools = time.monotonic() + tools_refresh_s
            registry.start_refresh()  # each under its own bounded wait; not awaited here
