"""The gateway authenticates to agents as itself: an OAuth client-credentials token fetched from
the agent's token endpoint (secret from the gateway's environment), never the client's key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from a2a.types.a2a_pb2 import TaskState
from a2a_fixtures import (
    a2a_gateway,
    bearer,
    create_key,
    message_params,
    resolve_card,
    rpc,
    sdk_client,
    send,
)
from aiohttp import web

from support.a2a_agents import serve_agent

TOKEN = "agent-access-token-1"
SECRET = "client-secret-for-the-gateway"


@asynccontextmanager
async def token_endpoint(grants: list[dict[str, str]]) -> AsyncIterator[str]:
    """An OAuth token endpoint on loopback that grants TOKEN to the right client secret."""

    async def token(request: web.Request) -> web.Response:
        form = dict(await request.post())
        grants.append({k: str(v) for k, v in form.items()})
        if form.get("grant_type") != "client_credentials" or form.get("client_secret") != SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 600})

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/token"
    finally:
        await runner.cleanup()


async def test_oauth_client_credentials_to_the_agent(tmp_path: Path) -> None:
    grants: list[dict[str, str]] = []
    required = {"Authorization": f"Bearer {TOKEN}"}
    async with token_endpoint(grants) as token_url, serve_agent(headers_required=required) as agent:
        oauth = {
            "token_url": token_url,
            "client_id": "smartflow",
            "client_secret_env": "AGENT_SECRET",
        }
        spec = {"name": "guarded", "url": agent.url, "auth": {"oauth": oauth}}
        async with a2a_gateway(tmp_path, [spec], {"AGENT_SECRET": SECRET}) as gw:
            key = await create_key(gw)
            async with httpx.AsyncClient(headers=bearer(key)) as http:
                card = await resolve_card(http, f"{gw.url}/a2a/guarded", key)
                client = sdk_client(http, card, streaming=True)
                for text in ("one", "two"):
                    events = await send(client, text)
                    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert len(grants) == 1  # the token is cached, not fetched per request
    assert grants[0]["client_id"] == "smartflow"
    assert all(h.get("authorization") == f"Bearer {TOKEN}" for h in agent.headers_seen)


async def test_a_header_whose_variable_is_unset_is_never_sent_empty(tmp_path: Path) -> None:
    """A registration naming a credential the gateway does not have fails with a 502 naming
    the variable; the agent is not called without it."""
    required = {"X-Agent-Token": "t0ken"}
    async with serve_agent(headers_required=required) as agent:
        headers = [{"header": "X-Agent-Token", "env": "AGENT_TOKEN_UNSET"}]
        spec = {"name": "guarded", "url": agent.url, "auth": {"headers": headers}}
        async with a2a_gateway(tmp_path, [spec], {}) as gw:
            key = await create_key(gw)
            async with httpx.AsyncClient(headers=bearer(key)) as http:
                answer = await http.post(
                    f"{gw.url}/a2a/guarded", json=rpc("SendMessage", message_params("hi"))
                )
    assert answer.status_code == 502
    assert "AGENT_TOKEN_UNSET" in answer.json()["error"]["message"]
    assert agent.headers_seen == []
