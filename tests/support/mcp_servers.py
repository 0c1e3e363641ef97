"""Real MCP servers for tests: the official `mcp` SDK's MCPServer on uvicorn, in-process, on
127.0.0.1. The gateway must speak to exactly what the SDK serves, so nothing here is a fake:
`serve_mcp` only wraps the SDK's own Streamable HTTP app with what tests need to observe (the
request headers) or to provoke (a required header, a server that predates the modern era, a
server that goes down or restarts and forgets its sessions).

    async with serve_mcp(demo_server()) as served:
        ...  # served.url, served.calls["add"], await served.stop()
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ListToolsResult, ToolAnnotations
from mcp_types import PaginatedRequestParams
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class DemoServer(MCPServer[Any]):
    """An MCPServer that counts the tool runs it really performed (a cache hit never reaches it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, log_level="WARNING")
        self.calls: Counter[str] = Counter()
        self.counter = 0


def demo_server(name: str = "demo", *, page_size: int | None = None) -> DemoServer:
    """echo (read-only), add (idempotent), increment (mutating), fail (raises), slow (read-only).
    With `page_size`, tools/list answers in pages of that many tools, linked by nextCursor."""
    server = DemoServer(name)
    if page_size is not None:
        _paginate(server, page_size)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Return the text unchanged."""
        server.calls["echo"] += 1
        return text

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=True))
    def add(a: int, b: int) -> int:
        """Add two integers."""
        server.calls["add"] += 1
        return a + b

    @server.tool()
    def increment(by: int = 1) -> int:
        """Add `by` to this server's running counter and return it."""
        server.calls["increment"] += 1
        server.counter += by
        return server.counter

    @server.tool()
    def fail(message: str) -> str:
        """Always raises: the SDK turns it into an isError result carrying the message."""
        server.calls["fail"] += 1
        raise ToolError(message)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def slow(seconds: float) -> str:
        """Sleep, then answer: for timeouts and concurrency."""
        server.calls["slow"] += 1
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    return server


def _paginate(server: DemoServer, page_size: int) -> None:
    """Replace the SDK's one-page tools/list with cursor pages (the cursor is the next offset)."""

    async def list_tools(ctx: Any, params: PaginatedRequestParams) -> ListToolsResult:
        tools = await server.list_tools()
        start = int(params.cursor or 0)
        end = start + page_size
        cursor = str(end) if end < len(tools) else None
        return ListToolsResult(tools=tools[start:end], next_cursor=cursor)

    server._lowlevel_server.add_request_handler("tools/list", PaginatedRequestParams, list_tools)


@dataclass
class McpServed:
    """A served MCP server: its endpoint URL, the per-tool real-call counter, the request headers
    it received (lower-case names, oldest first) and controls to take it down or restart it."""

    url: str
    calls: Counter[str]
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    _stop: Callable[[], Awaitable[None]] | None = None
    _restart: Callable[[], Awaitable[None]] | None = None

    async def stop(self) -> None:
        """Take the server down (connections refused afterwards); idempotent."""
        if self._stop is not None:
            await self._stop()

    async def restart(self) -> None:
        """Stop, then serve a fresh app on the same port: every session id it handed out is gone."""
        if self._restart is not None:
            await self._restart()


def _json_reply(status: int, body: dict[str, Any]) -> Asgi:
    async def reply(scope: Scope, receive: Receive, send: Send) -> None:
        data = orjson.dumps(body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return reply


def _observe(
    app: Asgi, seen: list[dict[str, str]], required: Mapping[str, str], legacy_only: bool
) -> Asgi:
    """Record each request's headers; refuse it when a required header is missing or wrong (401),
    or, for `legacy_only`, when it names a protocol version an mcp 1.x server would not know
    (400 with the JSON-RPC error body those servers send)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        seen.append(headers)
        # read per request: a test may change the mapping to revoke a credential mid-run
        if any(headers.get(name.lower()) != value for name, value in required.items()):
            error = {"code": -32001, "message": "Unauthorized"}
            await _json_reply(401, {"jsonrpc": "2.0", "id": None, "error": error})(
                scope, receive, send
            )
            return
        version = headers.get("mcp-protocol-version")
        if legacy_only and version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            message = f"Bad Request: Unsupported protocol version: {version}"
            error = {"code": -32600, "message": message}
            await _json_reply(400, {"jsonrpc": "2.0", "id": "server-error", "error": error})(
                scope, receive, send
            )
            return
        await app(scope, receive, send)

    return wrapped


def _bind(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def _start(app: Asgi, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1, ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises the startup error
            raise RuntimeError("uvicorn exited during startup")
        await asyncio.sleep(0.005)
    return server, task


@asynccontextmanager
async def serve_mcp(
    server: MCPServer[Any],
    *,
    path: str = "/mcp",
    headers_required: Mapping[str, str] | None = None,
    stateless: bool = False,
    json_response: bool = False,
    legacy_only: bool = False,
) -> AsyncIterator[McpServed]:
    """Serve `server` over Streamable HTTP until the block ends.

    The SDK server answers both eras: the modern per-request envelope (2026-07-28) always, and the
    handshake era either with sessions (`stateless=False`, the SDK default: Mcp-Session-Id, lost
    on restart) or without (`stateless=True`). `legacy_only=True` makes it behave like an mcp 1.x
    server, which rejects the modern probe, so clients must fall back to `initialize`.
    `json_response=True` answers with application/json instead of an SSE stream.
    `headers_required` (names case-insensitive) is checked on every request, 401 when one is
    missing or different; it is read per request, so a test can change it to revoke a token.
    Accepted connections have TCP_NODELAY (uvicorn on a given socket does not set it, which
    costs 40 ms per exchange in delayed ACKs): the direct call is a fair baseline for benchmarks."""
    calls: Counter[str] = server.calls if isinstance(server, DemoServer) else Counter()
    served = McpServed(url="", calls=calls)
    sock = _bind()
    port = sock.getsockname()[1]
    served.url = f"http://127.0.0.1:{port}{path}"

    def make_app() -> Asgi:
        inner = server.streamable_http_app(
            streamable_http_path=path, stateless_http=stateless, json_response=json_response
        )
        return _observe(inner, served.headers_seen, headers_required or {}, legacy_only)

    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = [await _start(make_app(), sock)]

    async def stop() -> None:
        while running:
            uv, task = running.pop()
            uv.should_exit = True
            await task

    async def restart() -> None:
        await stop()
        running.append(await _start(make_app(), _bind(port)))

    served._stop, served._restart = stop, restart
    try:
        yield served
    finally:
        await stop()
