"""Running the app: one process, or a supervisor with N workers sharing the port (SO_REUSEPORT).

SIGTERM drains: readiness turns 503, the listener closes, in-flight requests and streams finish
(bounded by SMARTFLOW_SHUTDOWN_TIMEOUT_SECS), then providers and sinks are closed.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.process import BaseProcess

from aiohttp import web

from gateway.app import build_app
from gateway.http_limits import GatewayRunner, HttpLimits
from gateway.observability.logging import configure_from, follow_rotation
from gateway.pipeline.state import STATE
from gateway.settings import Settings

log = logging.getLogger("smartflow.server")


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def app_runner(app: web.Application, *, shutdown_timeout_s: float) -> web.AppRunner:
    """The runner every gateway process serves its app with (and the tests' gateway): parser limits
    and parser refusals answered in our error JSON (gateway.http_limits)."""
    return GatewayRunner(
        app,
        limits=HttpLimits(),
        handler_cancellation=True,  # a client that disconnects cancels its upstream request
        access_log=None,
        shutdown_timeout=shutdown_timeout_s,
    )


async def serve(settings: Settings, *, reuse_port: bool = False) -> None:
    app = build_app(settings)
    runner = app_runner(app, shutdown_timeout_s=settings.shutdown_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port, backlog=4096)
    await site.start()
    log.info(
        "listening",
        extra={
            "service": settings.service_type,
            "address": f"http://{settings.host}:{settings.port}",
            "pid": os.getpid(),
            "mock_provider": settings.config.uses_mock_only,
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    state = app[STATE]
    state.lifecycle.draining = True
    log.info("draining", extra={"inflight": state.lifecycle.inflight})
    await runner.cleanup()
    log.info("stopped")


def run_single(settings: Settings, *, reuse_port: bool = False) -> None:
    _install_uvloop()
    stop_logging = configure_from(settings, background=True)
    try:
        asyncio.run(serve(settings, reuse_port=reuse_port))
    finally:
        stop_logging()


def _worker(settings: Settings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; SIGTERM drains
    run_single(settings, reuse_port=True)


def run_workers(settings: Settings) -> int:
    """Supervise `settings.workers` processes; restart one that dies; drain all on SIGTERM."""
    context = multiprocessing.get_context("fork")
    workers: list[BaseProcess] = []
    stopping = False

    def spawn() -> BaseProcess:
        process = context.Process(target=_worker, args=(settings,), daemon=False)
        process.start()
        return process

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers.extend(spawn() for _ in range(settings.workers))
    log.info("supervising", extra={"workers": [p.pid for p in workers]})
    restarts: list[float] = []
    while not stopping:
        time.sleep(0.2)
        follow_rotation()  # the supervisor seldom logs: keep its stdout/stderr on the current file
        for index, process in enumerate(workers):
            if process.is_alive() or stopping:
                continue
            now = time.monotonic()
            restarts[:] = [t for t in restarts if now - t < 60] + [now]
            if len(restarts) > 5 * settings.workers:
                log.error("workers keep dying; giving up", extra={"exitcode": process.exitcode})
                on_signal(signal.SIGTERM, None)
                break
            log.warning("worker died; restarting", extra={"exitcode": process.exitcode})
            workers[index] = spawn()
    deadline = time.monotonic() + settings.shutdown_timeout_s + 5
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
    return 0
