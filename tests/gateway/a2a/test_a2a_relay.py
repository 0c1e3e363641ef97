"""How the gateway relays: streams event by event as the agent produces them, A2A 0.3 clients as
well as 1.0 ones, and agents registered at run time through the management API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import httpx
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
    user_message,
)

from support.a2a_agents import serve_agent

DEADLOCK_GUARD_S = 60  # not a timing assertion: only turns a buffering bug into a failure


async def test_a_stream_is_relayed_while_the_agent_is_still_working(tmp_path: Path) -> None:
    """The agent holds its artifact until the client has seen the `working` status: a gateway
    that buffered the stream would never deliver that status, and the task would never end."""
    gate = asyncio.Event()
    async with (
        serve_agent(gate=gate) as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        seen: list[str] = []

        async def run() -> None:
            async with httpx.AsyncClient(headers=bearer(key)) as http:
                card = await resolve_card(http, f"{gw.url}/a2a/echo", key)
                client = sdk_client(http, card, streaming=True)
                async for event in client.send_message(user_message("slowly")):
                    kind = event.WhichOneof("payload")
                    seen.append(kind or "")
                    if kind == "status_update" and (
                        event.status_update.status.state == TaskState.TASK_STATE_WORKING
                    ):
                        gate.set()  # only now may the agent finish

        await asyncio.wait_for(run(), DEADLOCK_GUARD_S)
        assert seen == ["task", "status_update", "artifact_update", "status_update"]


async def test_an_a2a_03_client_passes_through(tmp_path: Path) -> None:
    """0.3 method names and result shapes (`kind`) go through unchanged; the task id is found."""
    async with (
        serve_agent() as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        params = {
            "message": {
                "kind": "message",
                "messageId": "m-03",
                "role": "user",
                "parts": [{"kind": "text", "text": "old"}],
            }
        }
        async with aiohttp.ClientSession(headers=bearer(key)) as session:
            url = f"{gw.url}/a2a/echo"
            async with session.post(url, json=rpc("message/send", params, "x1")) as resp:
                answer = await resp.json()
            assert resp.status == 200 and answer["id"] == "x1", answer
            result = answer["result"]
            assert result["kind"] == "task" and result["status"]["state"] == "completed"
            async with session.post(url, json=rpc("message/stream", params, "x2")) as resp:
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                streamed = await resp.text()
        assert streamed.count("data:") >= 3
        rows = await audit_rows(gw, 2)
        by_method = {r["tool"]: r for r in rows}
        assert by_method["message/send"]["task_id"] == result["id"]
        assert by_method["message/stream"]["stream"] is True
        assert by_method["message/stream"]["task_id"] is not None


async def wait_for_card(session: aiohttp.ClientSession, url: str, key: str, status: int) -> None:
    """Registrations reach the proxy on its next reload: poll the card until it says `status`."""
    for _ in range(400):
        async with session.get(url + "/.well-known/agent-card.json", headers=bearer(key)) as r:
            if r.status == status:
                return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{url}: the card never answered {status}")


async def test_agents_registered_through_the_admin_api(tmp_path: Path) -> None:
    async with serve_agent() as agent, a2a_gateway(tmp_path) as gw:
        key = await create_key(gw)
        url = f"{gw.url}/a2a/live"
        async with aiohttp.ClientSession() as session:
            spec = {"name": "live", "url": agent.url, "price_per_task_usd": 0.01}
            async with session.post(
                gw.url + "/api/admin/a2a/agents", json=spec, headers=ADMIN
            ) as resp:
                assert resp.status == 201, await resp.text()
            await wait_for_card(session, url, key, 200)
            async with httpx.AsyncClient(headers=bearer(key)) as http:
                card = await resolve_card(http, url, key)
                events = await send(sdk_client(http, card, streaming=False), "registered")
            assert events[0].task.status.state == TaskState.TASK_STATE_COMPLETED
            async with session.delete(gw.url + "/api/admin/a2a/agents/live", headers=ADMIN) as resp:
                assert resp.status in (200, 204)
            await wait_for_card(session, url, key, 404)
            async with session.post(
                url, json=rpc("SendMessage", message_params("gone")), headers=bearer(key)
            ) as resp:
                assert resp.status == 404
        rows = await audit_rows(gw, 2)
        assert sorted((r["status"], r["cost_usd"]) for r in rows) == [(200, 0.01), (404, 0.0)]


async def test_a_client_that_leaves_mid_stream(tmp_path: Path) -> None:
    """The record is still written once, with the task and the disconnection."""
    gate = asyncio.Event()
    async with (
        serve_agent(gate=gate) as agent,
        a2a_gateway(tmp_path, [{"name": "echo", "url": agent.url}]) as gw,
    ):
        key = await create_key(gw)
        headers = {**bearer(key), "A2A-Version": "1.0", "Accept": "text/event-stream"}
        body = rpc("SendStreamingMessage", message_params("bye"))
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{gw.url}/a2a/echo", json=body, headers=headers) as resp:
                first = await resp.content.readany()  # the first event, as relayed
                assert b'"task"' in first
                resp.close()  # the client goes away with the task still running
        gate.set()
        [row] = await audit_rows(gw, 1)
        assert row["stream"] is True and row["task_id"] == agent.tasks[0]
        assert row["error_code"] in ("client_disconnected", None)
