"""Routes every service has: liveness, readiness, Prometheus metrics, build version."""

from __future__ import annotations

import os
from typing import Any

import orjson
from aiohttp import web

from gateway.observability.metrics import CONTENT_TYPE
from gateway.pipeline.state import STATE, GatewayState
from gateway.settings import Settings


def version_info(settings: Settings) -> dict[str, Any]:
    """What /version and `smartflow-gateway --version --json` print: enough to tell builds apart."""
    return {
        "name": "smartflow-gateway",
        "version": settings.build.version,
        "git_commit": settings.build.git_commit,
        "build_time": settings.build.build_time,
        "service": settings.service_type,
        "features": list(settings.features),
    }


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


async def health(request: web.Request) -> web.Response:
    state: GatewayState = request.app[STATE]
    payload: dict[str, Any] = {
        "status": "ok",
        "service": state.settings.service_type,
        "version": state.settings.build.version,
        "pid": os.getpid(),
    }
    if state.router is not None:
        providers = state.router.provider_summary()
        payload["providers"] = providers
        if providers and all(p["status"] == "down" for p in providers.values()):
            payload["status"] = "degraded"
    return _json(payload)


async def ready(request: web.Request) -> web.Response:
    lifecycle = request.app[STATE].lifecycle
    if lifecycle.draining:
        return _json({"status": "draining"}, status=503)
    if not lifecycle.ready:
        return _json({"status": "starting"}, status=503)
    return _json({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[STATE].metrics.render()
    return web.Response(body=body, headers={"content-type": CONTENT_TYPE})


async def version(request: web.Request) -> web.Response:
    return _json(version_info(request.app[STATE].settings))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/version", version)
