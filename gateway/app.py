"""The application factory: one aiohttp app per SERVICE_TYPE, `all` mounting every service."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web

from gateway.backends import open_backends, replica_name
from gateway.cache.admin import CacheAdmin
from gateway.cache.setup import open_metacache, shared_admin_store
from gateway.cache.shadow import ShadowChecker
from gateway.core.pricing import PriceTable
from gateway.observability.audit import AuditSink
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import build_tracer
from gateway.pipeline.auth import AdminKeyAuth
from gateway.pipeline.keyauth import KeyAuthenticator
from gateway.pipeline.state import STATE, GatewayState
from gateway.services import (
    a2a_api,
    audit_api,
    cache_api,
    common,
    compliance,
    mcp_api,
    ops_api,
    policy_api,
    policy_service,
    proxy,
    tools_admin_api,
)
from gateway.services.audit_api import AUDIT_STORE
from gateway.settings import Settings, SettingsError
from gateway.store import sqlite
from gateway.store.perf_board import CACHE_BOARD, RedisPerfBoard, publish_forever
from gateway.store.perf_board import stop as stop_task

DATA_PLANE = ("proxy", "all")
GUARDED = (*DATA_PLANE, "api-server", "compliance", "policy-perfect")  # open the policy store
SCAN_THREADS = 2  # scans too long or too risky for the event loop (custom regexes)
REDIS = web.AppKey("smartflow_redis", object)  # the shared-mode client, None when embedded
AUDIT_SPILL = "audit-spill.jsonl"
PERF_EVERY_S = 5.0
REGISTRY_START_WAIT_S = 3.0


async def _embedded_store(app: web.Application) -> AsyncIterator[None]:
    """The SQLite store in the data directory (embedded default: SERVICE_TYPE=all)."""
    settings = app[STATE].settings
    connection = await asyncio.to_thread(
        sqlite.open_store,
        settings.data_dir,
        version=settings.build.version,
        service=settings.service_type,
        pid=os.getpid(),
    )
    try:
        yield
    finally:
        await asyncio.to_thread(connection.close)


async def _backends(app: web.Application) -> AsyncIterator[None]:
    """Keys, counters, key events and the audit log (see gateway.backends for the choice)."""
    state = app[STATE]
    settings = state.settings
    async with open_backends(settings) as backends:
        state.keys = backends.keys
        state.counters = backends.counters
        state.key_events = backends.key_events
        state.health_checks.update(backends.health_checks)
        app[AUDIT_STORE] = backends.audit_store
        sink = AuditSink(backends.audit_store, spill_path=settings.data_dir / AUDIT_SPILL)
        await sink.start()
        state.audit = sink
        publisher = None
        if settings.service_type in DATA_PLANE:
            state.key_auth = KeyAuthenticator(
                backends.keys,
                # the admin key works on the data plane only in the local all-in-one process
                admin=state.auth if settings.service_type == "all" else None,
            )
            backends.key_events.subscribe(state.key_auth.invalidate)
        app[REDIS] = backends.redis
        if backends.redis is not None:
            board = RedisPerfBoard(backends.redis)
            state.perf_board = board
            if state.router is not None:
                router = state.router
                publisher = asyncio.create_task(
                    publish_forever(board, replica_name(), router.perf, PERF_EVERY_S)
                )
        try:
            yield
        finally:
            if publisher is not None:
                await stop_task(publisher)
            await state.background.drain(timeout_s=10.0)  # pending settlements
            await sink.close()  # flushes (or spills) every queued audit record
            state.audit = None


async def _response_cache(app: web.Application) -> AsyncIterator[None]:
    """The MetaCache on a data-plane service; its management face on the api-server."""
    state = app[STATE]
    settings = state.settings
    redis = app.get(REDIS)
    board = RedisPerfBoard(redis, board=CACHE_BOARD, field="cache") if redis else None
    if settings.service_type not in DATA_PLANE:
        if settings.cache.enabled and redis is not None:
            store = shared_admin_store(settings, redis)
            state.cache_admin = CacheAdmin(local=None, board=board, shared_purge=store.purge)
        yield
        return
    async with open_metacache(settings, state.metrics, redis) as cache:
        publisher = None
        if cache is not None:
            state.cache = cache
            state.cache_admin = CacheAdmin(local=cache, board=board)
            if settings.cache.shadow_rate > 0:
                state.cache_shadow = ShadowChecker(
                    settings.cache.shadow_rate, cache.stats, state.metrics
                )
            if board is not None:
                publisher = asyncio.create_task(
                    publish_forever(board, replica_name(), cache.snapshot, PERF_EVERY_S)
                )
        try:
            yield
        finally:
            if publisher is not None:
                await stop_task(publisher)
            await state.background.drain(timeout_s=10.0)  # pending cache writes
            state.cache = state.cache_shadow = state.cache_admin = None


async def _guardrails(app: web.Application) -> AsyncIterator[None]:
    """The proxy's guardrails: the policies in force (with their compliance engine), the
    organisations' baselines, and the threads that run scans which may be slow."""
    state = app[STATE]
    if not state.settings.compliance.enabled:
        yield
        return
    state.policies = app[policy_api.POLICIES].policies
    state.baselines = app[compliance.COMPLIANCE].baselines
    pool = ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="smartflow-scan")
    state.scan_pool = pool
    try:
        yield
    finally:
        state.policies = state.baselines = state.scan_pool = None
        pool.shutdown(wait=False, cancel_futures=True)


def _needs_registry(settings: Settings) -> bool:
    """The tool gateway on the data plane; the admin API (api-server, all) always."""
    service = settings.service_type
    return service in ("api-server", "all") or (service in DATA_PLANE and settings.mcp.enabled)


async def _tool_registry(app: web.Application) -> AsyncIterator[None]:
    """The registered MCP servers and A2A agents, their upstream clients (one HTTP session),
    and the loop that keeps registrations and tool lists fresh."""
    from gateway.mcp.live import ToolRegistry, keep_fresh
    from gateway.store.registry_base import open_registry_store

    state = app[STATE]
    mcp = state.settings.mcp
    async with (
        open_registry_store(state.settings) as store,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session,
    ):
        registry = ToolRegistry(store, mcp, session)
        await registry.reload()
        pending = registry.start_refresh()
        if pending:  # a first look at each server, without holding start-up for a slow one
            await asyncio.wait(pending, timeout=REGISTRY_START_WAIT_S)
        state.registry = registry
        poller = asyncio.create_task(keep_fresh(registry, mcp.refresh_s, mcp.tools_refresh_s))
        try:
            yield
        finally:
            await stop_task(poller)
            state.registry = None
            await registry.close()


def _mount_tools(app: web.Application, settings: Settings) -> None:
    """The registry, its management routes (api-server, all) and the MCP and A2A routes (data
    plane: they mount themselves only when MCP_GATEWAY_ENABLED). The management routes come
    first: /api/mcp/tools and /api/mcp/auth are not servers (their names are reserved)."""
    if _needs_registry(settings):
        app.cleanup_ctx.append(_tool_registry)
    if settings.service_type in ("api-server", "all"):
        tools_admin_api.setup(app)
    if settings.service_type in DATA_PLANE:
        mcp_api.setup(app)
        a2a_api.setup(app)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Ready once every other startup context has run; tracer flushed at the very end."""
    state = app[STATE]
    state.lifecycle.ready = True
    yield
    state.lifecycle.ready = False
    state.tracer.shutdown()


def check_service_settings(settings: Settings) -> None:
    """Refuse settings the service cannot run safely with, before any port is bound."""
    if settings.service_type in (*DATA_PLANE, "api-server") and settings.admin_api_key is None:
        raise SettingsError(
            f"ADMIN_API_KEY is not set: the {settings.service_type} service does not run open. "
            "Set ADMIN_API_KEY (or use `sfctl up`, which creates one)"
        )


def build_app(settings: Settings) -> web.Application:
    check_service_settings(settings)
    app = web.Application(client_max_size=settings.max_body_bytes)
    auth = (
        AdminKeyAuth(settings.admin_api_key.get_secret_value()) if settings.admin_api_key else None
    )
    app[STATE] = GatewayState(
        settings=settings,
        metrics=GatewayMetrics(settings.metrics_multiprocess_dir),
        tracer=build_tracer(
            settings.otel_endpoint, f"smartflow-{settings.service_type}", settings.build.version
        ),
        auth=auth,
        prices=PriceTable(settings.config.pricing),
    )
    common.add_routes(app)
    service = settings.service_type
    if service == "all":
        app.cleanup_ctx.append(_embedded_store)
    if service in DATA_PLANE:
        proxy.setup(app)
    if service in (*DATA_PLANE, "api-server"):
        app.cleanup_ctx.append(_backends)
        app.cleanup_ctx.append(_response_cache)
    if service in ("api-server", "all"):
        from gateway.services import api_server

        api_server.setup(app, extra_paths=[ops_api.OPENAPI_PATHS, cache_api.OPENAPI_PATHS])
        api_server.add_admin_routes(app, ops_api.ROUTES)
        api_server.add_admin_routes(app, cache_api.ROUTES)
        audit_api.add_routes(app)
    if service in GUARDED:
        policy_api.add_policy_context(app)
    if service in (*DATA_PLANE, "compliance"):
        compliance.add_baseline_context(app)
    if service in DATA_PLANE:
        app.cleanup_ctx.append(_guardrails)
    _mount_tools(app, settings)
    if service in ("api-server", "all"):
        policy_api.setup(app)
    if service in ("compliance", "all"):
        compliance.setup(app)
    if service in ("policy-perfect", "all"):
        policy_service.setup(app)
    app.cleanup_ctx.append(_lifecycle)
    return app
