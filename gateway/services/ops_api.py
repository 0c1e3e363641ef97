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

from gateway.pipeline.state import GatewayState
from gateway.services.openapi import errors
from gateway.services.openapi import json_response as json_response_doc

CHECK_TIMEOUT_S = 2.0


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


async def providers_perf(request: web.Request, state: GatewayState) -> web.Response:
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


async def health_comprehensive(request: web.Request, state: GatewayState) -> web.Response:
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


ROUTES = (
    ("GET", "/api/providers/perf", providers_perf),
    ("GET", "/api/health/comprehensive", health_comprehensive),
)

_STATUS = {"type": "string", "enum": ["ok", "degraded", "down"]}
_DEPLOYMENT = {
    "type": "object",
    "required": ["deployment", "model", "provider", "requests", "errors", "latency_ms"],
    "properties": {
        "deployment": {"type": "string"},
        "model": {"type": "string"},
        "provider": {"type": "string"},
        "requests": {"type": "integer"},
        "errors": {"type": "integer"},
        "timeouts": {"type": "integer"},
        "error_rate": {"type": "number"},
        "cooling_down": {"type": "boolean"},
        "latency_ms": {
            "type": "object",
            "required": ["p50", "p90", "p99"],
            "properties": {q: {"type": "number"} for q in ("p50", "p90", "p99")},
        },
    },
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/providers/perf": {
        "get": {
            "operationId": "getProvidersPerf",
            "summary": "Per-deployment latency percentiles, error rates and cooldown state",
            "tags": ["operations"],
            "responses": {
                "200": json_response_doc(
                    "Statistics per proxy replica, and merged per deployment",
                    {
                        "type": "object",
                        "required": ["replicas", "deployments"],
                        "properties": {
                            "replicas": {"type": "array", "items": {"type": "object"}},
                            "deployments": {"type": "array", "items": _DEPLOYMENT},
                        },
                    },
                ),
                **errors("401"),
            },
        }
    },
    "/api/health/comprehensive": {
        "get": {
            "operationId": "getHealthComprehensive",
            "summary": "Every component's status and latency: gateway, Redis, database, providers",
            "tags": ["operations"],
            "responses": {
                "200": json_response_doc(
                    "Per-component status",
                    {
                        "type": "object",
                        "required": ["status", "checked_at", "components"],
                        "properties": {
                            "status": _STATUS,
                            "checked_at": {"type": "number"},
                            "components": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "object",
                                    "required": ["status"],
                                    "properties": {"status": _STATUS},
                                },
                            },
                        },
                    },
                ),
                **errors("401"),
            },
        }
    },
}
