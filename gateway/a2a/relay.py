"""The agent's answer relayed to the client: JSON as it came, an SSE stream chunk by chunk as it
arrives (never buffered), each looked at on the way for the task id and for errors.

An agent that answers with something that is not A2A (its auth refused, a 5xx, HTML) becomes a
JSON-RPC error from the gateway with status 502 and a message naming the agent: the client's key
was fine, so it must not see the agent's 401 as its own.
"""

from __future__ import annotations

import contextlib
import logging

import aiohttp
import orjson
from aiohttp import web

from gateway.a2a import jsonrpc
from gateway.a2a.call import A2aCall
from gateway.a2a.jsonrpc import RpcError, RpcRequest
from gateway.core.sse import SSEEvent, SSEParser

log = logging.getLogger("smartflow.a2a")

MAX_ANSWER_BYTES = 64 * 1024 * 1024
REFUSALS = (401, 403, 404, 405, 407)  # the agent refused the gateway, not the client


def is_stream(response: aiohttp.ClientResponse) -> bool:
    """An SSE answer to relay as a stream (an error status is read whole, whatever its type)."""
    media = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return response.status == 200 and media == "text/event-stream"


def _bad_status(agent: str, status: int) -> RpcError:
    if status in REFUSALS:
        what = f"refused the gateway's request (HTTP {status}): check its URL and credentials"
    else:
        what = f"answered HTTP {status}"
    return RpcError(502, jsonrpc.AGENT_BAD_RESPONSE, f"agent {agent!r} {what}", word="agent_error")


def _observe_answer(call: A2aCall, rpc: RpcRequest, answer: object) -> None:
    """Task id and outcome of one JSON-RPC answer (whole, or one streamed event)."""
    if call.task_id is None:
        call.task_id = jsonrpc.result_task_id(answer) or rpc.task_id()
    error = jsonrpc.answer_error(answer)
    if error is not None:
        call.error_code = call.error_code or "agent_error"
    elif rpc.starts_task and isinstance(answer, dict) and "result" in answer:
        call.charged = True


async def relay_whole(
    call: A2aCall, rpc: RpcRequest, upstream: aiohttp.ClientResponse, headers: dict[str, str]
) -> web.Response:
    """Read the JSON answer (the upstream time ends here) and answer with it unchanged."""
    agent = call.agent or "?"
    try:
        if upstream.status in REFUSALS or upstream.status >= 500:
            raise _bad_status(agent, upstream.status)
        raw = await upstream.content.read(MAX_ANSWER_BYTES + 1)
    except TimeoutError:
        raise RpcError(
            504,
            jsonrpc.AGENT_UNAVAILABLE,
            f"agent {agent!r} did not finish its answer in time",
            word="agent_timeout",
        ) from None
    except aiohttp.ClientError:
        raise RpcError(
            502,
            jsonrpc.AGENT_BAD_RESPONSE,
            f"agent {agent!r} broke off its answer",
            word="agent_error",
        ) from None
    finally:
        upstream.release()
        call.upstream_done()
    try:
        answer = orjson.loads(raw) if len(raw) <= MAX_ANSWER_BYTES else None
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise RpcError(
            502,
            jsonrpc.AGENT_BAD_RESPONSE,
            f"agent {agent!r} answered HTTP {upstream.status} without a JSON-RPC response",
            word="agent_error",
        )
    _observe_answer(call, rpc, answer)
    call.status = upstream.status
    headers["x-smartflow-overhead-ms"] = f"{call.overhead_ms():.3f}"
    return web.Response(
        body=raw, status=upstream.status, content_type="application/json", headers=headers
    )


class _StreamWatcher:
    """Parses the relayed bytes on the side: the first task id, error events, results."""

    def __init__(self, call: A2aCall, rpc: RpcRequest) -> None:
        self._call = call
        self._rpc = rpc
        self._parser = SSEParser()

    def feed(self, chunk: bytes) -> None:
        for event in self._parser.feed(chunk):
            self._event(event)

    def close(self) -> None:
        for event in self._parser.flush():
            self._event(event)

    def _event(self, event: SSEEvent) -> None:
        if not event.data:
            return
        try:
            answer = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return
        if event.event == "error" and jsonrpc.answer_error(answer) is None:
            self._call.error_code = self._call.error_code or "agent_error"
        _observe_answer(self._call, self._rpc, answer)


def _error_event(request_id: object, code: int, message: str) -> bytes:
    return b"event: error\ndata: " + jsonrpc.error_body(request_id, code, message) + b"\n\n"


async def relay_stream(
    request: web.Request,
    call: A2aCall,
    rpc: RpcRequest,
    upstream: aiohttp.ClientResponse,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Relay the agent's event stream as it comes. A failure after the first byte can only be
    told in the stream: an `error` event carrying a JSON-RPC error, as the SDK sends its own."""
    agent = call.agent or "?"
    call.stream = True
    response = web.StreamResponse(status=upstream.status, headers=headers)
    response.content_type = "text/event-stream"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    watcher = _StreamWatcher(call, rpc)
    call.status = upstream.status
    try:
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
            watcher.feed(chunk)
        watcher.close()
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        call.error_code = "client_disconnected"
        upstream.close()  # stop the agent's stream: nobody reads it
        return response
    except TimeoutError:
        call.fail(504, "agent_timeout")
        await _try_write(
            response,
            _error_event(
                rpc.id, jsonrpc.AGENT_UNAVAILABLE, f"agent {agent!r} went silent: stream timed out"
            ),
        )
    except aiohttp.ClientError:
        call.fail(502, "agent_error")
        await _try_write(
            response,
            _error_event(
                rpc.id, jsonrpc.AGENT_BAD_RESPONSE, f"agent {agent!r} broke off its stream"
            ),
        )
    finally:
        upstream.release()
        call.upstream_done()
    await _try_write_eof(response)
    return response


async def _try_write(response: web.StreamResponse, data: bytes) -> None:
    with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
        await response.write(data)


async def _try_write_eof(response: web.StreamResponse) -> None:
    with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
        await response.write_eof()
