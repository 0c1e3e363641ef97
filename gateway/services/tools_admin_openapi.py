"""OpenAPI path items of the MCP server and A2A agent registry (gateway.services.tools_admin_api).

Written out rather than derived from the spec models, because JSON Schema can say here exactly
what the server checks across fields and what pydantic's schema cannot: an http server needs a
`url` and has no `command`, a stdio server the reverse; a name is not one of the reserved ones;
timestamps are the gateway's to set; a PUT body leaves the name to the path; and stdio servers
exist in the schema only when this gateway allows them (SMARTFLOW_MCP_STDIO). A body the schema
accepts is accepted (a name already taken is a 409), and one it refuses is a 400.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.core.toolspecs import (
    CARD_PATH_PATTERN,
    ENV_PATTERN,
    HEADER_PATTERN,
    ITEM_PATTERN,
    NAME_PATTERN,
    RESERVED_NAMES,
    URL_PATTERN,
)
from gateway.services.openapi import JsonSchema, errors, json_body, json_response, ref
from gateway.services.tools_admin_api import AGENTS, AUTH, SERVERS, TOOLS

_URL: JsonSchema = {"type": "string", "pattern": URL_PATTERN, "description": "http(s) URL"}
_ITEMS: JsonSchema = {"type": "array", "items": {"type": "string", "pattern": ITEM_PATTERN}}
_NON_NEGATIVE: JsonSchema = {"type": "number", "minimum": 0}
_POSITIVE: JsonSchema = {"type": "number", "exclusiveMinimum": 0}
_TEXT_OR_NULL: JsonSchema = {"type": ["string", "null"]}
_ENV: JsonSchema = {"type": "string", "pattern": ENV_PATTERN}

_ENV_HEADER: JsonSchema = {
    "type": "object",
    "description": "A header whose value the gateway reads from its environment at connect",
    "additionalProperties": False,
    "required": ["header", "env"],
    "properties": {"header": {"type": "string", "pattern": HEADER_PATTERN}, "env": _ENV},
}
_OAUTH: JsonSchema = {
    "type": "object",
    "description": "OAuth 2.0 client credentials; the secret is read from the environment",
    "additionalProperties": False,
    "required": ["token_url", "client_id", "client_secret_env"],
    "properties": {
        "token_url": _URL,
        "client_id": {"type": "string", "minLength": 1},
        "client_secret_env": _ENV,
        "scope": _TEXT_OR_NULL,
        "audience": _TEXT_OR_NULL,
    },
}
_AUTH: JsonSchema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "headers": {"type": "array", "items": ref("RegistryEnvHeader")},
        "oauth": {"anyOf": [ref("RegistryOAuth"), {"type": "null"}]},
    },
}


def _name(reserved: bool) -> JsonSchema:
    schema: JsonSchema = {"type": "string", "pattern": NAME_PATTERN}
    if reserved:
        schema["not"] = {"enum": sorted(RESERVED_NAMES)}
    return schema


def _server_fields(reserved: bool) -> dict[str, JsonSchema]:
    return {
        "name": _name(reserved),
        "auth": ref("RegistryAuth"),
        "teams": {"anyOf": [_ITEMS, {"type": "null"}], "description": "null: any team"},
        "cache_tools": _ITEMS,
        "cache_ttl_s": _NON_NEGATIVE,
        "price_per_call_usd": _NON_NEGATIVE,
        "timeout_s": _POSITIVE,
        "description": _TEXT_OR_NULL,
    }


def _http_server(with_name: bool) -> JsonSchema:
    properties = {
        **_server_fields(True),
        "transport": {"type": "string", "enum": ["http"]},
        "url": _URL,
        "command": {"type": "null"},
    }
    return _object(properties, ["name", "url"], with_name)


def _stdio_server(with_name: bool) -> JsonSchema:
    properties = {
        **_server_fields(True),
        "transport": {"type": "string", "enum": ["stdio"]},
        "url": {"type": "null"},
        "command": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
    }
    return _object(properties, ["name", "transport", "command"], with_name)


def _agent(with_name: bool) -> JsonSchema:
    properties = {
        "name": _name(False),
        "url": _URL,
        "card_path": {"type": "string", "pattern": CARD_PATH_PATTERN},
        "auth": ref("RegistryAuth"),
        "teams": {"anyOf": [_ITEMS, {"type": "null"}]},
        "price_per_task_usd": _NON_NEGATIVE,
        "timeout_s": _POSITIVE,
        "description": _TEXT_OR_NULL,
    }
    return _object(properties, ["name", "url"], with_name)


def _object(properties: dict[str, JsonSchema], required: list[str], with_name: bool) -> JsonSchema:
    """A body: the name is in a POST's body and in a PUT's path only."""
    properties = copy.deepcopy(properties)
    if not with_name:
        properties.pop("name")
        required = [field for field in required if field != "name"]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _server_body(with_name: bool, allow_stdio: bool) -> JsonSchema:
    if not allow_stdio:
        return _http_server(with_name)
    return {"oneOf": [_http_server(with_name), _stdio_server(with_name)]}


_TIMESTAMPS: dict[str, JsonSchema] = {
    "created_at": {"type": "number"},
    "updated_at": {"type": "number"},
}
_SERVER: JsonSchema = {
    "type": "object",
    "required": ["name", "transport", "source", "healthy", "tools", "last_error"],
    "properties": {
        "name": {"type": "string"},
        "transport": {"type": "string", "enum": ["http", "stdio"]},
        "url": _TEXT_OR_NULL,
        "command": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
        "source": {"type": "string", "enum": ["store", "config"]},
        "healthy": {"type": "boolean", "description": "false before the first check too"},
        "tools": {"type": "integer", "description": "how many tools it listed last"},
        "last_error": _TEXT_OR_NULL,
        "refreshed_at": {"type": ["number", "null"]},
        "protocol_version": _TEXT_OR_NULL,
        **_TIMESTAMPS,
    },
}
_AGENT: JsonSchema = {
    "type": "object",
    "required": ["name", "url", "source"],
    "properties": {
        "name": {"type": "string"},
        "url": {"type": "string"},
        "source": {"type": ["string", "null"], "enum": ["store", "config", None]},
        **_TIMESTAMPS,
    },
}
_TOOL: JsonSchema = {
    "type": "object",
    "required": ["server", "name", "prefixed_name", "cacheable"],
    "properties": {
        "server": {"type": "string"},
        "name": {"type": "string"},
        "prefixed_name": {"type": "string", "description": "server__tool"},
        "description": _TEXT_OR_NULL,
        "annotations": {"type": ["object", "null"]},
        "cacheable": {"type": "boolean"},
        "server_healthy": {"type": "boolean"},
    },
}
_AUTH_STATUS: JsonSchema = {
    "type": "object",
    "required": ["kind", "ready", "missing_env"],
    "description": "Names of variables and whether they are set; never a value",
    "properties": {
        "kind": {"type": "string"},
        "ready": {"type": "boolean"},
        "missing_env": {"type": "array", "items": {"type": "string"}},
    },
}


def _schemas(allow_stdio: bool) -> dict[str, JsonSchema]:
    return {
        "RegistryEnvHeader": _ENV_HEADER,
        "RegistryOAuth": _OAUTH,
        "RegistryAuth": _AUTH,
        "McpServerCreate": _server_body(True, allow_stdio),
        "McpServerReplace": _server_body(False, allow_stdio),
        "McpServer": _SERVER,
        "A2aAgentCreate": _agent(True),
        "A2aAgentReplace": _agent(False),
        "A2aAgent": _AGENT,
        "McpToolEntry": _TOOL,
        "RegistryAuthStatus": _AUTH_STATUS,
    }


def _param(reserved: bool) -> list[dict[str, Any]]:
    return [{"name": "name", "in": "path", "required": True, "schema": _name(reserved)}]


def _ok(description: str, schema: JsonSchema) -> dict[str, Any]:
    return json_response(description, schema)


def _list_of(key: str, item: str) -> JsonSchema:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": ref(item)}},
    }


def _op(
    tag: str,
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    name: bool | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """One operation; `name`: it takes the path's {name} (reserved names refused when True);
    `body`: the component schema of its JSON body."""
    operation: dict[str, Any] = {} if name is None else {"parameters": _param(name)}
    operation.update(operationId=operation_id, summary=summary, tags=[tag])
    if body is not None:
        operation["requestBody"] = json_body(ref(body))
    operation["responses"] = responses
    return operation


def _crud(base: str, kind: str, entity: str, reserved: bool) -> dict[str, dict[str, Any]]:
    tag, key = ("mcp", "servers") if kind == "Mcp" else ("a2a", "agents")
    one = f"{kind}{key.title()[:-1]}"
    deleted = {
        "type": "object",
        "required": ["name", "deleted"],
        "properties": {"name": {"type": "string"}, "deleted": {"type": "boolean"}},
    }
    written = errors("400", "409", "413", "503")
    return {
        base: {
            "get": _op(
                tag,
                f"list{kind}{key.title()}",
                f"Registered {entity}s, with their state on this replica",
                {"200": _ok("The registrations", _list_of(key, entity)), **errors("503")},
            ),
            "post": _op(
                tag,
                f"create{one}",
                f"Register an {entity}",
                {"201": _ok("Registered", ref(entity)), **written},
                body=f"{entity}Create",
            ),
        },
        base + "/{name}": {
            "get": _op(
                tag,
                f"show{one}",
                f"One {entity}",
                {"200": _ok("The registration", ref(entity)), **errors("404", "503")},
                name=reserved,
            ),
            "put": _op(
                tag,
                f"replace{one}",
                f"Create or replace an {entity} (the path names it)",
                {
                    "200": _ok("Replaced", ref(entity)),
                    "201": _ok("Created", ref(entity)),
                    **written,
                },
                name=reserved,
                body=f"{entity}Replace",
            ),
            "delete": _op(
                tag,
                f"delete{one}",
                f"Remove an {entity} (config-file entries are read-only: 409)",
                {"200": _ok("Removed", deleted), **errors("404", "409", "503")},
                name=reserved,
            ),
        },
    }


def _views() -> dict[str, dict[str, Any]]:
    listed = {
        "type": "object",
        "required": ["server", "healthy", "error", "tools"],
        "properties": {
            "server": {"type": "string"},
            "healthy": {"type": "boolean", "description": "false: the server did not answer"},
            "error": {**_TEXT_OR_NULL, "description": "why it did not"},
            "tools": {"type": "array", "items": {"type": "object"}},
        },
    }
    auth = {
        "type": "object",
        "required": ["servers", "agents"],
        "properties": {
            "servers": {"type": "array", "items": ref("RegistryAuthStatus")},
            "agents": {"type": "array", "items": ref("RegistryAuthStatus")},
        },
    }
    live = "The server's tools as it lists them now, or its failure"
    return {
        SERVERS + "/{name}/tools": {
            "get": _op(
                "mcp",
                "listMcpServerToolsLive",
                "tools/list asked of the upstream server now",
                {"200": _ok(live, listed), **errors("404", "503")},
                name=True,
            ),
        },
        TOOLS: {
            "get": _op(
                "mcp",
                "listMcpTools",
                "Every server's tools as last listed, with their prefixed names",
                {"200": _ok("The tools", _list_of("tools", "McpToolEntry")), **errors("503")},
            )
        },
        AUTH: {
            "get": _op(
                "mcp",
                "showMcpAuth",
                "How each server and agent authenticates and whether it can",
                {"200": _ok("Auth status, never a secret", auth), **errors("503")},
            )
        },
    }


def paths() -> dict[str, dict[str, Any]]:
    """The path items (their bodies refer to `schemas`)."""
    return {
        **_crud(SERVERS, "Mcp", "McpServer", True),
        **_crud(AGENTS, "A2a", "A2aAgent", False),
        **_views(),
    }


def schemas(*, allow_stdio: bool) -> dict[str, JsonSchema]:
    """The component schemas; stdio servers are in the bodies only when the gateway allows them."""
    return _schemas(allow_stdio)
