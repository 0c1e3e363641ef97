"""A misbehaving OpenAI/Anthropic-shaped upstream for retry, timeout and disconnect tests.

Each request takes the next scripted step (the last one repeats). It records what it received and
whether the client went away, so tests can assert what the gateway did to the upstream.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Step:
    kind: str  # "ok", "status", "hang", "drop", "stream", "stall_stream", "drop_stream"
    status: int = 200
    retry_after: str | None = None
    delay_s: float = 0.0
    body: dict[str, Any] | None = None


def ok() -> Step:
    return Step("ok")


def status(code: int, retry_after: str | None = None) -> Step:
    return Step("status", status=code, retry_after=retry_after)


def hang(seconds: float = 30.0) -> Step:
    return Step("hang", delay_s=seconds)


def drop() -> Step:
    return Step("drop")


def stream(chunk_delay_s: float = 0.0) -> Step:
    return Step("stream", delay_s=chunk_delay_s)


def stall_stream() -> Step:
    return Step("stall_stream")


def drop_stream() -> Step:
    return Step("drop_stream")


@dataclass
class Seen:
    path: str
    body: dict[str, Any]
    at: float
    headers: dict[str, str]


@dataclass
class ChaosUpstream:
    steps: list[Step]
    seen: list[Seen] = field(default_factory=list)
    disconnects: int = 0
    chunks_sent: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None
    _index: int = 0

    def next_step(self) -> Step:
        step = self.steps[min(self._index, len(self.steps) - 1)]
        self._index += 1
        return step

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read() or b"{}")
        self.seen.append(Seen(request.path, body, time.monotonic(), dict(request.headers)))
        step = self.next_step()
        try:
            return await self._respond(request, step, body)
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects += 1
            raise

    async def _respond(
        self, request: web.Request, step: Step, body: dict[str, Any]
    ) -> web.StreamResponse:
        if step.kind == "status":
            headers = {"retry-after": step.retry_after} if step.retry_after else {}
            error = {
                "error": {
                    "message": f"chaos {step.status}",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            return web.json_response(error, status=step.status, headers=headers)
        if step.kind == "hang":
            await asyncio.sleep(step.delay_s)
        if step.kind == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if step.kind in ("stream", "stall_stream", "drop_stream"):
            return await self._stream(request, step, body)
        return web.json_response(completion(body.get("model", "m")))

    async def _stream(
        self, request: web.Request, step: Step, body: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for index in range(20):
            if step.kind == "stall_stream" and index == 2:
                await asyncio.sleep(60)
            if step.kind == "drop_stream" and index == 2:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write(chunk_frame(body.get("model", "m"), f"w{index} "))
            self.chunks_sent += 1
            await asyncio.sleep(step.delay_s)
        await response.write(b"data: [DONE]\n\n")
        return response

    async def __aenter__(self) -> ChaosUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-chaos",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "fine", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def chunk_frame(model: str, text: str) -> bytes:
    chunk = {
        "id": "chatcmpl-chaos",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [
            {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
        ],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"
