"""Real A2A agents for tests: the official `a2a-sdk` server (its Starlette JSON-RPC and agent-card
routes, DefaultRequestHandler, an in-memory task store) on uvicorn, in-process, on 127.0.0.1.

The echo agent works like a small real agent: for each message it opens a task, reports a
`working` status, emits an artifact holding the echoed text, and completes; streamed, that is at
least three events. `serve_agent` also records the request headers the agent received (to check
that the gateway sends the agent's credentials and never the client's key) and can require a
header (the agent's own auth).

    async with serve_agent(echo_agent_card("echo")) as agent:
        ...  # agent.url, agent.headers_seen, agent.tasks, await agent.stop()
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    APIKeySecurityScheme,
    SecurityScheme,
)
from starlette.applications import Starlette

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

RPC_PATH = "/rpc"


class EchoExecutor(AgentExecutor):
    """Echo the user's text back as an artifact, through a working status, then complete."""

    def __init__(self, tasks: list[str], gate: asyncio.Event | None = None) -> None:
        self.tasks = tasks  # ids of the tasks this agent really ran
        self.gate = gate  # when set: the artifact waits for it (a stream seen mid-way)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        self.tasks.append(task.id)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        text = context.get_user_input()
        await updater.start_work(
            new_text_message("echoing", context_id=task.context_id, task_id=task.id)
        )
        await asyncio.sleep(0)  # let a streaming client see the status before the artifact
        if self.gate is not None:
            await self.gate.wait()
        await updater.add_artifact([new_text_part(f"echo: {text}")], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None and context.context_id is not None
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def echo_agent_card(name: str = "echo", url: str = "http://127.0.0.1:0/rpc") -> AgentCard:
    """The echo agent's card (its URL is set by `serve_agent` once the port is known). It names an
    API-key scheme of its own, so tests can see the gateway replace it with its bearer scheme."""
    return AgentCard(
        name=f"{name.title()} agent",
        description="Echoes what it is told",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=True),
        security_schemes={
            "agent-key": SecurityScheme(
                api_key_security_scheme=APIKeySecurityScheme(location="header", name="X-Agent-Key")
            )
        },
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="echo", name="Echo", description="Repeats the input", tags=["echo", "test"]
            )
        ],
    )


@dataclass
class AgentServed:
    """A served agent: its base URL (the card is at url + /.well-known/agent-card.json), the
    request headers it received (lower-case names, oldest first), the tasks it ran."""

    url: str
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    _stop: Callable[[], Awaitable[None]] | None = None

    async def stop(self) -> None:
        """Take the agent down (connections refused afterwards); idempotent."""
        if self._stop is not None:
            await self._stop()


def _observe(app: Asgi, seen: list[dict[str, str]], required: Mapping[str, str]) -> Asgi:
    wanted = {name.lower(): value for name, value in required.items()}

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        seen.append(headers)
        if any(headers.get(name) != value for name, value in wanted.items()):
            body = orjson.dumps({"error": "unauthorized"})
            start = {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json")],
            }
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return wrapped


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _start(app: Asgi, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn exited during startup")
        await asyncio.sleep(0.005)
    return server, task


def agent_app(card: AgentCard, executor: AgentExecutor) -> Starlette:
    """The SDK's own Starlette app: the card at /.well-known/agent-card.json, JSON-RPC at /rpc
    (A2A 1.0, with the SDK's 0.3 compatibility on the same endpoint)."""
    handler = DefaultRequestHandler(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = [
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, RPC_PATH, enable_v0_3_compat=True),
    ]
    return Starlette(routes=routes)


@asynccontextmanager
async def serve_agent(
    name: str = "echo",
    *,
    headers_required: Mapping[str, str] | None = None,
    gate: asyncio.Event | None = None,
) -> AsyncIterator[AgentServed]:
    """Serve the echo agent until the block ends. With `gate`, each task stops after its
    `working` status until the gate is set."""
    sock = _bind()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    served = AgentServed(url=base)
    card = echo_agent_card(name, url=base + RPC_PATH)
    app = _observe(
        agent_app(card, EchoExecutor(served.tasks, gate)),
        served.headers_seen,
        headers_required or {},
    )
    running = [await _start(app, sock)]

    async def stop() -> None:
        while running:
            server, task = running.pop()
            server.should_exit = True
            await task

    served._stop = stop
    try:
        yield served
    finally:
        await stop()
