"""What every HTTP upstream shares: one pooled session, error mapping, and a streaming response.

Each provider subclass only says where a request goes (`target`) and how it authenticates
(`auth_headers`). Everything that touches the network lives here, so the rules (one session per
provider, per-request read timeouts, aiohttp errors mapped onto the gateway's error tree, no secret
in any message) are kept in one place.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from typing import ClassVar, NoReturn

import aiohttp
import orjson
from yarl import URL

from gateway.core.config import ProviderConfig
from gateway.core.errors import InvalidRequest, UpstreamTimeout, UpstreamUnavailable
from gateway.providers.base import Provider, UpstreamRequest

GET = "GET"
POST = "POST"
JSON_CONTENT_TYPE = "application/json"


def _where(url: URL) -> str:
    """host:port, never the userinfo or the query (either could carry a secret)."""
    return f"{url.host}:{url.port}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate rejected: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        return os_error.strerror or str(os_error) or type(os_error).__name__
    return str(exc) or type(exc).__name__


def _raise_mapped(
    exc: BaseException, provider: str, url: URL, timeout_s: float, *, in_body: bool = False
) -> NoReturn:
    """Turn a transport failure into UpstreamTimeout / UpstreamUnavailable.

    Timeouts are tested first: aiohttp's ServerTimeoutError is also a ClientConnectionError.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        raise UpstreamTimeout(
            f"provider {provider}: no connection to {_where(url)} within {timeout_s:g}s"
        ) from exc
    if isinstance(exc, TimeoutError):
        raise UpstreamTimeout(f"provider {provider}: no answer within {timeout_s:g}s") from exc
    what = "connection to {} broke mid-response" if in_body else "cannot reach {}"
    raise UpstreamUnavailable(
        f"provider {provider}: {what.format(_where(url))}: {_reason(exc)}"
    ) from exc


class HttpUpstreamResponse:
    """An `UpstreamResponse` over an aiohttp response, read whole or chunk by chunk.

    `headers` is aiohttp's case-insensitive view, not a copy. It still carries the upstream's
    framing headers (content-length, content-encoding, transfer-encoding): the body is already
    decompressed, so whoever forwards headers to a client must drop those.
    """

    __slots__ = (
        "_failed",
        "_provider",
        "_released",
        "_response",
        "_timeout_s",
        "headers",
        "status",
    )

    def __init__(
        self, response: aiohttp.ClientResponse, *, provider: str, timeout_s: float
    ) -> None:
        self._response = response
        self._provider = provider
        self._timeout_s = timeout_s
        self._failed = False
        self._released = False
        self.status: int = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._failed = True
            _raise_mapped(exc, self._provider, self._response.url, self._timeout_s, in_body=True)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._failed = True
            _raise_mapped(exc, self._provider, self._response.url, self._timeout_s, in_body=True)

    def release(self) -> None:
        """Pool the connection if the body was read to its end; otherwise close it.

        A connection whose body was left half-read must never go back to the pool: the next
        request on it would read the rest of this one.
        """
        if self._released:
            return
        self._released = True
        if not self._failed and self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class HttpProvider(Provider):
    """A provider reached over HTTP(S) with one pooled `aiohttp.ClientSession` for its life.

    Must be constructed inside the running event loop that will use it.
    """

    default_base_url: ClassVar[str | None] = None
    # aiohttp's default. A connection the server closes while idle leaves the pool when its FIN
    # arrives; one closed in the instant it is reused fails before headers (UpstreamUnavailable),
    # which the router retries.
    keepalive_timeout_s: ClassVar[float] = 15.0
    dns_cache_ttl_s: ClassVar[int] = 300

    def __init__(self, config: ProviderConfig) -> None:
        base_url = config.base_url or self.default_base_url
        if not base_url:
            raise ValueError(f"provider {config.name!r} of type {config.type} needs base_url")
        self.name = config.name
        self.config = config
        self.base_url = URL(base_url.rstrip("/"))
        # Lower-cased so a configured header replaces ours instead of being sent twice.
        self._extra_headers = {name.lower(): value for name, value in config.headers.items()}
        connector = aiohttp.TCPConnector(
            limit=config.max_connections,
            limit_per_host=config.max_connections,
            keepalive_timeout=self.keepalive_timeout_s,
            ttl_dns_cache=self.dns_cache_ttl_s,
        )
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}  # one per deployment timeout
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
            auto_decompress=True,
        )

    # --- what subclasses say ---------------------------------------------------------------

    @abc.abstractmethod
    def target(self, request: UpstreamRequest) -> tuple[str, URL]:
        """The HTTP method and URL this request goes to."""

    async def auth_headers(self) -> Mapping[str, str]:
        """Headers that authenticate to the upstream (may fetch or refresh a token)."""
        return {}

    def prepare_body(self, request: UpstreamRequest) -> Mapping[str, object]:
        """The body to send; overridden where an upstream needs a field dropped."""
        return request.body

    # --- the shared part -------------------------------------------------------------------

    def unsupported(self, request: UpstreamRequest) -> NoReturn:
        raise InvalidRequest(
            f"provider {self.name} ({self.kind}) does not serve {request.endpoint}"
        )

    async def send(self, request: UpstreamRequest) -> HttpUpstreamResponse:
        method, url = self.target(request)
        headers: dict[str, str] = {}
        body: bytes | None = None
        if method == POST:
            body = orjson.dumps(self.prepare_body(request))
            headers["content-type"] = JSON_CONTENT_TYPE
        headers.update(await self.auth_headers())
        headers.update(self._extra_headers)
        headers["x-request-id"] = request.request_id
        return await self._request(method, url, body, headers, request)

    async def _request(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        request: UpstreamRequest,
    ) -> HttpUpstreamResponse:
        """Send and wait for the response headers; the body is left to the caller."""
        # sock_read bounds the wait for the first byte and every gap between chunks, not the
        # whole exchange, so a long stream that keeps producing is never cut.
        timeout = self._timeouts.get(request.timeout_s)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.config.connect_timeout_s, sock_read=request.timeout_s
            )
            self._timeouts[request.timeout_s] = timeout
        try:
            response = await self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            limit = (
                self.config.connect_timeout_s
                if isinstance(exc, aiohttp.ConnectionTimeoutError)
                else request.timeout_s
            )
            _raise_mapped(exc, self.name, url, limit)
        return HttpUpstreamResponse(response, provider=self.name, timeout_s=request.timeout_s)

    async def close(self) -> None:
        await self._session.close()
