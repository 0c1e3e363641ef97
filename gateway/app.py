"""The application factory: one aiohttp app per SERVICE_TYPE, `all` mounting every service."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import build_tracer
from gateway.pipeline.auth import AdminKeyAuth
from gateway.pipeline.state import STATE, GatewayState
from gateway.services import common, compliance, proxy
from gateway.settings import Settings, SettingsError
from gateway.store import sqlite

DATA_PLANE = ("proxy", "all")


async def _embedded_store(app: web.Application) -> AsyncIterator[None]:
    """The SQLite store in the data directory (embedded default: SERVICE_TYPE=all)."""
    settings = app[STATE].settings
    assert settings.data_dir is not None
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


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Ready once every other startup context has run; tracer flushed at the very end."""
    state = app[STATE]
    state.lifecycle.ready = True
    yield
    state.lifecycle.ready = False
    state.tracer.shutdown()


def check_service_settings(settings: Settings) -> None:
    """Refuse settings the service cannot run safely with, before any port is bound."""
    if settings.service_type in DATA_PLANE and settings.admin_api_key is None:
        raise SettingsError(
            "ADMIN_API_KEY is not set: the proxy does not run open. Set ADMIN_API_KEY "
            "(or use `sfctl up`, which creates one)"
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
    )
    common.add_routes(app)
    service = settings.service_type
    if settings.data_dir is not None and service == "all":
        app.cleanup_ctx.append(_embedded_store)
    if service in DATA_PLANE:
        proxy.setup(app)
    if service in ("compliance", "all"):
        compliance.setup(app)
    app.cleanup_ctx.append(_lifecycle)
    return app
