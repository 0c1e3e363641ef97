"""Operational management routes: /api/providers/perf and /api/health/comprehensive.

In `all` (and on a proxy) the statistics are this process's router's; a standalone api-server
reads the snapshots every proxy replica publishes to the shared perf board (Redis).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from gateway.pipeline.state import STATE, GatewayState

CHECK_TIMEOUT_S = 2.0


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


async def providers_perf(request: web.Request) -> web.Response:
    state: GatewayState = request.app[STATE]
    assert state.auth is not None
    state.auth.check(request)
    if state.router is not None:
        replicas = [{"replica": "local", "at": time.time(), "deployments": state.router.perf()}]
    elif state.perf_board is not None:
        replicas = await state.perf_board.snapshots()
    else:
        replicas = []
    return _json({"replicas": replicas, "deployments": merge(replicas)})


def merge(replicas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per deployment across replicas: counts summed, the worst latency percentiles and
    cooldown state kept (percentiles cannot be averaged exactly; the worst is the safe summary)."""
    rows: dict[str, dict[str, Any]] = {}
    for replica in replicas:
        for dep in replica.get("deployments", []):
            row = rows.get(dep["deployment"])
            if row is None:
                rows[dep["deployment"]] = {**dep, "replicas": 1}
                continue
            row["replicas"] += 1
            for counter in ("requests", "errors", "timeouts", "cooldowns"):
                row[counter] += dep[counter]
            row["cooling_down"] = row["cooling_down"] or dep["cooling_down"]
            row["latency_ms"] = {
                q: max(row["latency_ms"][q], dep["latency_ms"][q]) for q in row["latency_ms"]
            }
            row["error_rate"] = max(row["error_rate"], dep["error_rate"])
    return list(rows.values())


async def _run_check(name: str, check: Any) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        status: dict[str, Any] = {"status": "down", "error": f"no answer within {CHECK_TIMEOUT_S}s"}
    except Exception as exc:
        status = {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
    else:
        status = {"status": "ok", **(detail if isinstance(detail, dict) else {})}
    status["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return name, status


async def health_comprehensive(request: web.Request) -> web.Response:
    state: GatewayState = request.app[STATE]
    assert state.auth is not None
    state.auth.check(request)
    results = await asyncio.gather(
        *(_run_check(name, check) for name, check in state.health_checks.items())
    )
    components: dict[str, Any] = {
        "gateway": {
            "status": "ok",
            "service": state.settings.service_type,
            "version": state.settings.build.version,
            "inflight": state.lifecycle.inflight,
        },
        **dict(results),
    }
    if state.router is not None:
        providers = state.router.provider_summary()
        down = [name for name, p in providers.items() if p["status"] == "down"]
        components["providers"] = {
            "status": "degraded" if down else "ok",
            "providers": providers,
        }
    statuses = {c["status"] for c in components.values()}
    overall = "ok" if statuses == {"ok"} else "degraded"
    return _json({"status": overall, "checked_at": time.time(), "components": components})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/providers/perf", providers_perf)
    app.router.add_get("/api/health/comprehensive", health_comprehensive)
