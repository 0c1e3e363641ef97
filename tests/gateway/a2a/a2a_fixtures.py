"""Helpers of the A2A tests: a gateway with the tool gateway on and agents registered, virtual
keys made through the management API, the official SDK client pointed at the gateway, and the
audit log read back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.helpers import new_text_message
from a2a.types.a2a_pb2 import AgentCard, Role, SendMessageRequest, StreamResponse

from support.gateway import ADMIN_KEY, RunningGateway, running_gateway

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TOOL_GATEWAY = {"MCP_GATEWAY_ENABLED": "true", "SMARTFLOW_MCP_REFRESH_SECS": "0.1"}


@asynccontextmanager
async def a2a_gateway(
    tmp_path: Path,
    agents: Sequence[Mapping[str, Any]] = (),
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningGateway]:
    """SERVICE_TYPE=all with MCP_GATEWAY_ENABLED=true; `agents` registered in the config file
    (`a2a_agents:`), exactly as an operator's SMARTFLOW_CONFIG would."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = {"a2a_agents": [dict(a) for a in agents]}
    async with running_gateway(tmp_path, config, {**TOOL_GATEWAY, **(env or {})}) as gateway:
        assert gateway.state.registry is not None, "the app factory did not open the registry"
        yield gateway


async def create_key(gateway: RunningGateway, **fields: Any) -> str:
    """A virtual key made through the management API; its secret."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gateway.url + "/api/enterprise/vkeys",
            json={"name": "a2a-test", **fields},
            headers=ADMIN,
        ) as resp,
    ):
        body = await resp.json()
        assert resp.status == 201, body
        return str(body["key"])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def resolve_card(http: httpx.AsyncClient, base: str, key: str) -> AgentCard:
    """The SDK's card resolver, the key in the request's headers."""
    resolver = A2ACardResolver(http, base)
    return await resolver.get_agent_card(http_kwargs={"headers": bearer(key)})


def sdk_client(http: httpx.AsyncClient, card: AgentCard, *, streaming: bool) -> Client:
    """The SDK client for a card; `http` carries the key on every request."""
    return ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create(card)


def user_message(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=new_text_message(text, role=Role.ROLE_USER))


async def send(client: Client, text: str) -> list[StreamResponse]:
    return [event async for event in client.send_message(user_message(text))]


def rpc(method: str, params: Mapping[str, Any], request_id: int | str = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params)}


def message_params(text: str, message_id: str = "m-1") -> dict[str, Any]:
    return {"message": {"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}]}}


async def audit_rows(gateway: RunningGateway, count: int, **filters: str) -> list[dict[str, Any]]:
    """The audit log's a2a records (written in batches: polled until `count` are there)."""
    params = {"route": "a2a", "limit": "200", **filters}
    rows: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            async with session.get(gateway.url + "/api/audit", params=params, headers=ADMIN) as r:
                body = await r.json()
                assert r.status == 200, body
                rows = body["records"]
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.025)
    raise AssertionError(f"expected {count} a2a audit records, found {len(rows)}: {rows}")
