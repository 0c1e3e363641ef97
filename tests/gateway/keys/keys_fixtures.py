"""Helpers of the virtual-key tests: a gateway serving the management API (in the test's loop or
on a thread of its own), and a PostgreSQL database per test (created, then dropped)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway

PG_ADMIN_DSN = os.environ.get("SMARTFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def keys_gateway(
    tmp_path: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[RunningGateway]:
    """SERVICE_TYPE=all on a loopback port, its state in tmp_path."""
    environment = {"SMARTFLOW_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    async with running_gateway(tmp_path, env=environment) as gateway:
        assert gateway.state.keys is not None, "the app factory did not open a key repository"
        yield gateway


@contextmanager
def gateway_in_thread(tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The same gateway on its own event loop in a thread, for synchronous clients (httpx,
    schemathesis' requests). Yields its base URL; stops it on exit."""
    started: list[str] = []
    failure: list[BaseException] = []
    ready = threading.Event()
    holder: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        holder["loop"] = (asyncio.get_running_loop(), stop)
        try:
            async with keys_gateway(tmp_path, env) as gateway:
                started.append(gateway.url)
                ready.set()
                await stop.wait()
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="test-gateway")
    thread.start()
    ready.wait(60)
    try:
        if failure:
            raise failure[0]
        assert started, "the gateway did not start"
        yield started[0]
    finally:
        if "loop" in holder:
            loop, stop = holder["loop"]
            loop.call_soon_threadsafe(stop.set)
        thread.join(60)


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A database of its own on the local PostgreSQL (its DSN), dropped on exit."""
    name = f"smartflow_keys_{os.getpid()}_{os.urandom(4).hex()}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
