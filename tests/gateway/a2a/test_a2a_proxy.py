"""A2A through the gateway with the official a2a-sdk on both sides: the SDK's echo agent served
on loopback, the SDK's card resolver and client talking to the gateway with a virtual key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from a2a.client import A2AClientError, AgentCardResolutionError
from a2a.helpers import get_artifact_text
from a2a.types.a2a_pb2 import TaskState
from a2a_fixtures import (
    ADMIN,
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
from support.gateway import running_gateway

AGENT_SECRET = "agent-secret-0123456789"


async def test_card_discovery_rewrites_the_agents_card(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        async with httpx.AsyncClient() as http:
            card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
        assert card.name == "Echo agent"
        assert [s.id for s in card.skills] == ["echo"]
        assert len(card.supported_interfaces) == 1
        interface = card.supported_interfaces[0]
        assert interface.url == f"{gw.url}/a2a/echo"
        assert (interface.protocol_binding, interface.protocol_version) == ("JSONRPC", "1.0")
        assert list(card.security_schemes) == ["smartflow"]
        scheme = card.security_schemes["smartflow"]
        assert scheme.http_auth_security_scheme.scheme == "bearer"
        assert list(card.security_requirements[0].schemes) == ["smartflow"]
        assert card.capabilities.streaming


async def test_task_sent_through_the_gateway(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        async with httpx.AsyncClient(headers=bearer(key)) as http:
            card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
            events = await send(sdk_client(http, card, streaming=False), "hello")
        assert len(events) == 1 and events[0].HasField("task")
        task = events[0].task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert get_artifact_text(task.artifacts[0]) == "echo: hello"
        assert agent.tasks == [task.id]
        [row] = await audit_rows(gw, 1)
        assert row["provider"] == "echo" and row["tool"] == "SendMessage"
        assert row["task_id"] == task.id and row["status"] == 200 and not row["stream"]
        assert row["key_id"] is not None and row["error_code"] is None


async def test_task_streamed_through_the_gateway(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        async with httpx.AsyncClient(headers=bearer(key)) as http:
            card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
            events = await send(sdk_client(http, card, streaming=True), "stream me")
        kinds = [event.WhichOneof("payload") for event in events]
        assert kinds == ["task", "status_update", "artifact_update", "status_update"]
        task_id = events[0].task.id
        assert events[1].status_update.status.state == TaskState.TASK_STATE_WORKING
        assert get_artifact_text(events[2].artifact_update.artifact) == "echo: stream me"
        assert events[3].status_update.status.state == TaskState.TASK_STATE_COMPLETED
        [row] = await audit_rows(gw, 1)
        assert (row["tool"], row["task_id"], row["stream"]) == (
            "SendStreamingMessage",
            task_id,
            True,
        )
        assert row["status"] == 200 and row["error_code"] is None


async def test_follow_up_methods_pass_through(tmp_path: Path) -> None:
    """GetTask after SendMessage: another JSON-RPC method, audited with the task it names."""
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        headers = {**bearer(key), "A2A-Version": "1.0"}
        async with aiohttp.ClientSession(headers=headers) as session:
            url = f"{gw.url}/a2a/echo"
            async with session.post(url, json=rpc("SendMessage", message_params("x"))) as resp:
                assert resp.status == 200
                assert resp.headers["x-smartflow-request-id"].startswith("req_")
                task_id = (await resp.json())["result"]["task"]["id"]
            async with session.post(url, json=rpc("GetTask", {"id": task_id}, 2)) as resp:
                answer = await resp.json()
            assert answer["id"] == 2 and answer["result"]["id"] == task_id
        rows = await audit_rows(gw, 2)
        assert {(r["tool"], r["task_id"]) for r in rows} == {
            ("SendMessage", task_id),
            ("GetTask", task_id),
        }


async def test_the_agents_credentials_are_sent_never_the_clients_key(tmp_path: Path) -> None:
    spec: dict[str, Any] = {
        "name": "secure",
        "url": "",
        "auth": {"headers": [{"header": "X-Agent-Key", "env": "SECURE_AGENT_KEY"}]},
    }
    async with serve_agent(headers_required={"X-Agent-Key": AGENT_SECRET}) as agent:
        spec["url"] = agent.url
        env = {"SECURE_AGENT_KEY": AGENT_SECRET}
        async with a2a_gateway(tmp_path, [spec], env) as gw:
            key = await create_key(gw)
            async with httpx.AsyncClient(headers=bearer(key)) as http:
                card = await resolve_card(http, f"{gw.url}/a2a/secure", key)
                events = await send(sdk_client(http, card, streaming=True), "hi")
            assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
        assert agent.headers_seen, "the agent saw no request"
        for headers in agent.headers_seen:
            assert headers["x-agent-key"] == AGENT_SECRET
            assert key not in " ".join(headers.values())
            assert "authorization" not in headers


async def test_a_refused_key(tmp_path: Path) -> None:
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        bad = "sk-sf-not-a-real-key-000000000000000000000000"
        async with aiohttp.ClientSession() as session:
            url = f"{gw.url}/a2a/echo"
            for headers in ({}, bearer(bad), {"x-api-key": bad}):
                async with session.post(
                    url, json=rpc("SendMessage", message_params("x")), headers=headers
                ) as resp:
                    assert resp.status == 401
                    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
                    body = await resp.json()
                    assert body["jsonrpc"] == "2.0" and body["id"] == 1
                    assert body["error"]["code"] == -32050
            async with session.get(url + "/.well-known/agent-card.json", headers=bearer(bad)) as r:
                assert r.status == 401
        key = await create_key(gw)  # a good key was never the problem
        async with httpx.AsyncClient(headers=bearer(bad)) as http:
            card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
            with pytest.raises(A2AClientError, match="401"):
                await send(sdk_client(http, card, streaming=False), "x")
        assert agent.tasks == []  # nothing reached the agent
        rows = await audit_rows(gw, 4)
        assert {r["status"] for r in rows} == {401}
        assert {r["error_code"] for r in rows} == {"invalid_api_key"}


async def test_a_key_not_allowed_for_the_agent(tmp_path: Path) -> None:
    agents: list[dict[str, Any]] = [
        {"name": "echo", "url": ""},
        {"name": "other", "url": ""},
        {"name": "team-only", "url": "", "teams": ["ops"]},
    ]
    async with serve_agent() as agent:
        for spec in agents:
            spec["url"] = agent.url
        async with a2a_gateway(tmp_path, agents) as gw:
            only_other = await create_key(gw, tools={"a2a_agents": ["other"]})
            no_team = await create_key(gw)
            async with aiohttp.ClientSession() as session:
                for key, name in ((only_other, "echo"), (no_team, "team-only"), (no_team, "nope")):
                    url = f"{gw.url}/a2a/{name}"
                    async with session.post(
                        url, json=rpc("SendMessage", message_params("x")), headers=bearer(key)
                    ) as resp:
                        assert resp.status == 404
                        body = await resp.json()
                    assert body["error"]["code"] == -32051
                    assert (
                        "not registered, or this key may not reach it" in body["error"]["message"]
                    )
                    async with session.get(
                        url + "/.well-known/agent-card.json", headers=bearer(key)
                    ) as resp:
                        assert resp.status == 404
            async with httpx.AsyncClient() as http:
                with pytest.raises(AgentCardResolutionError) as refused:
                    await resolve_card(http, f"{gw.url}/a2a/echo", only_other)
                assert refused.value.status_code == 404
                await resolve_card(http, f"{gw.url}/a2a/other", only_other)
        assert agent.tasks == []


async def test_the_gateways_own_card_lists_what_a_key_may_reach(tmp_path: Path) -> None:
    async with serve_agent() as agent:
        agents: list[dict[str, Any]] = [
            {"name": "echo", "url": agent.url, "description": "The echo agent"},
            {"name": "other", "url": agent.url},
        ]
        async with a2a_gateway(tmp_path, agents) as gw:
            only_echo = await create_key(gw, tools={"a2a_agents": ["echo"]})
            every = await create_key(gw)
            async with httpx.AsyncClient() as http:
                public = await resolve_card(http, gw.url, "sk-sf-wrong")
                mine = await resolve_card(http, gw.url, only_echo)
                all_of_them = await resolve_card(http, gw.url, every)
            assert public.name == "Smartflow" and list(public.skills) == []
            assert [s.id for s in mine.skills] == ["echo"]
            assert mine.skills[0].description.startswith("The echo agent")
            assert [i.url for i in mine.supported_interfaces] == [f"{gw.url}/a2a/echo"]
            assert [s.id for s in all_of_them.skills] == ["echo", "other"]
            assert (
                all_of_them.security_schemes["smartflow"].http_auth_security_scheme.scheme
                == "bearer"
            )
            async with aiohttp.ClientSession() as session:
                async with session.get(gw.url + "/.well-known/agent.json", headers=ADMIN) as resp:
                    assert resp.status == 200  # the 0.3 path, the operator sees every agent
                    assert len((await resp.json())["skills"]) == 2


async def test_public_url_names_the_gateway_in_cards(tmp_path: Path) -> None:
    async with serve_agent() as agent:
        env = {"SMARTFLOW_PUBLIC_URL": "https://gateway.example.com/"}
        async with a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}], env) as gw:
            key = await create_key(gw)
            async with httpx.AsyncClient() as http:
                card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
            assert card.supported_interfaces[0].url == "https://gateway.example.com/a2a/echo"


async def test_the_routes_are_off_without_the_tool_gateway(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw, aiohttp.ClientSession(headers=ADMIN) as session:
        for path in ("/.well-known/agent-card.json", "/a2a/echo/.well-known/agent-card.json"):
            async with session.get(gw.url + path) as resp:
                assert resp.status == 404
        async with session.post(gw.url + "/a2a/echo", json=rpc("GetTask", {"id": "t"})) as resp:
            assert resp.status in (404, 405)
