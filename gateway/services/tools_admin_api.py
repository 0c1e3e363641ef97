"""Registering MCP servers and A2A agents, and seeing their tools and auth: the management API.

/api/admin/mcp/servers[/{name}[/tools]], /api/admin/a2a/agents[/{name}], /api/mcp/tools and
/api/mcp/auth (api-server and `all`; seed 000 routes these to the management API, never the
public proxy). Writes go to the registry store, then this process's registry reloads at once;
other replicas follow within SMARTFLOW_MCP_REFRESH_SECS. Registrations from the config file are
listed (`source: config`) but read-only here. A body is validated by the spec models
(gateway.core.toolspecs): a bad one is a 400 whose `param` names the field. No response ever
carries a credential: auth names environment variables, and /api/mcp/auth says only whether
they are set.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Literal

from aiohttp import web
from pydantic import ValidationError

from gateway.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from gateway.core.toolspecs import A2aAgentSpec, McpServerSpec, UpstreamAuth, first_problem
from gateway.mcp.live import LiveServer, ToolRegistry
from gateway.mcp.upstream import McpUnavailable, McpUpstreamError
from gateway.pipeline.state import STATE, GatewayState
from gateway.services.api_server import add_admin_routes, add_openapi
from gateway.services.keys_api import AdminHandler, Conflict, json_response
from gateway.services.policy_api import read_object

SERVERS = "/api/admin/mcp/servers"
AGENTS = "/api/admin/a2a/agents"
TOOLS = "/api/mcp/tools"
AUTH = "/api/mcp/auth"
SEPARATOR = "__"  # a tool's name in the aggregate endpoint: server__tool
READ_ONLY = ("created_at", "updated_at")  # set by the gateway
LIVE_LIST_WAIT_S = 5.0  # an admin request asking an upstream for its tools waits no longer

Kind = Literal["mcp", "a2a"]
Spec = McpServerSpec | A2aAgentSpec
_MODELS: dict[Kind, type[McpServerSpec] | type[A2aAgentSpec]] = {
    "mcp": McpServerSpec,
    "a2a": A2aAgentSpec,
}
_WHAT: dict[Kind, str] = {"mcp": "MCP server", "a2a": "A2A agent"}


def _registry(state: GatewayState) -> ToolRegistry:
    if state.registry is None:
        raise ServiceUnavailable("the MCP and A2A registry is not running on this service")
    return state.registry


async def _read_body(request: web.Request) -> dict[str, Any]:
    body = await read_object(request)
    for name in READ_ONLY:
        if name in body:
            raise InvalidRequest(f"{name}: set by the gateway, not accepted", param=name)
    return body


def _invalid(exc: ValidationError) -> InvalidRequest:
    """The first problem as `field.path: message`, with `param` the field."""
    where, message, first = first_problem(exc)
    if not where and ": " in message:  # a rule across fields names its field first
        where, message = message.split(": ", 1)
    if first["type"] == "finite_number" or (
        isinstance(first.get("input"), float) and not math.isfinite(first["input"])
    ):
        message = "must be a finite number"
    return InvalidRequest(f"{where}: {message}" if where else message, param=where or None)


def _validate(kind: Kind, body: dict[str, Any], state: GatewayState) -> Spec:
    try:
        spec = _MODELS[kind].model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    stdio = isinstance(spec, McpServerSpec) and spec.transport == "stdio"
    if stdio and not state.settings.mcp.allow_stdio:
        raise InvalidRequest(
            "transport: stdio servers are disabled on this gateway (the gateway would start "
            "the command itself; set SMARTFLOW_MCP_STDIO=true to allow it)",
            code="stdio_disabled",
            param="transport",
        )
    return spec


def _source(registry: ToolRegistry, kind: Kind, name: str) -> str | None:
    if kind == "mcp":
        live = registry.server(name)
        return None if live is None else live.source
    return registry.agent_source(name)


def _server_entry(live: LiveServer) -> dict[str, Any]:
    return {
        **live.spec.model_dump(mode="json"),
        "source": live.source,
        "healthy": live.healthy,
        "tools": len(live.tools),
        "last_error": live.last_error,
        "refreshed_at": live.refreshed_at,
        "protocol_version": live.upstream.protocol_version,
    }


def _agent_entry(spec: A2aAgentSpec, registry: ToolRegistry) -> dict[str, Any]:
    return {**spec.model_dump(mode="json"), "source": registry.agent_source(spec.name)}


async def _entry(registry: ToolRegistry, kind: Kind, name: str) -> dict[str, Any]:
    """The registration as this process serves it; reloads once if another replica wrote it."""
    for attempt in range(2):
        if kind == "mcp":
            live = registry.server(name)
            if live is not None:
                return _server_entry(live)
        else:
            agent = registry.agent(name)
            if agent is not None:
                return _agent_entry(agent, registry)
        if attempt == 0 and not await registry.reload_if_changed():
            break
    raise NotFound(f"no {_WHAT[kind]} named '{name}'", param="name")


def _read_only(kind: Kind, name: str) -> Conflict:
    return Conflict(
        f"{_WHAT[kind]} '{name}' comes from the config file (SMARTFLOW_CONFIG) and cannot be "
        "changed through the API",
        code="read_only",
        param="name",
    )


async def _write(registry: ToolRegistry, kind: Kind, spec: Spec) -> bool:
    created = await registry.store.put(kind, spec.name, spec.model_dump(mode="json"))
    await registry.reload()
    return created


def _listing(kind: Kind) -> AdminHandler:
    async def handler(request: web.Request, state: GatewayState) -> web.Response:
        registry = _registry(state)
        await registry.reload_if_changed()
        if kind == "mcp":
            return json_response({"servers": [_server_entry(s) for s in registry.servers()]})
        agents = [_agent_entry(agent, registry) for agent in registry.agents()]
        return json_response({"agents": agents})

    return handler


def _create(kind: Kind) -> AdminHandler:
    async def handler(request: web.Request, state: GatewayState) -> web.Response:
        registry = _registry(state)
        spec = _validate(kind, await _read_body(request), state)
        await registry.reload_if_changed()
        if _source(registry, kind, spec.name) == "config":
            raise _read_only(kind, spec.name)
        if await registry.store.get(kind, spec.name) is not None:
            raise Conflict(
                f"an {_WHAT[kind]} named '{spec.name}' is already registered: PUT "
                "replaces it, DELETE removes it",
                param="name",
            )
        now = time.time()
        await _write(registry, kind, spec.model_copy(update={"created_at": now, "updated_at": now}))
        return json_response(await _entry(registry, kind, spec.name), status=201)

    return handler


def _show(kind: Kind) -> AdminHandler:
    async def handler(request: web.Request, state: GatewayState) -> web.Response:
        return json_response(await _entry(_registry(state), kind, request.match_info["name"]))

    return handler


def _replace(kind: Kind) -> AdminHandler:
    async def handler(request: web.Request, state: GatewayState) -> web.Response:
        registry = _registry(state)
        name = request.match_info["name"]
        body = await _read_body(request)
        if "name" in body:
            raise InvalidRequest("name: the path names the registration", param="name")
        spec = _validate(kind, {**body, "name": name}, state)
        await registry.reload_if_changed()
        if _source(registry, kind, name) == "config":
            raise _read_only(kind, name)
        previous = await registry.store.get(kind, name)
        now = time.time()
        created_at = previous.get("created_at", now) if previous else now
        if not isinstance(created_at, int | float) or isinstance(created_at, bool):
            created_at = now
        spec = spec.model_copy(update={"created_at": float(created_at), "updated_at": now})
        created = await _write(registry, kind, spec)
        return json_response(await _entry(registry, kind, name), status=201 if created else 200)

    return handler


def _delete(kind: Kind) -> AdminHandler:
    async def handler(request: web.Request, state: GatewayState) -> web.Response:
        registry = _registry(state)
        name = request.match_info["name"]
        await registry.reload_if_changed()
        if _source(registry, kind, name) == "config":
            raise _read_only(kind, name)
        if not await registry.store.delete(kind, name):
            raise NotFound(f"no {_WHAT[kind]} named '{name}'", param="name")
        await registry.reload()
        return json_response({"name": name, "deleted": True})

    return handler


async def server_tools(request: web.Request, state: GatewayState) -> web.Response:
    """tools/list asked of the upstream now (its answer also refreshes the registry's copy).
    The upstream's failure is the answer's content (`healthy: false`, `error`), not this API's
    failure: the management API worked, the server it asked did not."""
    registry = _registry(state)
    name = request.match_info["name"]
    await _entry(registry, "mcp", name)  # 404 when unknown
    live = registry.server(name)
    assert live is not None
    wait_s = min(live.spec.timeout_s, LIVE_LIST_WAIT_S)
    error: str | None = None
    try:
        tools = await asyncio.wait_for(live.upstream.list_tools(), wait_s)
    except McpUpstreamError as exc:
        error = f"MCP server '{name}' answered tools/list with an error: {exc.message}"
    except McpUnavailable as exc:
        text = str(exc) or "unavailable"
        error = text if f"'{name}'" in text else f"MCP server '{name}' is unavailable: {text}"
    except TimeoutError:
        error = f"MCP server '{name}' did not answer tools/list within {wait_s:g} s"
    if error is not None:
        live.mark_failed(error, time.time())
        return json_response({"server": name, "healthy": False, "error": error, "tools": []})
    live.set_tools(tools, time.time())
    return json_response({"server": name, "healthy": True, "error": None, "tools": live.tools})


async def all_tools(request: web.Request, state: GatewayState) -> web.Response:
    """Every server's tools as last listed (no upstream call): the aggregate's names."""
    registry = _registry(state)
    await registry.reload_if_changed()
    tools = [
        {
            "server": live.name,
            "name": tool["name"],
            "prefixed_name": f"{live.name}{SEPARATOR}{tool['name']}",
            "description": tool.get("description"),
            "annotations": tool.get("annotations"),
            "cacheable": live.cacheable(tool["name"]),
            "server_healthy": live.healthy,
        }
        for live in registry.servers()
        for tool in live.tools
    ]
    return json_response({"tools": tools})


def auth_status(auth: UpstreamAuth, environ: Any, upstream: Any = None) -> dict[str, Any]:
    """How a registration authenticates and whether its variables are set; never a value."""
    status: dict[str, Any] = {
        "kind": auth.kind(),
        "headers": [
            {"header": h.header, "env": h.env, "set": bool(environ.get(h.env))}
            for h in auth.headers
        ],
        "oauth": None,
    }
    if auth.oauth is not None:
        obtained = getattr(upstream, "oauth_token_obtained", None)
        status["oauth"] = {
            "token_url": auth.oauth.token_url,
            "client_id": auth.oauth.client_id,
            "client_secret_env": auth.oauth.client_secret_env,
            "set": bool(environ.get(auth.oauth.client_secret_env)),
            "token_obtained": obtained if isinstance(obtained, bool) else None,
        }
    missing = [name for name in auth.env_vars() if not environ.get(name)]
    status["ready"] = not missing
    status["missing_env"] = missing
    return status


async def auth_overview(request: web.Request, state: GatewayState) -> web.Response:
    registry = _registry(state)
    await registry.reload_if_changed()
    environ = state.settings.mcp.environ
    servers = [
        {"server": live.name, **auth_status(live.spec.auth, environ, live.upstream)}
        for live in registry.servers()
    ]
    agents = [{"agent": a.name, **auth_status(a.auth, environ)} for a in registry.agents()]
    return json_response({"servers": servers, "agents": agents})


def _crud(kind: Kind, base: str) -> list[tuple[str, str, AdminHandler]]:
    return [
        ("GET", base, _listing(kind)),
        ("POST", base, _create(kind)),
        ("GET", base + "/{name}", _show(kind)),
        ("PUT", base + "/{name}", _replace(kind)),
        ("DELETE", base + "/{name}", _delete(kind)),
    ]


def routes() -> tuple[tuple[str, str, AdminHandler], ...]:
    return (
        *_crud("mcp", SERVERS),
        ("GET", SERVERS + "/{name}/tools", server_tools),
        *_crud("a2a", AGENTS),
        ("GET", TOOLS, all_tools),
        ("GET", AUTH, auth_overview),
    )


def setup(app: web.Application) -> None:
    """Mount the registry's management routes and declare them in /api/openapi.json (the
    registry itself is opened by gateway.app)."""
    from gateway.services import tools_admin_openapi

    add_admin_routes(app, routes())
    allow_stdio = app[STATE].settings.mcp.allow_stdio
    add_openapi(
        app, tools_admin_openapi.paths(), tools_admin_openapi.schemas(allow_stdio=allow_stdio)
    )
