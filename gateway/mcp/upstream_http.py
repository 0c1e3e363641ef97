"""Streamable HTTP transport for upstream MCP servers, natively over aiohttp.

Every JSON-RPC request is one POST accepting `application/json` and `text/event-stream`; the
answer is the JSON body or, in a stream, the first response whose id matches ours
(notifications and server requests on the stream are skipped: the gateway advertises no client
capabilities). The shared aiohttp session keeps connections alive across calls. A handshake-era
session id is kept and sent back; a 404 on it means the server forgot it (restart, expiry).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from gateway.core.mcp_protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PROTOCOL_VERSION_HEADER,
    SESSION_HEADER,
)
from gateway.core.toolspecs import McpServerSpec
from gateway.mcp.oauth import ClientCredentials
from gateway.mcp.upstream_base import SessionLost, UpstreamBase
from gateway.mcp.upstream_wire import McpUnavailable, SseDecoder, is_response

log = logging.getLogger("smartflow.mcp")

_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class HttpUpstream(UpstreamBase):
    """An upstream MCP server at a Streamable HTTP endpoint."""

    def __init__(
        self, spec: McpServerSpec, *, session: aiohttp.ClientSession, env: Mapping[str, str]
    ) -> None:
        super().__init__(spec.name, spec.timeout_s)
        assert spec.url is not None
        self._url = spec.url
        self._http = session
        self._env = env
        self._auth = spec.auth
        self._timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
        self._base: dict[str, str] = dict(_ACCEPT)
        self._session_id: str | None = None
        oauth = spec.auth.oauth
        self._oauth = (
            ClientCredentials(
                oauth, server=spec.name, session=session, env=env, timeout_s=self.timeout_s
            )
            if oauth is not None
            else None
        )

    async def _connect(self) -> None:
        """A fresh negotiation: no session yet; static auth headers read from the environment."""
        self._session_id = None
        base = dict(_ACCEPT)
        for item in self._auth.headers:
            value = self._env.get(item.env)
            if not value:
                raise McpUnavailable(
                    f"MCP server {self.name!r}: environment variable {item.env} "
                    f"(for the {item.header} header) is not set"
                )
            base[item.header] = value
        self._base = base

    async def _roundtrip(
        self, request_id: int, method: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, Any]:
        for attempt in range(2):
            sent = {**self._base, **headers}
            session_id = None if method == "initialize" else self._session_id
            if session_id:
                sent[SESSION_HEADER] = session_id
            token = await self._oauth.token() if self._oauth is not None else None
            if token is not None:
                sent["Authorization"] = f"Bearer {token}"
            try:
                async with self._http.post(
                    self._url, data=body, headers=sent, timeout=self._timeout, allow_redirects=False
                ) as resp:
                    if resp.status == 401 and token is not None and attempt == 0:
                        assert self._oauth is not None
                        self._oauth.invalidate(token)  # expired or revoked early: fetch once more
                        continue
                    if method == "initialize" and resp.status < 300:
                        self._session_id = resp.headers.get(SESSION_HEADER)
                    return await self._answer(resp, request_id, session_id is not None)
            except TimeoutError:
                raise self._down(f"no answer within {self.timeout_s:g}s") from None
            except aiohttp.ClientConnectionError as exc:
                raise self._down(_connection_problem(exc)) from None
            except aiohttp.ClientError as exc:
                raise self._down(f"HTTP client error ({type(exc).__name__})") from None
        raise AssertionError("unreachable")  # pragma: no cover - the second 401 is answered

    async def _notify(self, method: str, body: bytes, headers: dict[str, str]) -> None:
        sent = {**self._base, **headers}
        if self._session_id:
            sent[SESSION_HEADER] = self._session_id
        if self._oauth is not None:
            sent["Authorization"] = f"Bearer {await self._oauth.token()}"
        try:
            async with self._http.post(
                self._url, data=body, headers=sent, timeout=self._timeout, allow_redirects=False
            ) as resp:
                if resp.status >= 400:
                    raise self._down(f"rejected {method} (HTTP {resp.status})")
        except TimeoutError:
            raise self._down(f"no answer within {self.timeout_s:g}s") from None
        except aiohttp.ClientError as exc:
            raise self._down(_connection_problem(exc)) from None

    async def _disconnect(self) -> None:
        """End a handshake-era session politely (DELETE); the server may not support it."""
        session_id, self._session_id = self._session_id, None
        if session_id is None:
            return
        sent = {**self._base, SESSION_HEADER: session_id}
        if self.protocol_version:
            sent[PROTOCOL_VERSION_HEADER] = self.protocol_version
        if self._oauth is not None and self._oauth.cached is not None:
            sent["Authorization"] = f"Bearer {self._oauth.cached}"
        try:
            async with self._http.delete(
                self._url,
                headers=sent,
                timeout=aiohttp.ClientTimeout(total=min(self.timeout_s, 2.0)),
                allow_redirects=False,
            ):
                pass
        except (TimeoutError, aiohttp.ClientError):
            log.debug("MCP server %r: session DELETE failed", self.name)

    async def _answer(
        self, resp: aiohttp.ClientResponse, request_id: int, had_session: bool
    ) -> dict[str, Any]:
        status = resp.status
        if status == 404 and had_session:
            raise SessionLost
        if 300 <= status < 400:
            raise self._down(f"redirected (HTTP {status}); register the final URL instead")
        if status >= 500:
            raise self._down(f"answered HTTP {status}")
        if status in (401, 403):
            raise self._down(f"refused the gateway's credentials (HTTP {status})")
        if status == 202:
            return _error(INVALID_REQUEST, "server answered a request with 202 Accepted")
        content_type = resp.content_type
        if content_type == "text/event-stream" and status < 400:
            return await self._from_stream(resp, request_id)
        if content_type == "application/json":
            try:
                message = orjson.loads(await resp.read())
            except orjson.JSONDecodeError:
                message = None
            found = _find(message, request_id)
            if found is not None and (status < 400 or "error" in found):
                return found
            if status < 400:
                raise self._down("sent a JSON body that is not a JSON-RPC response")
        if status >= 400:  # an HTTP-level rejection without a JSON-RPC body, as the SDK maps it
            code = METHOD_NOT_FOUND if status == 404 else INTERNAL_ERROR
            return _error(code, f"HTTP {status}")
        raise self._down(f"answered with content type {content_type!r}")

    async def _from_stream(self, resp: aiohttp.ClientResponse, request_id: int) -> dict[str, Any]:
        decoder = SseDecoder()
        try:
            async for chunk in resp.content.iter_any():
                for data in decoder.feed(chunk):
                    try:
                        message = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        raise self._down("sent an event that is not JSON") from None
                    if is_response(message, request_id):
                        return dict(message)
        except ValueError as exc:  # an oversized event
            raise self._down(str(exc)) from None
        raise self._down("ended the event stream without a response")

    def _down(self, why: str) -> McpUnavailable:
        return McpUnavailable(f"MCP server {self.name!r} unavailable: {why}")


def _find(message: Any, request_id: int) -> dict[str, Any] | None:
    if isinstance(message, list):  # a batch: take ours
        return next((m for m in message if is_response(m, request_id)), None)
    return message if is_response(message, request_id) else None


def _error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


def _connection_problem(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return (
            "connection refused"
            if isinstance(exc.os_error, ConnectionRefusedError)
            else (f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})")
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "connection closed before the answer was complete"
    return f"connection failed ({type(exc).__name__})"
