"""A bare aiohttp reverse proxy: the cost of one Python proxy hop, the yardstick for the gateway.

It forwards method, path, query, body and end-to-end headers to one upstream over one pooled
client session, and streams the answer back chunk by chunk. It never parses a body, so whatever
the gateway costs beyond this is the gateway's own work.

    python -m loadtest.passthrough --upstream http://127.0.0.1:8000 --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Iterable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["create_app", "main"]

# RFC 9110 7.6.1 hop-by-hop headers, plus those the client library recomputes for the new hop.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_REQUEST_SKIP = _HOP_BY_HOP | {"host", "content-length"}
_RESPONSE_SKIP = _HOP_BY_HOP | {"content-length"}

_UPSTREAM = web.AppKey("upstream", str)
_SESSION = web.AppKey("session", aiohttp.ClientSession)


class _Relay(web.StreamResponse):
    """Holds the headers back until the first body chunk, so that a small answer leaves in one
    write, as a `web.Response` (and the gateway's) does; a plain StreamResponse sends them alone."""

    _send_headers_immediately = False


def _end_to_end(headers: CIMultiDictProxy[str], skip: frozenset[str]) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    named = {h.strip().lower() for h in headers.get("connection", "").split(",")}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in skip and lowered not in named:
            out.add(name, value)
    return out


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    # auto_decompress off: bytes pass through as the upstream encoded them.
    session = aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
    )
    app[_SESSION] = session
    try:
        yield
    finally:
        await session.close()


async def _forward(request: web.Request) -> web.StreamResponse:
    session = request.app[_SESSION]
    # raw_path keeps the client's own encoding of path and query; the origin has no path.
    target = URL(request.app[_UPSTREAM] + request.raw_path, encoded=True)
    body = await request.read() if request.body_exists else None
    try:
        upstream = await session.request(
            request.method,
            target,
            headers=_end_to_end(request.headers, _REQUEST_SKIP),
            data=body,
            allow_redirects=False,
            auto_decompress=False,
        )
    except (TimeoutError, aiohttp.ClientConnectionError) as exc:
        return web.Response(status=502, text=f"upstream unreachable: {exc}\n")
    async with upstream:
        response = _Relay(
            status=upstream.status,
            reason=upstream.reason,
            headers=_end_to_end(upstream.headers, _RESPONSE_SKIP),
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
    return response


def create_app(upstream_url: str) -> web.Application:
    """An app that forwards every request to `upstream_url` (scheme://host:port, no path)."""
    upstream = URL(upstream_url)
    if not upstream.is_absolute() or upstream.path not in ("", "/"):
        raise ValueError(f"upstream must be scheme://host[:port] with no path, got {upstream_url}")
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_UPSTREAM] = str(upstream.origin())
    app.cleanup_ctx.append(_session_ctx)
    app.router.add_route("*", "/{tail:.*}", _forward)
    return app


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.passthrough",
        description="A bare reverse proxy in front of one upstream (the benchmark baseline).",
    )
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(None if argv is None else list(argv))
    web.run_app(
        create_app(args.upstream),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=1.0,
        loop=_new_loop(),
    )


if __name__ == "__main__":
    main()
