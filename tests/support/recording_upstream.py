"""A loopback stand-in for a provider that records the headers of every request it receives:
for the tests that prove which credentials `sfctl bench` sends to each arm. It answers
POST /v1/chat/completions with a recorded OpenAI completion; header names are lower-cased."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from support.chat_server import COMPLETION, serve_chat


@dataclass
class Recording:
    """The base URL and, once requests arrive, the headers of each (in arrival order)."""

    url: str
    headers: list[dict[str, str]] = field(default_factory=list)

    def credentials(self) -> set[str]:
        """Every distinct Authorization and x-api-key value received."""
        names = ("authorization", "x-api-key")
        return {h[name] for h in self.headers for name in names if name in h}


@asynccontextmanager
async def recording_upstream() -> AsyncIterator[Recording]:
    """Serve on 127.0.0.1 until the block ends; the server is stopped after."""
    recording = Recording("")

    async def chat(request: web.Request) -> web.StreamResponse:
        recording.headers.append({k.lower(): v for k, v in request.headers.items()})
        await request.read()
        return web.json_response(COMPLETION)

    async with serve_chat(chat) as url:
        recording.url = url
        yield recording
