"""Run the gateway app in the test's event loop on a real loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from gateway.app import build_app
from gateway.pipeline.state import STATE, GatewayState
from gateway.server import app_runner
from gateway.settings import load_settings

ADMIN_KEY = "sf-admin-test-key-0123456789abcdef"


@dataclass
class RunningGateway:
    url: str
    app: web.Application

    @property
    def state(self) -> GatewayState:
        return self.app[STATE]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}


@asynccontextmanager
async def running_gateway(
    tmp_path: Path,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningGateway]:
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
    settings = load_settings(environment, service_type="all", host="127.0.0.1", port=0)
    app = build_app(settings)
    runner = app_runner(app, shutdown_timeout_s=5)  # the server layer production runs
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


def upstream_config(
    *deployments: tuple[str, str],
    model: str = "gpt-4o-mini",
    fallbacks: list[str] | None = None,
    extra_models: list[dict[str, Any]] | None = None,
    routing: dict[str, Any] | None = None,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """A config with one provider per (name, type:url) pair, all deployments of `model`."""
    providers = []
    deps = []
    for name, spec in deployments:
        kind, _, url = spec.partition(":")
        providers.append({"name": name, "type": kind, "base_url": url, "timeout_s": timeout_s})
        deps.append({"provider": name})
    return {
        "providers": providers,
        "models": [
            {"name": model, "deployments": deps, "fallbacks": fallbacks or []},
            *(extra_models or []),
        ],
        "routing": {"backoff_base_s": 0.01, "backoff_max_s": 0.05, **(routing or {})},
    }
