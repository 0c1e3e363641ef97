"""stdio transport: the gateway starts the MCP server as a child process (local use only; off
unless SMARTFLOW_MCP_STDIO=true) and speaks newline-delimited JSON-RPC on its stdin/stdout.

Requests are multiplexed by id: one reader task resolves the waiting futures, so concurrent
calls share the process. stderr is drained continuously (a full pipe would block the server)
into the debug log, never into error messages, which a client might see. The child gets a
minimal environment, not the gateway's (which holds the admin key and provider credentials):
the usual system variables plus those the spec's auth names. If the process exits, waiting
calls fail and the next call starts it again; close() stops it, killing it if it lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.core.toolspecs import McpServerSpec
from gateway.mcp.upstream_base import UpstreamBase
from gateway.mcp.upstream_wire import McpUnavailable, is_response

log = logging.getLogger("smartflow.mcp")

INHERITED_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TMPDIR")
LINE_LIMIT = 64 * 1024 * 1024  # one JSON-RPC message per line; tool results can be large
STOP_GRACE_S = 1.0


class StdioUpstream(UpstreamBase):
    """An MCP server run as a child process of the gateway."""

    def __init__(self, spec: McpServerSpec, *, env: Mapping[str, str]) -> None:
        super().__init__(spec.name, spec.timeout_s)
        assert spec.command is not None
        self._argv = spec.command
        self._env = env
        self._passed = spec.auth.env_vars()
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._write_lock = asyncio.Lock()
        self._eof = False

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def _child_env(self) -> dict[str, str]:
        child = {name: self._env[name] for name in INHERITED_ENV if name in self._env}
        for name in self._passed:
            value = self._env.get(name)
            if not value:
                raise McpUnavailable(
                    f"MCP server {self.name!r}: environment variable {name} is not set"
                )
            child[name] = value
        return child

    def _connected(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and not self._eof

    async def _connect(self) -> None:
        await self._disconnect()
        env = self._child_env()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                limit=LINE_LIMIT,
                start_new_session=True,  # its own process group: close() stops its children too
            )
        except OSError as exc:
            raise McpUnavailable(
                f"MCP server {self.name!r}: cannot start {self._argv[0]!r} "
                f"({exc.strerror or type(exc).__name__})"
            ) from None
        self._proc, self._eof = proc, False
        self._tasks = [
            asyncio.create_task(self._read_stdout(proc)),
            asyncio.create_task(self._drain_stderr(proc)),
        ]

    async def _roundtrip(
        self, request_id: int, method: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._write(body)
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise McpUnavailable(
                f"MCP server {self.name!r} unavailable: no answer within {self.timeout_s:g}s"
            ) from None
        finally:
            self._pending.pop(request_id, None)

    async def _notify(self, method: str, body: bytes, headers: dict[str, str]) -> None:
        await self._write(body)

    async def _write(self, body: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            raise self._exited()
        try:
            async with self._write_lock:
                proc.stdin.write(body + b"\n")
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise self._exited() from None

    async def _read_stdout(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError:
                    log.debug("MCP server %r: non-JSON line on stdout skipped", self.name)
                    continue
                if is_response(message, None):
                    future = self._pending.get(message.get("id"))
                    if future is not None and not future.done():
                        future.set_result(message)
                elif isinstance(message, dict) and "id" in message and "method" in message:
                    await self._answer_server_request(message)
        except (ValueError, asyncio.LimitOverrunError):
            log.debug("MCP server %r: oversized line on stdout", self.name)
        finally:
            self._eof = True  # the next call starts the process again
            error = self._exited()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)

    async def _answer_server_request(self, message: dict[str, Any]) -> None:
        """The server asked us something: only `ping` has an answer (we advertise nothing else)."""
        if message.get("method") == "ping":
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"], "result": {}}
        else:
            error = {"code": -32601, "message": "Method not found"}
            reply = {"jsonrpc": "2.0", "id": message["id"], "error": error}
        with contextlib.suppress(McpUnavailable):
            await self._write(orjson.dumps(reply))

    async def _drain_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        with contextlib.suppress(ValueError, asyncio.LimitOverrunError):
            while line := await proc.stderr.readline():
                text = line[:2000].decode("utf-8", "replace").rstrip()
                log.debug("MCP server %r stderr: %s", self.name, text)

    async def _disconnect(self) -> None:
        """Close stdin and wait briefly; then SIGTERM, then SIGKILL, to the process group."""
        proc, self._proc = self._proc, None
        tasks, self._tasks = self._tasks, []
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, sig)
                try:
                    await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
                    break
                except TimeoutError:
                    continue
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _exited(self) -> McpUnavailable:
        code = self._proc.returncode if self._proc is not None else None
        detail = f" (exit code {code})" if code is not None else ""
        return McpUnavailable(f"MCP server {self.name!r} unavailable: the process exited{detail}")
