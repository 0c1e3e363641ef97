"""The A2A gateway's upstream side: an agent's card (fetched, cached briefly) and the JSON-RPC
request forwarded to the agent with the gateway's credentials for it.

The client's virtual key never leaves the gateway: the headers sent upstream are the protocol's
own (content type, A2A-Version, A2A-Extensions) plus the agent's configured auth, read from the
gateway's environment. Failures to reach the agent become `AgentUnavailable` with a message that
names the agent and what went wrong, never a secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.a2a.card import jsonrpc_url
from gateway.core.toolspecs import A2aAgentSpec, OAuthClientCredentials
from gateway.mcp.oauth import ClientCredentials
from gateway.mcp.upstream_wire import McpUnavailable

# Request headers of the A2A protocol that pass through to the agent (lower case).
FORWARDED_HEADERS = ("a2a-version", "a2a-extensions", "x-a2a-extensions", "accept")
MAX_CARD_BYTES = 1024 * 1024
CARD_TTL_S = 30.0
CARD_FAILURE_TTL_S = 2.0  # an agent that is down is not asked for its card on every request
CONNECT_TIMEOUT_S = 10.0
CARD_TIMEOUT_S = 10.0  # a card is small: an agent slower than this is as good as down


class AgentUnavailable(Exception):
    """The agent could not be reached, or answered with something that is not A2A."""

    def __init__(self, message: str, *, status: int = 503, word: str = "agent_unavailable") -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # 502: a bad answer; 503: unreachable; 504: timed out
        self.word = word


@dataclass(slots=True)
class _CachedCard:
    spec: A2aAgentSpec  # the registration the card was fetched for: a change refetches
    fetched: float
    card: dict[str, Any] | None
    error: AgentUnavailable | None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed ({exc.os_error.strerror or type(exc.os_error).__name__})"
    return type(exc).__name__


class AgentClient:
    """Cards and forwarded requests for every registered agent, over one connection pool."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        env: Mapping[str, str],
        *,
        card_ttl_s: float = CARD_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._env = env
        self._card_ttl_s = card_ttl_s
        self._clock = clock
        self._cards: dict[str, _CachedCard] = {}
        self._tokens: dict[str, tuple[OAuthClientCredentials, ClientCredentials]] = {}

    async def auth_headers(self, spec: A2aAgentSpec) -> dict[str, str]:
        """The agent's credentials: headers whose values come from the environment, and an OAuth
        bearer token (client credentials grant) when the registration names one."""
        headers: dict[str, str] = {}
        for item in spec.auth.headers:
            value = self._env.get(item.env)
            if not value:  # never call the agent without the credentials it was registered with
                raise AgentUnavailable(
                    f"agent {spec.name!r}: environment variable {item.env} (header "
                    f"{item.header}) is not set in the gateway's environment",
                    status=502,
                    word="agent_auth",
                )
            headers[item.header] = value
        if spec.auth.oauth is not None:
            headers["Authorization"] = f"Bearer {await self._token(spec, spec.auth.oauth)}"
        return headers

    async def _token(self, spec: A2aAgentSpec, oauth: OAuthClientCredentials) -> str:
        held = self._tokens.get(spec.name)
        if held is None or held[0] != oauth:
            source = ClientCredentials(
                oauth,
                server=spec.name,
                label="A2A agent",
                session=self._session,
                env=self._env,
                timeout_s=min(spec.timeout_s, 30.0),
            )
            held = self._tokens[spec.name] = (oauth, source)
        try:
            return await held[1].token()
        except McpUnavailable as exc:
            raise AgentUnavailable(str(exc), status=502, word="agent_auth") from None

    def refused(self, spec: A2aAgentSpec) -> None:
        """The agent answered 401: its OAuth token (if any) is fetched again next time."""
        held = self._tokens.get(spec.name)
        if held is not None and held[1].cached is not None:
            held[1].invalidate(held[1].cached)

    async def card(self, spec: A2aAgentSpec) -> dict[str, Any]:
        """The agent's own card (cached for a short TTL); raises AgentUnavailable."""
        now = self._clock()
        cached = self._cards.get(spec.name)
        if cached is not None and cached.spec == spec:
            ttl = self._card_ttl_s if cached.card is not None else CARD_FAILURE_TTL_S
            if now - cached.fetched < ttl:
                if cached.card is None:
                    assert cached.error is not None
                    raise cached.error
                return cached.card
        try:
            card = await self._fetch_card(spec)
        except AgentUnavailable as exc:
            self._cards[spec.name] = _CachedCard(spec, now, None, exc)
            raise
        self._cards[spec.name] = _CachedCard(spec, now, card, None)
        return card

    def forget(self, name: str) -> None:
        """Drop a cached card (the agent failed: its next card is fetched afresh)."""
        self._cards.pop(name, None)

    async def _fetch_card(self, spec: A2aAgentSpec) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=min(spec.timeout_s, CARD_TIMEOUT_S))
        headers = {"Accept": "application/json", **await self.auth_headers(spec)}
        try:
            async with self._session.get(spec.card_url(), headers=headers, timeout=timeout) as resp:
                raw = await resp.content.read(MAX_CARD_BYTES + 1)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise AgentUnavailable(
                f"agent {spec.name!r} is unreachable: "
                f"its card could not be fetched: {_describe(exc)}"
            ) from None
        if status != 200:
            raise AgentUnavailable(
                f"agent {spec.name!r} answered {status} for its card",
                status=502,
                word="agent_bad_card",
            )
        try:
            card = orjson.loads(raw) if len(raw) <= MAX_CARD_BYTES else None
        except orjson.JSONDecodeError:
            card = None
        if not isinstance(card, dict):
            raise AgentUnavailable(
                f"agent {spec.name!r} served a card that is not a JSON object",
                status=502,
                word="agent_bad_card",
            )
        return card

    async def endpoint(self, spec: A2aAgentSpec) -> str:
        """Where to send JSON-RPC: the card's JSON-RPC interface, else the registered URL (an
        agent whose card cannot be fetched is still tried there: the request tells)."""
        try:
            card = await self.card(spec)
        except AgentUnavailable:
            return spec.url
        return jsonrpc_url(card) or spec.url

    async def send(
        self, spec: A2aAgentSpec, body: bytes, client_headers: Mapping[str, str]
    ) -> aiohttp.ClientResponse:
        """POST the request to the agent; the caller reads (or streams) and releases the answer.
        Raises AgentUnavailable when the agent cannot be reached or times out."""
        url = await self.endpoint(spec)
        headers = {"Content-Type": "application/json"}
        for name in FORWARDED_HEADERS:
            value = client_headers.get(name)
            if value:
                headers[name] = value
        headers.setdefault("accept", "application/json, text/event-stream")
        headers.update(await self.auth_headers(spec))
        timeout = aiohttp.ClientTimeout(
            total=None, connect=min(CONNECT_TIMEOUT_S, spec.timeout_s), sock_read=spec.timeout_s
        )
        try:
            return await self._session.post(url, data=body, headers=headers, timeout=timeout)
        except TimeoutError:
            self.forget(spec.name)
            raise AgentUnavailable(
                f"agent {spec.name!r} did not answer within {spec.timeout_s:g}s",
                status=504,
                word="agent_timeout",
            ) from None
        except aiohttp.ClientError as exc:
            self.forget(spec.name)
            raise AgentUnavailable(
                f"agent {spec.name!r} is unreachable: {_describe(exc)}"
            ) from None
