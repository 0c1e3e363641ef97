"""Exec into a pod over WebSocket, the way the API server proxies the kubelet's streaming
protocol: subprotocol v5/v4.channel.k8s.io, every frame a channel byte (1 stdout, 2 stderr,
3 the exit Status as JSON) and the data. What the command prints comes from a hook (the images
book knows what `smartflow-gateway --version --json` answers in each image)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request
from .pods import Obj, container_status, pick_container

#: (pod, container, command) -> (exit code, stdout, stderr)
ExecHandler = Callable[[Obj, str, list[str]], tuple[int, str, str]]
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3


def check_runnable(pod: Obj, wanted: str) -> str:
    """The container to exec in, or the 400 the server answers instead of upgrading."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    container = pick_container(pod, wanted)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise bad_request(
            f"cannot exec into a container in a completed pod; current phase is {phase}"
        )
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    state = (container_status(pod, container) or {}).get("state") or {}
    if "running" not in state:
        raise bad_request(f'unable to upgrade connection: container not found ("{container}")')
    return container


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
        f"[{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


async def serve_exec(request: web.Request, pod: Obj, handler: ExecHandler) -> web.StreamResponse:
    query = request.query
    command = list(query.getall("command", []))
    container = check_runnable(pod, query.get("container", ""))
    if not command:
        raise bad_request("you must specify at least 1 command")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise bad_request("Upgrade request required")
    loop = asyncio.get_running_loop()
    try:
        code, out, err = await loop.run_in_executor(None, handler, pod, container, command)
    except Exception as exc:
        status, message = getattr(exc, "status", None), getattr(exc, "message", None)
        if isinstance(status, int) and isinstance(message, str):  # the images book refused
            raise ApiError(status, message) from None
        raise
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True)
    await ws.prepare(request)
    if out and query.get("stdout", "true").lower() in ("true", "1"):
        await ws.send_bytes(bytes([STDOUT]) + out.encode())
    if err and query.get("stderr", "true").lower() in ("true", "1"):
        await ws.send_bytes(bytes([STDERR]) + err.encode())
    await ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(code, command)).encode())
    await ws.close()
    return ws
