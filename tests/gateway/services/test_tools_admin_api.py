"""The MCP server and A2A agent registry's management API over real HTTP on loopback, with a
real MCP server (the official SDK) as the registered upstream, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from gateway.app import build_app
from gateway.pipeline.state import STATE
from gateway.server import app_runner
from gateway.settings import load_settings

from support.gateway import ADMIN_KEY
from support.mcp_servers import demo_server, serve_mcp
from support.pg import fresh_database

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SERVERS = "/api/admin/mcp/servers"
AGENTS = "/api/admin/a2a/agents"


@asynccontextmanager
async def registry_gateway(
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    service: str = "all",
) -> AsyncIterator[tuple[aiohttp.ClientSession, web.Application]]:
    """The gateway on a loopback port and an admin session on it."""
    environment = {
        "ADMIN_API_KEY": ADMIN_KEY,
        "SMARTFLOW_ACCESS_LOG": "false",
        "SMARTFLOW_DATA_DIR": str(tmp_path / "data"),
        "SMARTFLOW_MCP_REFRESH_SECS": "0.1",
        **(env or {}),
    }
    if config is not None:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(dict(config)))
        environment["SMARTFLOW_CONFIG"] = str(path)
    settings = load_settings(environment, service_type=service, host="127.0.0.1", port=0)
    app = build_app(settings)
    runner = app_runner(app, shutdown_timeout_s=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=ADMIN) as session:
            yield session, app
    finally:
        await runner.cleanup()


async def call(
    session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with session.request(method, path, **kwargs) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def server(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": url, **extra}


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    async with fresh_database("smartflow_tools_admin") as dsn:
        yield {"DATABASE_URL": dsn}


async def test_server_lifecycle_with_a_live_upstream(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with (
        serve_mcp(demo_server("docs")) as served,
        registry_gateway(tmp_path, backend) as (session, app),
    ):
        body = server("docs", served.url, cache_tools=["increment"], price_per_call_usd=0.01)
        status, created = await call(session, "POST", SERVERS, json=body)
        assert status == 201, created
        assert created["name"] == "docs" and created["source"] == "store"
        assert created["created_at"] > 0 and created["created_at"] == created["updated_at"]
        status, again = await call(session, "POST", SERVERS, json=body)
        assert status == 409 and again["error"]["param"] == "name"

        status, listed = await call(session, "GET", f"{SERVERS}/docs/tools")
        assert status == 200 and listed["healthy"] is True and listed["error"] is None
        names = {tool["name"] for tool in listed["tools"]}
        assert {"echo", "add", "increment", "fail", "slow"} <= names

        status, shown = await call(session, "GET", f"{SERVERS}/docs")
        assert status == 200 and shown["healthy"] is True and shown["last_error"] is None
        assert shown["tools"] == len(names) and shown["protocol_version"]

        status, page = await call(session, "GET", SERVERS)
        assert [entry["name"] for entry in page["servers"]] == ["docs"]

        status, tools = await call(session, "GET", "/api/mcp/tools")
        by_name = {tool["prefixed_name"]: tool for tool in tools["tools"]}
        assert by_name["docs__echo"]["cacheable"] is True  # readOnlyHint
        assert by_name["docs__add"]["cacheable"] is True  # idempotentHint
        assert by_name["docs__increment"]["cacheable"] is True  # listed by the operator
        assert by_name["docs__fail"]["cacheable"] is False
        assert by_name["docs__echo"]["server"] == "docs" and by_name["docs__echo"]["description"]

        replaced = {"url": served.url, "timeout_s": 5, "description": "the docs"}
        status, updated = await call(session, "PUT", f"{SERVERS}/docs", json=replaced)
        assert status == 200 and updated["description"] == "the docs"
        assert updated["created_at"] == created["created_at"]
        assert updated["updated_at"] >= created["updated_at"] and updated["cache_tools"] == []
        assert app[STATE].registry is not None
        assert app[STATE].registry.server("docs").spec.timeout_s == 5  # type: ignore[union-attr]

        status, fresh = await call(session, "PUT", f"{SERVERS}/other", json={"url": served.url})
        assert status == 201 and fresh["name"] == "other"

        status, deleted = await call(session, "DELETE", f"{SERVERS}/docs")
        assert status == 200 and deleted == {"name": "docs", "deleted": True}
        status, gone = await call(session, "DELETE", f"{SERVERS}/docs")
        assert status == 404 and gone["error"]["code"] == "not_found"
        status, _ = await call(session, "GET", f"{SERVERS}/docs")
        assert status == 404


async def test_a_server_that_goes_down_is_reported_not_fatal(tmp_path: Path) -> None:
    async with (
        serve_mcp(demo_server("up")) as up,
        serve_mcp(demo_server("down")) as down,
        registry_gateway(tmp_path) as (session, _),
    ):
        for name, served in (("up", up), ("down", down)):
            status, _ = await call(session, "POST", SERVERS, json=server(name, served.url))
            assert status == 201
        await down.stop()
        status, failed = await call(session, "GET", f"{SERVERS}/down/tools")
        assert status == 200 and failed["healthy"] is False and failed["tools"] == []
        assert "'down'" in failed["error"]
        status, shown = await call(session, "GET", f"{SERVERS}/down")
        assert shown["healthy"] is False and shown["last_error"]
        status, listed = await call(session, "GET", f"{SERVERS}/up/tools")
        assert status == 200 and listed["tools"]


async def test_bad_bodies_name_the_field(tmp_path: Path) -> None:
    cases: list[tuple[Any, str | None]] = [
        (server("Bad_Name", "http://x"), "name"),
        (server("tools", "http://x"), "name"),
        ({"name": "a"}, "url"),
        (server("a", "ftp://x"), "url"),
        (server("a", "http://user:pw@x/mcp"), "url"),
        (server("a", "http://x", timeout_s=True), "timeout_s"),
        (server("a", "http://x", timeout_s=0), "timeout_s"),
        (server("a", "http://x", price_per_call_usd=-1), "price_per_call_usd"),
        (server("a", "http://x", price_per_call_usd="1"), "price_per_call_usd"),
        (server("a", "http://x", ttl=3), "ttl"),
        (server("a", "http://x", created_at=1), "created_at"),
        (server("a", "http://x", auth={"headers": [{"header": "X Y", "env": "E"}]}), None),
        ({"name": "a", "transport": "stdio", "command": ["srv"]}, "transport"),
        ([1, 2], None),
    ]
    async with registry_gateway(tmp_path) as (session, _):
        for body, param in cases:
            status, answer = await call(session, "POST", SERVERS, json=body)
            assert status == 400, (body, answer)
            if param is not None:
                assert answer["error"]["param"] == param, (body, answer)
        status, answer = await call(session, "POST", SERVERS, data=b"{nope")
        assert status == 400 and "JSON" in answer["error"]["message"]
        status, answer = await call(session, "PUT", f"{SERVERS}/a", json=server("b", "http://x"))
        assert status == 400 and answer["error"]["param"] == "name"
        status, answer = await call(session, "GET", SERVERS)
        assert answer == {"servers": []}


async def test_stdio_servers_only_when_allowed(tmp_path: Path) -> None:
    body = {"name": "local", "transport": "stdio", "command": ["my-mcp-server", "--quiet"]}
    async with registry_gateway(tmp_path, {"SMARTFLOW_MCP_STDIO": "true"}) as (session, _):
        status, created = await call(session, "POST", SERVERS, json=body)
        assert status == 201 and created["command"] == ["my-mcp-server", "--quiet"]
        status, refused = await call(session, "POST", SERVERS, json={**body, "command": []})
        assert status == 400 and refused["error"]["param"] == "command"


async def test_the_admin_key_is_required(tmp_path: Path) -> None:
    async with registry_gateway(tmp_path) as (session, _):
        for path in (SERVERS, AGENTS, "/api/mcp/tools", "/api/mcp/auth"):
            async with session.get(path, headers={"Authorization": "Bearer wrong"}) as response:
                assert response.status == 401
                assert (await response.json())["error"]["code"] == "invalid_api_key"


async def test_auth_status_never_shows_a_secret(tmp_path: Path) -> None:
    env = {"DOCS_TOKEN": "tok-secret-value-1234", "SMARTFLOW_MCP_TOOLS_REFRESH_SECS": "600"}
    async with registry_gateway(tmp_path, env) as (session, _):
        auth = {
            "headers": [
                {"header": "Authorization", "env": "DOCS_TOKEN"},
                {"header": "X-Tenant", "env": "DOCS_TENANT"},
            ],
            "oauth": {
                "token_url": "http://127.0.0.1:9/token",
                "client_id": "gateway",
                "client_secret_env": "DOCS_CLIENT_SECRET",
            },
        }
        status, _ = await call(
            session, "POST", SERVERS, json=server("docs", "http://127.0.0.1:9/mcp", auth=auth)
        )
        assert status == 201
        status, _agent = await call(
            session, "POST", AGENTS, json={"name": "helper", "url": "http://127.0.0.1:9"}
        )
        assert status == 201
        async with session.get("/api/mcp/auth") as response:
            text = await response.text()
        assert "tok-secret-value-1234" not in text
        status, overview = await call(session, "GET", "/api/mcp/auth")
        (docs,) = overview["servers"]
        assert docs["server"] == "docs" and docs["kind"] == "headers+oauth"
        assert [h["set"] for h in docs["headers"]] == [True, False]
        assert docs["oauth"]["set"] is False and docs["ready"] is False
        assert docs["missing_env"] == ["DOCS_TENANT", "DOCS_CLIENT_SECRET"]
        assert overview["agents"] == [
            {
                "agent": "helper",
                "kind": "none",
                "headers": [],
                "oauth": None,
                "ready": True,
                "missing_env": [],
            }
        ]


async def test_agent_lifecycle(tmp_path: Path, backend: dict[str, str]) -> None:
    async with registry_gateway(tmp_path, backend) as (session, app):
        body = {"name": "research", "url": "http://127.0.0.1:9/", "price_per_task_usd": 0.5}
        status, created = await call(session, "POST", AGENTS, json=body)
        assert status == 201 and created["source"] == "store"
        assert created["card_path"] == "/.well-known/agent-card.json"
        status, _ = await call(session, "POST", AGENTS, json=body)
        assert status == 409
        registry = app[STATE].registry
        assert registry is not None and registry.agent("research") is not None
        status, replaced = await call(
            session,
            "PUT",
            f"{AGENTS}/research",
            json={"url": "http://127.0.0.1:10", "teams": ["ml"]},
        )
        assert status == 200 and replaced["teams"] == ["ml"] and replaced["price_per_task_usd"] == 0
        status, listed = await call(session, "GET", AGENTS)
        assert [agent["name"] for agent in listed["agents"]] == ["research"]
        status, refused = await call(session, "POST", AGENTS, json={"name": "x", "url": "nope"})
        assert status == 400 and refused["error"]["param"] == "url"
        status, _ = await call(session, "DELETE", f"{AGENTS}/research")
        assert status == 200 and registry.agent("research") is None


async def test_config_file_registrations_are_read_only(tmp_path: Path) -> None:
    config = {
        "mcp_servers": [{"name": "fixed", "url": "http://127.0.0.1:9/mcp"}],
        "a2a_agents": [{"name": "fixed-agent", "url": "http://127.0.0.1:9"}],
    }
    async with registry_gateway(tmp_path, config=config) as (session, _):
        status, listed = await call(session, "GET", SERVERS)
        (entry,) = listed["servers"]
        assert entry["name"] == "fixed" and entry["source"] == "config"
        assert entry["healthy"] is False and entry["last_error"]  # nothing listens on :9
        for method, path, body in (
            ("DELETE", f"{SERVERS}/fixed", None),
            ("PUT", f"{SERVERS}/fixed", {"url": "http://127.0.0.1:9/other"}),
            ("POST", SERVERS, server("fixed", "http://127.0.0.1:9/x")),
            ("DELETE", f"{AGENTS}/fixed-agent", None),
        ):
            status, refused = await call(session, method, path, json=body)
            assert status == 409 and refused["error"]["code"] == "read_only", (method, path)


async def test_writes_reach_another_replica(tmp_path: Path) -> None:
    """Two api-servers on one PostgreSQL database: a registration made through one is served
    by the other once it reloads (it notices the generation moved)."""
    async with (
        fresh_database("smartflow_tools_replicas") as dsn,
        registry_gateway(tmp_path / "a", {"DATABASE_URL": dsn}, service="api-server") as (one, _),
        registry_gateway(tmp_path / "b", {"DATABASE_URL": dsn}, service="api-server") as (two, _),
    ):
        status, _ = await call(one, "POST", SERVERS, json=server("shared", "http://127.0.0.1:9/"))
        assert status == 201
        status, shown = await call(two, "GET", f"{SERVERS}/shared")
        assert status == 200 and shown["name"] == "shared"


async def test_openapi_declares_the_routes(tmp_path: Path) -> None:
    async with registry_gateway(tmp_path) as (session, _):
        _status, document = await call(session, "GET", "/api/openapi.json")
    paths = document["paths"]
    for path in (
        SERVERS,
        SERVERS + "/{name}",
        SERVERS + "/{name}/tools",
        AGENTS,
        AGENTS + "/{name}",
        "/api/mcp/tools",
        "/api/mcp/auth",
    ):
        assert path in paths, path
    create = document["components"]["schemas"]["McpServerCreate"]
    assert create["properties"]["transport"]["enum"] == ["http"]  # stdio is off


async def test_the_proxy_alone_does_not_serve_the_management_routes(tmp_path: Path) -> None:
    settings = load_settings(
        {"ADMIN_API_KEY": ADMIN_KEY, "SMARTFLOW_DATA_DIR": str(tmp_path)}, service_type="proxy"
    )
    app = build_app(settings)
    paths = {resource.canonical for resource in app.router.resources()}
    assert SERVERS not in paths and "/api/mcp/tools" not in paths
