"""OAuth 2.0 client credentials for upstreams (RFC 6749 §4.4): the gateway authenticates as
itself, with a client id and a secret read from its environment, and presents the access token
as a bearer token. The token is cached until shortly before it expires and fetched again when
the upstream rejects it (the caller invalidates it on a 401). Only the token URL ever sees the
secret; redirects are not followed, so it cannot be carried elsewhere, and errors name the
server and the variable, never a value.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import aiohttp
import orjson

from gateway.core.toolspecs import OAuthClientCredentials
from gateway.mcp.upstream_wire import McpUnavailable

log = logging.getLogger("smartflow.mcp")

EXPIRY_MARGIN_S = 30.0  # refresh this long before expiry (a tenth of the lifetime if shorter)


class ClientCredentials:
    """A cached access token for one upstream."""

    def __init__(
        self,
        spec: OAuthClientCredentials,
        *,
        server: str,
        session: aiohttp.ClientSession,
        env: Mapping[str, str],
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        label: str = "MCP server",
    ) -> None:
        self._spec = spec
        self._server = server
        self._label = label  # how errors name the upstream: "MCP server", "A2A agent"
        self._session = session
        self._env = env
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock
        self._token: str | None = None
        self._expires_at = float("inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were requested (observability, tests)

    async def token(self) -> str:
        """The current access token, fetching a new one when none is cached or it expires."""
        token = self._token
        if token is not None and self._clock() < self._expires_at:
            return token
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    @property
    def cached(self) -> str | None:
        """The token held now, without fetching (for best-effort requests such as a DELETE)."""
        return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the upstream refused it); a newer one already cached is kept."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> None:
        spec = self._spec
        secret = self._env.get(spec.client_secret_env)
        if not secret:
            raise McpUnavailable(
                f"{self._label} {self._server!r}: environment variable {spec.client_secret_env} "
                "(OAuth client secret) is not set"
            )
        form = {
            "grant_type": "client_credentials",
            "client_id": spec.client_id,
            "client_secret": secret,
        }
        if spec.scope:
            form["scope"] = spec.scope
        if spec.audience:
            form["audience"] = spec.audience
        self.fetches += 1
        started = self._clock()
        try:
            async with self._session.post(
                spec.token_url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                status = resp.status
        except TimeoutError:
            raise self._failed("timed out") from None
        except aiohttp.ClientError as exc:
            raise self._failed(f"cannot reach the token endpoint ({type(exc).__name__})") from None
        self._accept(status, body, started)

    def _accept(self, status: int, body: bytes, started: float) -> None:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise self._failed(f"HTTP {status}, not a JSON object")
        if status != 200:
            # the OAuth error code (invalid_client, invalid_scope...) is safe to show
            error = answer.get("error")
            code = error if isinstance(error, str) and error.isascii() else "error"
            raise self._failed(f"HTTP {status} {code[:64]}")
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise self._failed("no access_token in the answer")
        expires_in = answer.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            margin = min(EXPIRY_MARGIN_S, expires_in / 10)
            self._expires_at = started + expires_in - margin
        else:
            self._expires_at = float("inf")  # no lifetime given: used until refused
        self._token = token
        log.debug("%s %r: OAuth access token obtained", self._label, self._server)

    def _failed(self, why: str) -> McpUnavailable:
        return McpUnavailable(f"{self._label} {self._server!r}: OAuth token request failed: {why}")
