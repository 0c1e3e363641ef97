"""Helpers of the cache's end-to-end tests: a gateway with the cache on, virtual keys made through
the admin API, a scripted upstream that counts what reaches it, and waits for the cache's
background writes.

The scripted upstream answers like the mock LLM (mockllm.content: the reply depends on the
prompt) unless a test queues a special answer (an error status, a 200 error body, an upstream
`Cache-Control: no-store`, a stream cut off or ending in an error event).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
from aiohttp import web

from mockllm import content

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MODEL = "gpt-4o-mini"
CLAUDE = "claude-3-5-haiku-20241022"
EXACT_ONLY = {"SMARTFLOW_CACHE_EMBEDDER": "none"}


def onnx_env(model_dir: Path, **extra: str) -> dict[str, str]:
    """The gateway's env for the semantic phase with the ONNX embedder."""
    return {"SMARTFLOW_CACHE_EMBEDDER": "onnx", "SMARTFLOW_MODEL_DIR": str(model_dir), **extra}


# -- the scripted upstream ------------------------------------------------------------------------


@dataclass
class Answer:
    """One special answer: JSON (status, body, headers) or SSE frames (optionally cut off)."""

    status: int = 200
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    frames: list[bytes] | None = None
    cut: bool = False  # close the connection after the frames (no final event)
    delay_s: float = 0.0  # between frames


@dataclass
class Seen:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class ScriptedUpstream:
    """OpenAI (/v1/chat/completions) and Anthropic (/v1/messages) on one loopback port."""

    queue: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def calls(self, path: str | None = None) -> int:
        return sum(1 for s in self.seen if path is None or s.path.endswith(path))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read() or b"{}")
        self.seen.append(
            Seen(request.path, body, {k.lower(): v for k, v in request.headers.items()})
        )
        if self.queue:
            return await self._special(request, self.queue.pop(0))
        anthropic_wire = request.path.endswith("/messages")
        stream = bool(body.get("stream"))
        if anthropic_wire:
            if stream:
                return await self._sse(request, content.anthropic_message_stream(body))
            return web.json_response(content.anthropic_message(body))
        created = int(time.time())
        if not request.path.endswith("/chat/completions"):  # the legacy completions
            if stream:
                frames = content.openai_completion_stream(body, created=created)
                return await self._sse(request, frames)
            return web.json_response(content.openai_completion(body, created=created))
        if stream:
            return await self._sse(request, content.openai_chat_stream(body, created=created))
        return web.json_response(content.openai_chat(body, created=created))

    async def _special(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        if answer.frames is None:
            return web.json_response(
                dict(answer.body or {}), status=answer.status, headers=dict(answer.headers)
            )
        return await self._sse(
            request, answer.frames, answer.headers, cut=answer.cut, delay_s=answer.delay_s
        )

    @staticmethod
    async def _sse(
        request: web.Request,
        frames: list[bytes],
        headers: Mapping[str, str] | None = None,
        *,
        cut: bool = False,
        delay_s: float = 0.0,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", **dict(headers or {})}
        )
        await response.prepare(request)
        for frame in frames:
            await response.write(frame)
            if delay_s:
                await asyncio.sleep(delay_s)
        if cut:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response

    async def __aenter__(self) -> ScriptedUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def scripted_config(up: ScriptedUpstream) -> dict[str, Any]:
    """gpt-4o-mini and gpt-4o on the upstream's OpenAI face, the Claude model on its Anthropic
    face; no retries, so every request reaches the upstream once."""
    return {
        "providers": [
            {"name": "oai", "type": "openai-compatible", "base_url": f"{up.url}/v1"},
            {"name": "ant", "type": "anthropic", "base_url": up.url},
        ],
        "models": [
            {"name": MODEL, "deployments": [{"provider": "oai"}]},
            {"name": "gpt-4o", "deployments": [{"provider": "oai"}]},
            {"name": CLAUDE, "deployments": [{"provider": "ant"}]},
        ],
        "routing": {"num_retries": 0, "backoff_base_s": 0.01, "backoff_max_s": 0.05},
    }


def openai_frames(chunks: list[dict[str, Any]], *, done: bool = True) -> list[bytes]:
    frames = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks]
    return frames + ([b"data: [DONE]\n\n"] if done else [])


def chat_chunk(text: str | None, finish: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {} if text is None else {"content": text}
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def chat_body(text: str, finish: str = "stop", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, **message},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }


def anthropic_event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


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
