"""Authenticating to upstream MCP servers: static headers read from the gateway's environment and
OAuth client credentials against a token endpoint on loopback. Secrets go to their server only and
never appear in an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from gateway.core.toolspecs import (
    EnvHeader,
    McpServerSpec,
    OAuthClientCredentials,
    UpstreamAuth,
)
from gateway.mcp.oauth import ClientCredentials
from gateway.mcp.upstream import McpUnavailable, McpUpstream, open_upstream

from support.mcp_servers import demo_server, serve_mcp

SECRET = "s3cret-value-never-logged"
CLIENT_SECRET = "client-secret-never-logged"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def with_auth(
    http: aiohttp.ClientSession, url: str, auth: UpstreamAuth, env: dict[str, str]
) -> McpUpstream:
    spec = McpServerSpec(name="secured", url=url, auth=auth, timeout_s=10)
    return open_upstream(spec, session=http, env=env, allow_stdio=False)


API_KEY = UpstreamAuth(headers=(EnvHeader(header="X-Api-Key", env="DEMO_API_KEY"),))


async def test_static_header_from_the_environment(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server(), headers_required={"X-Api-Key": SECRET}) as served:
        up = with_auth(http, served.url, API_KEY, {"DEMO_API_KEY": SECRET})
        result = await up.call_tool("add", {"a": 1, "b": 2})
        assert result["structuredContent"] == {"result": 3}
        assert all(h["x-api-key"] == SECRET for h in served.headers_seen)
        assert served.calls["add"] == 1


@pytest.mark.parametrize("legacy", [False, True])
async def test_the_server_refuses_without_the_header(
    http: aiohttp.ClientSession, legacy: bool
) -> None:
    required = {"X-Api-Key": SECRET}
    async with serve_mcp(demo_server(), headers_required=required, legacy_only=legacy) as served:
        up = with_auth(http, served.url, API_KEY, {"DEMO_API_KEY": "wrong-value"})
        with pytest.raises(McpUnavailable) as caught:
            await up.list_tools()
        assert "refused the gateway's credentials (HTTP 401)" in str(caught.value)
        assert "wrong-value" not in str(caught.value)
        assert served.calls == {}


async def test_a_missing_variable_is_named_not_valued(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server()) as served:
        up = with_auth(http, served.url, API_KEY, {"OTHER": SECRET})
        with pytest.raises(McpUnavailable) as caught:
            await up.list_tools()
        assert str(caught.value) == (
            "MCP server 'secured': environment variable DEMO_API_KEY (for the X-Api-Key header) "
            "is not set"
        )
        assert served.headers_seen == []  # nothing was sent


async def test_headers_are_not_carried_across_a_redirect(http: aiohttp.ClientSession) -> None:
    async with serve_mcp(demo_server()) as elsewhere:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(elsewhere.url)

        app = web.Application()
        app.router.add_post("/mcp", redirect)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/mcp"
            up = with_auth(http, url, API_KEY, {"DEMO_API_KEY": SECRET})
            with pytest.raises(McpUnavailable, match="redirected"):
                await up.list_tools()
        finally:
            await runner.cleanup()
        assert elsewhere.headers_seen == []


@dataclass
class TokenEndpoint:
    """An OAuth token endpoint on loopback: checks the client credentials grant, issues tok-1,
    tok-2... with the given lifetime, and records every form it received."""

    url: str = ""
    lifetime: float | None = 3600
    forms: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.forms.append(form)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (form.get("client_id"), form.get("client_secret")) != ("gateway", CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        answer: dict[str, object] = {
            "access_token": f"tok-{len(self.forms)}",
            "token_type": "Bearer",
        }
        if self.lifetime is not None:
            answer["expires_in"] = self.lifetime
        return web.json_response(answer)


@pytest.fixture
async def token_endpoint() -> AsyncIterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/oauth/token", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    endpoint.url = f"http://127.0.0.1:{runner.addresses[0][1]}/oauth/token"
    yield endpoint
    await runner.cleanup()


def oauth(endpoint: TokenEndpoint, **extra: str) -> OAuthClientCredentials:
    return OAuthClientCredentials(
        token_url=endpoint.url, client_id="gateway", client_secret_env="DEMO_CLIENT_SECRET", **extra
    )


async def test_oauth_token_is_fetched_once_and_reused(
    http: aiohttp.ClientSession, token_endpoint: TokenEndpoint
) -> None:
    auth = UpstreamAuth(oauth=oauth(token_endpoint, scope="tools:call", audience="mcp-demo"))
    required = {"Authorization": "Bearer tok-1"}
    async with serve_mcp(demo_server(), headers_required=required) as served:
        up = with_auth(http, served.url, auth, {"DEMO_CLIENT_SECRET": CLIENT_SECRET})
        await up.list_tools()
        for n in range(3):
            assert (await up.call_tool("add", {"a": n, "b": 1}))["structuredContent"] == {
                "result": n + 1
            }
        assert token_endpoint.forms == [
            {
                "grant_type": "client_credentials",
                "client_id": "gateway",
                "client_secret": CLIENT_SECRET,
                "scope": "tools:call",
                "audience": "mcp-demo",
            }
        ]
        # the secret went to the token endpoint only, the token to the MCP server only
        assert all(CLIENT_SECRET not in str(h) for h in served.headers_seen)
        assert all("authorization" not in h for h in token_endpoint.headers)


@pytest.mark.parametrize("legacy", [False, True])
async def test_a_refused_token_is_refreshed_once(
    http: aiohttp.ClientSession, token_endpoint: TokenEndpoint, legacy: bool
) -> None:
    auth = UpstreamAuth(oauth=oauth(token_endpoint))
    required = {"Authorization": "Bearer tok-1"}
    async with serve_mcp(demo_server(), headers_required=required, legacy_only=legacy) as served:
        up = with_auth(http, served.url, auth, {"DEMO_CLIENT_SECRET": CLIENT_SECRET})
        await up.call_tool("echo", {"text": "one"})
        required["Authorization"] = "Bearer tok-2"  # the server revokes tok-1 before it expires
        assert (await up.call_tool("echo", {"text": "two"}))["structuredContent"] == {
            "result": "two"
        }
        assert len(token_endpoint.forms) == 2
        required["Authorization"] = "Bearer never-issued"  # a new token does not help: give up
        with pytest.raises(McpUnavailable, match=r"credentials \(HTTP 401\)"):
            await up.call_tool("echo", {"text": "three"})
        assert len(token_endpoint.forms) == 3
        assert served.calls["echo"] == 2


async def test_a_bad_client_secret_is_reported_without_it(
    http: aiohttp.ClientSession, token_endpoint: TokenEndpoint
) -> None:
    auth = UpstreamAuth(oauth=oauth(token_endpoint))
    async with serve_mcp(demo_server()) as served:
        up = with_auth(http, served.url, auth, {"DEMO_CLIENT_SECRET": "not-the-secret"})
        with pytest.raises(McpUnavailable) as caught:
            await up.list_tools()
        assert str(caught.value) == (
            "MCP server 'secured': OAuth token request failed: HTTP 401 invalid_client"
        )
        missing = with_auth(http, served.url, auth, {})
        with pytest.raises(McpUnavailable, match="DEMO_CLIENT_SECRET \\(OAuth client secret\\)"):
            await missing.list_tools()
        assert served.headers_seen == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_token_is_cached_until_shortly_before_it_expires(
    http: aiohttp.ClientSession, token_endpoint: TokenEndpoint
) -> None:
    token_endpoint.lifetime = 100
    clock = Clock()
    source = ClientCredentials(
        oauth(token_endpoint),
        server="secured",
        session=http,
        env={"DEMO_CLIENT_SECRET": CLIENT_SECRET},
        timeout_s=5,
        clock=clock,
    )
    assert await source.token() == "tok-1"
    clock.now += 89  # 100 s lifetime, refreshed 10 s early
    assert await source.token() == "tok-1"
    clock.now += 2
    assert await source.token() == "tok-2"
    source.invalidate("tok-1")  # an older token refused late: the newer one stays
    assert await source.token() == "tok-2"
    source.invalidate("tok-2")
    assert await source.token() == "tok-3"
    assert source.fetches == 3


async def test_a_token_without_lifetime_is_kept_until_refused(
    http: aiohttp.ClientSession, token_endpoint: TokenEndpoint
) -> None:
    token_endpoint.lifetime = None
    clock = Clock()
    source = ClientCredentials(
        oauth(token_endpoint),
        server="secured",
        session=http,
        env={"DEMO_CLIENT_SECRET": CLIENT_SECRET},
        timeout_s=5,
        clock=clock,
    )
    assert await source.token() == "tok-1"
    clock.now += 1e9
    assert await source.token() == "tok-1"
