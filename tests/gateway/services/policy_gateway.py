"""A gateway (SERVICE_TYPE=all, or the api-server or policy-perfect alone) serving the policy routes on a loopback port, for the policy API
and policy-perfect tests; its store in tmp_path (SQLite) or in a PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from gateway.app import build_app
from gateway.server import app_runner
from gateway.services import policy_api, policy_service
from gateway.settings import load_settings

from support.gateway import ADMIN_KEY

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _mounted(app: web.Application, path: str) -> bool:
    return any(resource.canonical == path for resource in app.router.resources())


@asynccontextmanager
async def policy_gateway(
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    service: str = "all",
) -> AsyncIterator[tuple[str, web.Application]]:
    environment = {
        "ADMIN_API_KEY": ADMIN_KEY,
        "SMARTFLOW_ACCESS_LOG": "false",
        "SMARTFLOW_DATA_DIR": str(tmp_path / "data"),
        **(env or {}),
    }
    if config is not None:
        path = tmp_path / "routing.yaml"
        path.write_text(yaml.safe_dump(dict(config)))
        environment["SMARTFLOW_CONFIG"] = str(path)
    settings = load_settings(environment, service_type=service, host="127.0.0.1", port=0)
    app = build_app(settings)
    # what gateway.app does for `all` (kept here until it does, harmless after)
    if service in ("all", "api-server") and not _mounted(app, policy_api.BASE):
        policy_api.setup(app)
    if service in ("all", "policy-perfect") and not _mounted(app, "/api/policy/evaluate"):
        policy_service.setup(app)
    runner = app_runner(app, shutdown_timeout_s=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


@asynccontextmanager
async def admin_session(url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(url, headers=ADMIN) as session:
        yield session
