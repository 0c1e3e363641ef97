"""Helpers of the MCP endpoint's end-to-end tests: a gateway with the tool gateway on, servers
registered through the admin API, virtual keys, and the official `mcp` SDK client connected to
the gateway with a key (both eras: mode="legacy" and the default auto, which goes modern)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import orjson
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MCP_ENV = {"MCP_GATEWAY_ENABLED": "true", "SMARTFLOW_MCP_REFRESH_SECS": "0.1"}
MODES = ("legacy", "auto")
MODERN = "2026-07-28"


@asynccontextmanager
async def mcp_gateway(
    tmp_path: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[RunningGateway]:
    async with running_gateway(tmp_path, None, {**MCP_ENV, **(env or {})}) as gw:
        assert gw.state.registry is not None, "the tool registry did not open"
        yield gw


async def admin(gw: RunningGateway, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, gw.url + path, json=body, headers=ADMIN) as response,
    ):
        payload = await response.json(content_type=None)
        assert response.status < 300, (response.status, payload)
        return payload


async def register(gw: RunningGateway, name: str, url: str, **fields: Any) -> None:
    """A server through the admin API, then wait until this gateway's registry has it listed."""
    await admin(gw, "POST", "/api/admin/mcp/servers", {"name": name, "url": url, **fields})
    registry = gw.state.registry
    assert registry is not None
    await registry.reload()
    await registry.refresh_tools(name)
    live = registry.server(name)
    assert live is not None and live.healthy, live


async def create_key(gw: RunningGateway, **fields: Any) -> str:
    created = await admin(gw, "POST", "/api/enterprise/vkeys", {"name": "mcp-test", **fields})
    return str(created["key"])


def sdk_client(url: str, secret: str, mode: str, **headers: str) -> Client:
    """The SDK client on the gateway, the key in Authorization (its own httpx2 client)."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}", **headers}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), mode=mode, cache=None)


async def raw_call(
    url: str, secret: str | None, body: Any, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One raw POST (for what the SDK client hides: statuses, headers)."""
    sent = {"Accept": "application/json, text/event-stream", **(headers or {})}
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=sent) as response,
    ):
        text = await response.read()
        return response.status, dict(response.headers), orjson.loads(text) if text else None


async def settle() -> None:
    """Let the after-response work (audit, settlement, cache writes) run."""
    for _ in range(5):
        await asyncio.sleep(0.02)


async def audit_rows(gw: RunningGateway, expected: int, **params: str) -> list[dict[str, Any]]:
    """The audit log through GET /api/audit (written in batches: polled until it has them)."""
    rows: list[dict[str, Any]] = []
    for _ in range(200):
        page = await admin(
            gw, "GET", "/api/audit?" + "&".join(f"{k}={v}" for k, v in params.items())
        )
        rows = list(page["records"])
        if len(rows) >= expected:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rows)} audit records, expected {expected}")


def modern_body(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> Any:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {**(params or {}), "_meta": meta},
    }


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


async def modern_call(
    url: str, secret: str | None, name: str, arguments: dict[str, Any], **headers: str
) -> tuple[int, dict[str, str], Any]:
    body = modern_body("tools/call", {"name": name, "arguments": arguments})
    return await raw_call(url, secret, body, {**modern_headers("tools/call", name), **headers})
