"""The audit log's admin API: pages of records and spend totals.

Every parameter is checked against the same rules the OpenAPI description states (OPENAPI_PATHS),
so a request the schema calls valid is answered 200 and any other is answered 400, never 500.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web

from gateway.core.audit import (
    CURSOR_PATTERN,
    DEFAULT_PAGE,
    GROUP_BYS,
    MAX_PAGE,
    MAX_TS,
    STATUS_PATTERN,
    AuditQuery,
    Cursor,
    parse_status,
)
from gateway.core.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ServiceUnavailable,
    openai_error_body,
    status_of,
)
from gateway.pipeline.state import STATE
from gateway.services.openapi import ERROR_SCHEMA
from gateway.store.audit_base import AuditStore

log = logging.getLogger("smartflow.audit.api")

AUDIT_STORE = web.AppKey("audit_store", AuditStore)

MAX_TEXT = 256
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
T = TypeVar("T")


def _json(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def _endpoint(
    handler: Callable[[web.Request, AuditStore], Awaitable[dict[str, Any]]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Admin auth, then the handler; every GatewayError becomes OpenAI's error JSON."""

    async def handle(request: web.Request) -> web.Response:
        try:
            auth = request.app[STATE].auth
            if auth is None:
                raise AuthenticationFailed("the admin API is disabled: ADMIN_API_KEY is not set")
            auth.check(request)
            store = request.app.get(AUDIT_STORE)
            if store is None:
                raise ServiceUnavailable("the audit log is not configured on this service")
            payload = await handler(request, store)
        except GatewayError as error:
            return _json(openai_error_body(error), status_of(error), error.headers)
        return _json(payload)

    return handle


async def _from_store(call: Awaitable[T]) -> T:
    try:
        return await call
    except Exception:
        log.exception("audit store query failed")
        raise ServiceUnavailable("the audit store is unavailable; try again") from None


def _text(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    if len(value) > MAX_TEXT:
        raise InvalidRequest(f"{name}: at most {MAX_TEXT} characters", param=name)
    return value


def _time(query: Mapping[str, str], name: str) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    value = float(raw) if _NUMBER.fullmatch(raw) else math.nan
    if not 0 <= value <= MAX_TS:
        raise InvalidRequest(f"{name}: unix seconds, from 0 to {MAX_TS}", param=name)
    return value


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    value = int(raw) if _INTEGER.fullmatch(raw) else 0
    if not 1 <= value <= MAX_PAGE:
        raise InvalidRequest(f"limit: an integer from 1 to {MAX_PAGE}", param="limit")
    return value


def _filters(query: Mapping[str, str]) -> AuditQuery:
    status = query.get("status")
    try:
        status_filter = None if status is None else parse_status(status)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="status") from None
    return AuditQuery(
        since=_time(query, "since"),
        until=_time(query, "until"),
        key_id=_text(query, "key_id"),
        model=_text(query, "model"),
        status=status_filter,
        route=_text(query, "route"),
        provider=_text(query, "provider"),
        tool=_text(query, "tool"),
    )


async def list_records(request: web.Request, store: AuditStore) -> dict[str, Any]:
    query = request.query
    filters = _filters(query)
    raw_cursor = query.get("cursor")
    try:
        cursor = None if raw_cursor is None else Cursor.decode(raw_cursor)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="cursor") from None
    page = await _from_store(store.query(filters, cursor, _limit(query)))
    return {
        "records": [record.as_dict() for record in page.records],
        "next_cursor": page.next_cursor,
    }


async def spend(request: web.Request, store: AuditStore) -> dict[str, Any]:
    query = request.query
    group_by = query.get("group_by")
    if group_by not in GROUP_BYS:
        raise InvalidRequest("group_by: one of key, model, day", param="group_by")
    rows = await _from_store(
        store.spend(
            group_by,
            _time(query, "since"),
            _time(query, "until"),
            key_id=_text(query, "key_id"),
        )
    )
    return {"group_by": group_by, "rows": [row.as_dict() for row in rows]}


def add_routes(app: web.Application) -> None:
    """The store is read from `app[AUDIT_STORE]` at request time (503 until it is set)."""
    app.router.add_get("/api/audit", _endpoint(list_records))
    app.router.add_get("/api/audit/spend", _endpoint(spend))


# OpenAPI 3.1 ------------------------------------------------------------------------------------

SECURITY_SCHEME_NAME = "adminApiKey"
OPENAPI_SECURITY_SCHEMES: dict[str, Any] = {
    SECURITY_SCHEME_NAME: {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer $ADMIN_API_KEY",
    }
}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


_TIME_PARAM = {"type": "number", "minimum": 0, "maximum": MAX_TS}
_TEXT_PARAM = {"type": "string", "maxLength": MAX_TEXT}


def _param(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


_SINCE = _param("since", _TIME_PARAM, "Unix seconds; records at or after this time")
_UNTIL = _param("until", _TIME_PARAM, "Unix seconds; records before this time")
_KEY_ID = _param("key_id", _TEXT_PARAM, "Only this virtual key's requests")

_RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ts": {"type": "number", "description": "Unix seconds when the request started"},
        "request_id": {"type": "string"},
        "model_requested": {"type": "string"},
        "route": {
            "type": "string",
            "description": "chat, completions, embeddings, messages..., mcp, a2a",
        },
        "status": {"type": "integer"},
        "latency_ms": {"type": "number"},
        "key_id": _nullable("string"),
        "model_served": _nullable("string"),
        "provider": _nullable("string", description="Provider, MCP server or A2A agent"),
        "stream": {"type": "boolean"},
        "prompt_tokens": _nullable("integer"),
        "completion_tokens": _nullable("integer"),
        "cached_tokens": _nullable("integer"),
        "cost_usd": {"type": "number"},
        "upstream_ms": {"type": "number"},
        "overhead_ms": {"type": "number"},
        "cache": {"type": "string", "enum": ["miss", "hit-exact", "hit-semantic", "bypass"]},
        "compliance": _nullable("string", enum=["pass", "flag", "block", "timeout", None]),
        "client_ip": _nullable("string"),
        "error_code": _nullable("string"),
        "prompt": _nullable("string", description="Only when the key or a policy opted in"),
        "tokens_saved": {
            "type": "integer",
            "description": "A cache hit: the tokens the original answer took upstream",
        },
        "usd_saved": {
            "type": "number",
            "description": "A cache hit: what the original answer cost, in USD",
        },
        "findings": _nullable(
            "string",
            description="Compliance finding types and counts (email=2,us_ssn=1), never the text",
        ),
        "policy": _nullable(
            "string", description="The policy rule that decided (name@version:rule)"
        ),
        "policy_action": _nullable(
            "string",
            description="What it did: deny, redact, route...; shadow:<action> if not enforced",
        ),
        "tool": _nullable("string", description="The MCP tool or the A2A method"),
        "args_hash": _nullable(
            "string", description="sha256 (hex) of the call's canonical JSON arguments"
        ),
        "task_id": _nullable("string", description="The A2A task"),
    },
}
_RECORD_SCHEMA["required"] = list(_RECORD_SCHEMA["properties"])


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


_ERRORS = {
    "400": _error("A parameter is invalid"),
    "401": _error("Missing or wrong admin key"),
    "503": _error("The audit store is unavailable or not configured"),
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/audit": {
        "get": {
            "operationId": "listAuditRecords",
            "summary": "Audit records, newest first, a page at a time",
            "tags": ["audit"],
            "security": [{SECURITY_SCHEME_NAME: []}],
            "parameters": [
                _SINCE,
                _UNTIL,
                _KEY_ID,
                _param("model", _TEXT_PARAM, "The requested or the served model"),
                _param("route", _TEXT_PARAM, "chat, messages, embeddings..., mcp or a2a"),
                _param("provider", _TEXT_PARAM, "A provider, an MCP server or an A2A agent"),
                _param("tool", _TEXT_PARAM, "An MCP tool or an A2A method"),
                _param(
                    "status",
                    {"type": "string", "pattern": STATUS_PATTERN},
                    "An HTTP status (404) or a class (4xx)",
                ),
                _param(
                    "cursor",
                    {"type": "string", "pattern": CURSOR_PATTERN},
                    "next_cursor of the previous page (opaque)",
                ),
                _param(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
                    "Records per page",
                ),
            ],
            "responses": {
                "200": {
                    "description": "A page of records",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["records", "next_cursor"],
                                "properties": {
                                    "records": {"type": "array", "items": _RECORD_SCHEMA},
                                    "next_cursor": _nullable(
                                        "string",
                                        pattern=CURSOR_PATTERN,
                                        description="null on the last page",
                                    ),
                                },
                            }
                        }
                    },
                },
                **_ERRORS,
            },
        }
    },
    "/api/audit/spend": {
        "get": {
            "operationId": "auditSpend",
            "summary": "Requests, tokens and cost, per key, per requested model or per UTC day",
            "tags": ["audit"],
            "security": [{SECURITY_SCHEME_NAME: []}],
            "parameters": [
                _param(
                    "group_by",
                    {"type": "string", "enum": list(GROUP_BYS)},
                    "key, model (as requested) or day (UTC, YYYY-MM-DD)",
                    required=True,
                ),
                _SINCE,
                _UNTIL,
                _KEY_ID,
            ],
            "responses": {
                "200": {
                    "description": "One row per group",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["group_by", "rows"],
                                "properties": {
                                    "group_by": {"type": "string", "enum": list(GROUP_BYS)},
                                    "rows": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "required": [
                                                "group",
                                                "requests",
                                                "prompt_tokens",
                                                "completion_tokens",
                                                "cost_usd",
                                            ],
                                            "properties": {
                                                "group": _nullable(
                                                    "string",
                                                    description="null: requests without a key",
                                                ),
                                                "requests": {"type": "integer", "minimum": 1},
                                                "prompt_tokens": {"type": "integer"},
                                                "completion_tokens": {"type": "integer"},
                                                "cost_usd": {"type": "number"},
                                            },
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                **_ERRORS,
            },
        }
    },
}
