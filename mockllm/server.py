"""The standalone fake LLM server (`sfctl mock-upstream`): OpenAI, Azure OpenAI, Anthropic routes.

OpenAI: chat completions, completions, embeddings, models and the Responses API (`/v1/responses`,
stateless: `mockllm.responses_content`), also under `/openai/v1` (Azure's v1 API). Azure: the
per-deployment routes with an `api-version`, and `/openai/responses?api-version=...`.

Lean on purpose, so that it is never the bottleneck of a benchmark: orjson, no pydantic, no access
log, no middleware; handler state (behaviour, the error-injection RNG) lives on one object per app.
The answers are `mockllm.content`'s: deterministic per prompt, and a tool is called only when
`tool_choice` forces one or the last user turn asks for one by name (`mockllm.tool_use`).

Behaviour knobs: `latency_ms` delays the response headers (time to first token); with
`tokens_per_second` streams are paced frame by frame and whole responses are delayed by
completion_tokens / tps; `error_rate` answers that fraction of model requests with a 500 in the
route's wire shape (OpenAI `server_error`, Anthropic `api_error`; both 500 so that clients' retry
paths are exercised the same way), drawn from a `random.Random(seed)` held by the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import orjson
from aiohttp import web

from mockllm import anthropic_content, openai_content, responses_content
from mockllm.content import openai_embeddings
from mockllm.text import DEFAULT_MODELS, MockRequestError, StreamFrames

__all__ = ["MockBehaviour", "RunningMock", "create_app", "run", "start_server"]

Wire = Literal["openai", "anthropic"]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_JSON = "application/json"
_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
}
_BAD_JSON = (
    "We could not parse the JSON body of your request. The API expects a JSON object, "
    "but what was sent was not valid JSON."
)
_OPENAI_500 = "The server had an error while processing your request. Sorry about that!"


@dataclass(frozen=True)
class MockBehaviour:
    latency_ms: float = 0.0
    tokens_per_second: float = 0.0  # 0 = unthrottled
    error_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "tokens_per_second"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate}")


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """How one route builds its answer. `stream` is None where the API has no streaming."""

    wire: Wire
    build: Callable[[dict[str, Any], int], dict[str, Any]]
    stream: Callable[[dict[str, Any], int], StreamFrames] | None
    output_tokens: Callable[[dict[str, Any]], int]


def _openai_tokens(payload: dict[str, Any]) -> int:
    return int(payload["usage"]["completion_tokens"])


_CHAT = _Endpoint(
    "openai",
    lambda b, c: openai_content.chat(b, created=c),
    lambda b, c: openai_content.chat_stream_frames(b, created=c),
    _openai_tokens,
)
_COMPLETIONS = _Endpoint(
    "openai",
    lambda b, c: openai_content.completion(b, created=c),
    lambda b, c: openai_content.completion_stream_frames(b, created=c),
    _openai_tokens,
)
_EMBEDDINGS = _Endpoint("openai", lambda b, c: openai_embeddings(b), None, lambda p: 0)
_MESSAGES = _Endpoint(
    "anthropic",
    lambda b, c: anthropic_content.message(b),
    lambda b, c: anthropic_content.message_stream_frames(b),
    lambda p: int(p["usage"]["output_tokens"]),
)
_COUNT_TOKENS = _Endpoint(
    "anthropic", lambda b, c: anthropic_content.count_input_tokens(b), None, lambda p: 0
)


class _Rejected(Exception):
    """A request answered with an error before any model work."""

    def __init__(self, status: int, kind: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.param = status, kind, message, param


def _error(
    wire: Wire, status: int, kind: str, message: str, param: str | None = None
) -> web.Response:
    if wire == "anthropic":
        payload: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        payload = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return web.Response(status=status, body=orjson.dumps(payload), content_type=_JSON)


class _Handlers:
    def __init__(self, behaviour: MockBehaviour) -> None:
        self._latency_s = behaviour.latency_ms / 1000.0
        self._tps = behaviour.tokens_per_second
        self._error_rate = behaviour.error_rate
        self._rng = random.Random(behaviour.seed)  # noqa: S311 - error injection, not security
        self._request_ids = itertools.count(1)
        serials = itertools.count(1)  # response ids stay unique when one prompt comes twice
        self.responses = _Endpoint(
            "openai",
            lambda b, c: responses_content.response(b, created=c, serial=next(serials)),
            lambda b, c: responses_content.response_stream_frames(
                b, created=c, serial=next(serials)
            ),
            lambda p: int(p["usage"]["output_tokens"]),
        )

    # --- routes --------------------------------------------------------------------------------

    def endpoint(self, endpoint: _Endpoint) -> _Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, endpoint, None)

        return handle

    def azure(self, endpoint: _Endpoint) -> _Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            if "api-version" not in request.query:
                return _azure_not_found()
            return await self._serve(request, endpoint, request.match_info["deployment"])

        return handle

    def azure_resource(self, endpoint: _Endpoint) -> _Handler:
        """A route of the whole Azure resource (no deployment in the URL: the body names it)."""

        async def handle(request: web.Request) -> web.StreamResponse:
            if "api-version" not in request.query:
                return _azure_not_found()
            return await self._serve(request, endpoint, None)

        return handle

    async def models(self, request: web.Request) -> web.Response:
        """GET /v1/models: both SDKs use this path; the anthropic one sends anthropic-version."""
        if "anthropic-version" in request.headers:
            return await self.anthropic_models(request)
        payload = openai_content.model_list(created=int(time.time()))
        return web.Response(body=orjson.dumps(payload), content_type=_JSON)

    async def anthropic_models(self, request: web.Request) -> web.Response:
        payload = _anthropic_models(int(time.time()))
        return web.Response(body=orjson.dumps(payload), content_type=_JSON)

    async def azure_models(self, request: web.Request) -> web.Response:
        if "api-version" not in request.query:
            return _azure_not_found()
        return await self.models(request)

    async def model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        payload = openai_content.model_list(created=int(time.time()), models=(name,))["data"][0]
        return web.Response(body=orjson.dumps(payload), content_type=_JSON)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type=_JSON)

    async def not_found(self, request: web.Request) -> web.Response:
        path = request.path
        wire: Wire = "anthropic" if "anthropic" in path or "/messages" in path else "openai"
        kind = "not_found_error" if wire == "anthropic" else "invalid_request_error"
        return _error(wire, 404, kind, f"Unknown request URL: {request.method} {path}")

    # --- the model path ----------------------------------------------------------------------

    async def _serve(
        self, request: web.Request, endpoint: _Endpoint, deployment: str | None
    ) -> web.StreamResponse:
        wire = endpoint.wire
        try:
            body = _parse(await request.read())
            if deployment is not None:
                body["model"] = deployment
            stream = body.get("stream")
            if stream is not None and not isinstance(stream, bool):
                raise _Rejected(400, "invalid_request_error", "stream must be a boolean", "stream")
            if self._latency_s:
                await asyncio.sleep(self._latency_s)
            if self._error_rate and self._rng.random() < self._error_rate:
                return _server_error(wire)
            created = int(time.time())
            if stream and endpoint.stream is not None:
                return await self._stream(request, endpoint.stream(body, created), wire)
            payload = endpoint.build(body, created)
        except _Rejected as exc:
            return _error(wire, exc.status, exc.kind, exc.message, exc.param)
        except MockRequestError as exc:
            return _error(wire, 400, "invalid_request_error", exc.message, exc.param)
        if self._tps:
            tokens = endpoint.output_tokens(payload)
            if tokens:
                await asyncio.sleep(tokens / self._tps)
        return web.Response(
            body=orjson.dumps(payload), content_type=_JSON, headers=self._id_header(wire)
        )

    async def _stream(
        self, request: web.Request, plan: StreamFrames, wire: Wire
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={**_SSE_HEADERS, **self._id_header(wire)})
        try:
            await response.prepare(request)
            if self._tps:
                await self._paced(response, plan)
            else:
                await response.write(b"".join(plan.frames))
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away mid-stream: nothing left to send to
        return response

    async def _paced(self, response: web.StreamResponse, plan: StreamFrames) -> None:
        """Write each token frame when it is due (token k at start + (k+1)/tps), batching the
        frames that fell due together; the frames before and after the tokens go out with their
        neighbours."""
        frames, first, count = plan.frames, plan.first_token, plan.token_count
        loop = asyncio.get_running_loop()
        start = loop.time()
        await response.write(b"".join(frames[:first]))
        sent = 0
        while sent < count:
            due = min(count, int((loop.time() - start) * self._tps))
            if due <= sent:
                await asyncio.sleep(start + (sent + 1) / self._tps - loop.time())
                continue
            tail = frames[first + count :] if due == count else []
            await response.write(b"".join(frames[first + sent : first + due] + tail))
            sent = due
        if count == 0:
            await response.write(b"".join(frames[first:]))

    def _id_header(self, wire: Wire) -> dict[str, str]:
        name = "request-id" if wire == "anthropic" else "x-request-id"
        return {name: f"req_mock{next(self._request_ids):016x}"}


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Rejected(400, "invalid_request_error", _BAD_JSON) from None
    if not isinstance(body, dict):
        raise _Rejected(400, "invalid_request_error", "The request body must be a JSON object.")
    return body


def _server_error(wire: Wire) -> web.Response:
    if wire == "anthropic":
        return _error(wire, 500, "api_error", "Internal server error")
    return _error(wire, 500, "server_error", _OPENAI_500)


def _azure_not_found() -> web.Response:
    body = {"error": {"code": "404", "message": "Resource not found"}}
    return web.Response(status=404, body=orjson.dumps(body), content_type=_JSON)


def _anthropic_models(created: int) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    names = [m for m in DEFAULT_MODELS if m.startswith("claude")]
    return {
        "data": [{"type": "model", "id": m, "display_name": m, "created_at": stamp} for m in names],
        "has_more": False,
        "first_id": names[0],
        "last_id": names[-1],
    }


def create_app(behaviour: MockBehaviour) -> web.Application:
    handlers = _Handlers(behaviour)
    app = web.Application()
    add = app.router.add_route
    for prefix in ("/v1", "/openai/v1"):
        add("POST", f"{prefix}/chat/completions", handlers.endpoint(_CHAT))
        add("POST", f"{prefix}/completions", handlers.endpoint(_COMPLETIONS))
        add("POST", f"{prefix}/embeddings", handlers.endpoint(_EMBEDDINGS))
        add("POST", f"{prefix}/responses", handlers.endpoint(handlers.responses))
        add("GET", f"{prefix}/models", handlers.models)
        add("GET", f"{prefix}/models/{{model}}", handlers.model)
    for prefix in ("/v1", "/anthropic/v1"):
        add("POST", f"{prefix}/messages", handlers.endpoint(_MESSAGES))
        add("POST", f"{prefix}/messages/count_tokens", handlers.endpoint(_COUNT_TOKENS))
    add("GET", "/anthropic/v1/models", handlers.anthropic_models)
    azure = "/openai/deployments/{deployment}"
    add("POST", f"{azure}/chat/completions", handlers.azure(_CHAT))
    add("POST", f"{azure}/completions", handlers.azure(_COMPLETIONS))
    add("POST", f"{azure}/embeddings", handlers.azure(_EMBEDDINGS))
    add("POST", "/openai/responses", handlers.azure_resource(handlers.responses))
    add("GET", "/openai/models", handlers.azure_models)
    add("GET", "/health", handlers.health)
    add("*", "/{tail:.*}", handlers.not_found)
    return app


class RunningMock:
    """A started mock server; `close()` (or leaving `async with`) stops it."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.port = port
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningMock:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def start_server(
    behaviour: MockBehaviour, host: str = "127.0.0.1", port: int = 0
) -> RunningMock:
    """Start on host:port (0 = an ephemeral port, read back into .port and .url)."""
    runner = web.AppRunner(create_app(behaviour), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    url_host = f"[{host}]" if ":" in host else host
    return RunningMock(runner, url_host, int(bound))


def run(
    behaviour: MockBehaviour,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, on uvloop when it is installed.

    on_ready gets the base URL once the socket is bound (the real port when port is 0).
    """
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_until_signalled(behaviour, host, port, on_ready))


async def _serve_until_signalled(
    behaviour: MockBehaviour, host: str, port: int, on_ready: Callable[[str], None] | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still raises
            loop.add_signal_handler(sig, stop.set)
    async with await start_server(behaviour, host, port) as mock:
        if on_ready is not None:
            on_ready(mock.url)
        await stop.wait()
