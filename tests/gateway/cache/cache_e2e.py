"""Helpers of the cache's end-to-end tests: a gateway with the cache on, virtual keys made through
the admin API, a scripted upstream that counts what reaches it, and waits for the cache's
background writes.

The scripted upstream answers like the mock LLM (mockllm.content: the reply depends on the
prompt) unless a test queues a special answer (an error status, a 200 error body, an upstream
`Cache-Control: no-store`, a stream cut off or ending in an error event).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway
from support.scripted_upstream import (  # noqa: F401  # re-exported for the cache tests
    CLAUDE,
    MODEL,
    Answer,
    ScriptedUpstream,
    Seen,
    anthropic_event,
    chat_body,
    chat_chunk,
    openai_frames,
    scripted_config,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
EXACT_ONLY = {"SMARTFLOW_CACHE_EMBEDDER": "none"}


def onnx_env(model_dir: Path, **extra: str) -> dict[str, str]:
    """The gateway's env for the semantic phase with the ONNX embedder."""
    return {"SMARTFLOW_CACHE_EMBEDDER": "onnx", "SMARTFLOW_MODEL_DIR": str(model_dir), **extra}


# -- the gateway and its keys ---------------------------------------------------------------------


@asynccontextmanager
async def cache_gateway(
    tmp_path: Path,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningGateway]:
    """The gateway with the response cache on (exact only unless env picks an embedder)."""
    async with running_gateway(tmp_path, config, {**EXACT_ONLY, **(env or {})}) as gw:
        assert gw.state.cache is not None, "the response cache did not open"
        yield gw


async def create_key(gw: RunningGateway, **fields: Any) -> dict[str, Any]:
    """A virtual key through the admin API; returns its record with the secret in "key"."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gw.url + "/api/enterprise/vkeys", json={"name": "cache-test", **fields}, headers=ADMIN
        ) as response,
    ):
        created = await response.json()
        assert response.status == 201, created
        return dict(created)


def openai_client(gw: RunningGateway, secret: str = ADMIN_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0)


def anthropic_client(gw: RunningGateway, secret: str = ADMIN_KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=secret, max_retries=0)


async def settle(gw: RunningGateway, timeout_s: float = 10.0) -> None:
    """Wait for the work after the responses (cache writes, shadow checks) to finish."""
    await gw.state.background.drain(timeout_s)
    for _ in range(int(timeout_s / 0.01)):
        if len(gw.state.background) == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("background work still pending")


@dataclass
class Reply:
    status: int
    cache: str
    body: Any


async def post_chat(
    gw: RunningGateway,
    body: Mapping[str, Any],
    *,
    secret: str = ADMIN_KEY,
    headers: Mapping[str, str] | None = None,
    path: str = "/v1/chat/completions",
    wait: bool = True,
) -> Reply:
    """One request over plain HTTP (for headers an SDK would not send); waits for the write."""
    sent = {"Authorization": f"Bearer {secret}", **dict(headers or {})}
    if path.startswith("/anthropic"):
        sent = {"x-api-key": secret, "anthropic-version": "2023-06-01", **dict(headers or {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.url + path, json=dict(body), headers=sent) as response,
    ):
        raw = await response.read()
        try:
            parsed: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = raw
        reply = Reply(response.status, response.headers.get("x-smartflow-cache", ""), parsed)
    if wait:
        await settle(gw)
    return reply


def chat(text: str, model: str = MODEL, **params: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **params}


async def stats(gw: RunningGateway) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(gw.url + "/api/metacache/stats", headers=ADMIN) as response,
    ):
        assert response.status == 200
        return dict(await response.json())


def namespace_row(snapshot: Mapping[str, Any], name: str) -> dict[str, Any]:
    rows = [row for row in snapshot["namespaces"] if row["namespace"] == name]
    assert rows, f"no stats row for {name}: {[r['namespace'] for r in snapshot['namespaces']]}"
    return dict(rows[0])


async def audit_rows(gw: RunningGateway, expected: int, **params: str) -> list[dict[str, Any]]:
    """The audit log through GET /api/audit (written in batches: polled until it has them)."""
    rows: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(
                gw.url + "/api/audit", params={"limit": "100", **params}, headers=ADMIN
            ) as response:
                assert response.status == 200
                page = await response.json()
            rows = list(page["records"] if "records" in page else page["rows"])
            if len(rows) >= expected:
                return rows
            await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rows)} audit records, expected {expected}")
