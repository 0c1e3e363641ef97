"""Keys' limits and budgets count A2A tasks; an agent that is down or refuses the gateway is a
clear JSON-RPC error; every request leaves one audit record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from a2a.client import A2AClientError
from a2a_fixtures import (
    a2a_gateway,
    audit_rows,
    bearer,
    create_key,
    message_params,
    resolve_card,
    rpc,
    sdk_client,
    send,
)

from support.a2a_agents import serve_agent


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


async def post(
    session: aiohttp.ClientSession,
    url: str,
    key: str,
    method: str = "SendMessage",
    request_id: int = 1,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    params = message_params("x", f"m-{request_id}") if method == "SendMessage" else {"id": "t"}
    headers = {**bearer(key), "A2A-Version": "1.0"}
    async with session.post(url, json=rpc(method, params, request_id), headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_rate_limits_count_a2a_requests(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw, limits={"rpm": 2})
        async with aiohttp.ClientSession() as session:
            url = f"{gw.url}/a2a/echo"
            assert (await post(session, url, key, request_id=1))[0] == 200
            assert (await post(session, url, key, request_id=2))[0] == 200
            status, headers, body = await post(session, url, key, request_id=3)
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert body["id"] == 3 and body["error"]["code"] == -32052
        assert "rate limit" in body["error"]["message"]
        assert len(agent.tasks) == 2
        rows = await audit_rows(gw, 3)
        assert sorted(r["status"] for r in rows) == [200, 200, 429]


async def test_budgets_count_tasks_at_the_agents_price(tmp_path: Path) -> None:
    agents: list[dict[str, Any]] = [{"name": "echo", "url": "", "price_per_task_usd": 0.1}]
    async with serve_agent() as agent:
        agents[0]["url"] = agent.url
        async with a2a_gateway(tmp_path, agents) as gw:
            key = await create_key(gw, budget={"max_usd": 0.25, "period": "daily"})
            async with httpx.AsyncClient(headers=bearer(key)) as http:
                card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
                client = sdk_client(http, card, streaming=True)
                await send(client, "one")
                await send(client, "two")
                with pytest.raises(A2AClientError, match="429"):
                    await send(client, "three")
            async with aiohttp.ClientSession() as session:
                status, _, body = await post(session, f"{gw.url}/a2a/echo", key, request_id=9)
            assert status == 429 and "budget" in str(body["error"])
            rows = await audit_rows(gw, 4)
        assert len(agent.tasks) == 2
        charged = sorted(r["cost_usd"] for r in rows)
        assert charged == pytest.approx([0.0, 0.0, 0.1, 0.1])
        assert {r["error_code"] for r in rows if r["status"] == 429} == {"budget_exceeded"}


async def test_an_agent_that_is_down(tmp_path: Path) -> None:
    agents: list[dict[str, Any]] = [{"name": "down", "url": closed_port_url(), "timeout_s": 5.0}]
    async with serve_agent() as agent:
        agents.append({"name": "echo", "url": agent.url})
        async with a2a_gateway(tmp_path, agents) as gw:
            key = await create_key(gw, budget={"max_usd": 1.0})
            async with aiohttp.ClientSession() as session:
                status, _, body = await post(session, f"{gw.url}/a2a/down", key)
                assert status == 503
                assert body["error"]["code"] == -32053
                assert "agent 'down' is unreachable" in body["error"]["message"]
                async with session.get(
                    f"{gw.url}/a2a/down/.well-known/agent-card.json", headers=bearer(key)
                ) as resp:
                    assert resp.status == 503
                    assert "agent 'down' is unreachable" in (await resp.json())["error"]["message"]
                # the other agent keeps working
                assert (await post(session, f"{gw.url}/a2a/echo", key, request_id=2))[0] == 200
            rows = await audit_rows(gw, 2)
        down = [r for r in rows if r["provider"] == "down"]
        assert [(r["status"], r["error_code"], r["cost_usd"]) for r in down] == [
            (503, "agent_unavailable", 0.0)
        ]


async def test_an_agent_that_goes_down_after_discovery(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        async with httpx.AsyncClient(headers=bearer(key)) as http:
            card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
            client = sdk_client(http, card, streaming=True)
            await send(client, "before")
            await agent.stop()
            with pytest.raises(A2AClientError, match="503"):
                await send(client, "after")
        rows = await audit_rows(gw, 2)
        assert sorted(r["status"] for r in rows) == [200, 503]


async def test_an_agent_that_refuses_the_gateways_credentials(tmp_path: Path) -> None:
    async with serve_agent(headers_required={"X-Agent-Key": "right"}) as agent:
        spec: dict[str, Any] = {
            "name": "secure",
            "url": agent.url,
            "auth": {"headers": [{"header": "X-Agent-Key", "env": "SECURE_KEY"}]},
        }
        async with a2a_gateway(tmp_path, [spec], {"SECURE_KEY": "wrong"}) as gw:
            key = await create_key(gw)
            async with aiohttp.ClientSession() as session:
                status, _, body = await post(session, f"{gw.url}/a2a/secure", key)
            assert status == 502
            assert "refused the gateway's request (HTTP 401)" in body["error"]["message"]
            [row] = await audit_rows(gw, 1)
            assert (row["status"], row["error_code"]) == (502, "agent_error")


async def test_the_agents_jsonrpc_errors_pass_through(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        async with aiohttp.ClientSession(headers={"A2A-Version": "1.0"}) as session:
            status, _, body = await post(session, f"{gw.url}/a2a/echo", key, "GetTask", 5)
        assert status == 200 and body["id"] == 5
        assert body["error"]["code"] == -32001  # the agent's TaskNotFoundError, unchanged
        [row] = await audit_rows(gw, 1)
        assert (row["tool"], row["task_id"], row["error_code"]) == ("GetTask", "t", "agent_error")


async def test_metrics_count_a2a_requests(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        async with aiohttp.ClientSession() as session:
            await post(session, f"{gw.url}/a2a/echo", key)
            await post(session, f"{gw.url}/a2a/nope", key)
            async with session.get(gw.url + "/metrics") as resp:
                text = await resp.text()
        assert (
            'smartflow_a2a_requests_total{agent="echo",method="SendMessage",status="ok"} 1.0'
            in text
        )
        assert 'agent="nope"' not in text  # unknown names never become labels
