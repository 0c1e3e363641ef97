"""A scripted upstream on loopback: OpenAI (/v1/chat/completions, /v1/completions) and Anthropic
(/v1/messages) on one port. It answers like the mock LLM (mockllm.content: the reply depends on
the prompt) unless a test queues a special answer (an error status, a 200 error body, headers, a
stream cut off, slow or ending in an error event); it records what reached it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from mockllm import content

MODEL = "gpt-4o-mini"
CLAUDE = "claude-3-5-haiku-20241022"


@dataclass
class Answer:
    """One special answer: JSON (status, body, headers) or SSE frames (optionally cut off)."""

    status: int = 200
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    frames: list[bytes] | None = None
    cut: bool = False  # close the connection after the frames (no final event)
    delay_s: float = 0.0  # between frames; before a JSON answer


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
    abandoned: int = 0  # slow answers whose caller had hung up by the time they were ready
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
        if answer.frames is None and answer.delay_s:
            await asyncio.sleep(answer.delay_s)  # a slow upstream: did the caller wait for it?
            if request.transport is None or request.transport.is_closing():
                self.abandoned += 1
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
        app = web.Application(client_max_size=64 * 1024 * 1024)  # long prompts, like a provider
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
