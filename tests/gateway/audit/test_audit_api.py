"""The audit admin API through a real aiohttp server on loopback, against its OpenAPI description."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs  # schemathesis's own validator
import pytest
from aiohttp import web
from audit_records import NOW, make_record, make_records

from gateway.core.audit import AuditRecord
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import build_tracer
from gateway.pipeline.auth import AdminKeyAuth
from gateway.pipeline.state import STATE, GatewayState
from gateway.services.audit_api import (
    AUDIT_STORE,
    OPENAPI_PATHS,
    OPENAPI_SECURITY_SCHEMES,
    add_routes,
)
from gateway.settings import load_settings
from gateway.store.audit_base import AuditStore
from gateway.store.audit_postgres import PostgresAuditStore

ADMIN_KEY = "sf-admin-test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
OPENAPI_DOC = {
    "openapi": "3.1.0",
    "info": {"title": "Smartflow audit API", "version": "1"},
    "paths": OPENAPI_PATHS,
    "components": {"securitySchemes": OPENAPI_SECURITY_SCHEMES},
}


@asynccontextmanager
async def serve(
    tmp_path: Path, store: AuditStore | None, *, admin_key: str | None = ADMIN_KEY
) -> AsyncIterator[str]:
    env = {
        "SMARTFLOW_DATA_DIR": str(tmp_path),
        **({"ADMIN_API_KEY": admin_key} if admin_key else {}),
    }
    settings = load_settings(env, service_type="api-server", host="127.0.0.1", port=0)
    app = web.Application()
    app[STATE] = GatewayState(
        settings=settings,
        metrics=GatewayMetrics(),
        tracer=build_tracer(None, "smartflow-api-server", "test"),
        auth=AdminKeyAuth(admin_key) if admin_key else None,
    )
    if store is not None:
        app[AUDIT_STORE] = store
    add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(params=["postgres", "sqlite"])
def store(request: pytest.FixtureRequest) -> AuditStore:
    store: AuditStore = request.getfixturevalue(
        "pg_store" if request.param == "postgres" else "sqlite_store"
    )
    return store


@pytest.fixture
async def records(store: AuditStore) -> list[AuditRecord]:
    batch = make_records(150)
    await store.write_batch(batch)
    return batch


@pytest.fixture
async def api(tmp_path: Path, store: AuditStore, records: list[AuditRecord]) -> AsyncIterator[str]:
    async with serve(tmp_path, store) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def response_schema(path: str, status: int) -> dict[str, Any]:
    schema: dict[str, Any] = OPENAPI_PATHS[path]["get"]["responses"][str(status)]["content"][
        "application/json"
    ]["schema"]
    return schema


async def call(
    http: aiohttp.ClientSession,
    url: str,
    path: str,
    params: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """GET, and check the answer against the OpenAPI description of that status."""
    async with http.get(
        url + path, params=params, headers=AUTH if headers is None else headers
    ) as response:
        body = await response.json()
        assert response.content_type == "application/json"
        jsonschema_rs.Draft202012Validator(response_schema(path, response.status)).validate(body)
        return response.status, body


def test_openapi_description_is_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(OPENAPI_DOC)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sk-sf-not-the-admin-key-0000000000"},
        {"Authorization": f"Basic {ADMIN_KEY}"},
    ],
)
async def test_admin_key_required(
    api: str, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    for path, params in (("/api/audit", {}), ("/api/audit/spend", {"group_by": "key"})):
        status, body = await call(http, api, path, params, headers=headers)
        assert status == 401
        assert body["error"]["type"] == "authentication_error"
        assert body["error"]["code"] == "invalid_api_key"


async def test_admin_api_off_without_an_admin_key(
    tmp_path: Path, sqlite_store: AuditStore, http: aiohttp.ClientSession
) -> None:
    async with serve(tmp_path, sqlite_store, admin_key=None) as url:
        status, body = await call(http, url, "/api/audit", {})
    assert status == 401
    assert "ADMIN_API_KEY" in body["error"]["message"]


async def test_no_store_configured_is_503(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with serve(tmp_path, None) as url:
        status, body = await call(http, url, "/api/audit/spend", {"group_by": "day"})
    assert status == 503
    assert body["error"]["code"] == "service_unavailable"


async def test_store_down_is_503_not_500(
    tmp_path: Path, pg_database: str, http: aiohttp.ClientSession
) -> None:
    store = await PostgresAuditStore.connect(pg_database)
    await store.close()  # every query now fails
    async with serve(tmp_path, store) as url:
        status, body = await call(http, url, "/api/audit", {"limit": "5"})
    assert status == 503
    assert body["error"]["type"] == "api_error"


async def walk(
    http: aiohttp.ClientSession, url: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        status, body = await call(
            http, url, "/api/audit", {**params, **({"cursor": cursor} if cursor else {})}
        )
        assert status == 200
        seen.extend(body["records"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        assert len(body["records"]) == int(params["limit"])


async def test_pages_walk_every_record_once(
    api: str, http: aiohttp.ClientSession, records: list[AuditRecord]
) -> None:
    seen = await walk(http, api, {"limit": "7"})
    assert [r["request_id"] for r in seen] == [r.request_id for r in records]  # newest first
    assert [AuditRecord.from_dict(r) for r in seen] == records


FILTERS: list[tuple[dict[str, str], Callable[[AuditRecord], bool]]] = [
    ({"key_id": "key_beta"}, lambda r: r.key_id == "key_beta"),
    ({"model": "claude-sonnet-4"}, lambda r: r.model_requested == "claude-sonnet-4"),
    ({"model": "gpt-4o-mini-2024-07-18"}, lambda r: r.model_served == "gpt-4o-mini-2024-07-18"),
    ({"status": "429"}, lambda r: r.status == 429),
    ({"status": "5xx"}, lambda r: r.status >= 500),
    ({"since": str(NOW - 37.25 * 30)}, lambda r: r.ts >= NOW - 37.25 * 30),
    (
        {"until": f"{NOW - 37.25 * 30:.0f}", "key_id": "key_alpha"},
        lambda r: r.ts < round(NOW - 37.25 * 30) and r.key_id == "key_alpha",
    ),
]


@pytest.mark.parametrize(("params", "keep"), FILTERS)
async def test_filters(
    api: str,
    http: aiohttp.ClientSession,
    records: list[AuditRecord],
    params: dict[str, str],
    keep: Callable[[AuditRecord], bool],
) -> None:
    seen = await walk(http, api, {**params, "limit": "10"})
    expected = [r.request_id for r in records if keep(r)]
    assert expected, "a filter that keeps nothing would prove little"
    assert [r["request_id"] for r in seen] == expected


TOOL_CALLS = [
    # (index, route, provider, tool, task_id): MCP calls and A2A requests as the gateway logs them
    (500, "mcp", "github", "create_issue", None),
    (501, "mcp", "github", "list_repos", None),
    (502, "mcp", "files", "list_repos", None),
    (503, "a2a", "planner", "SendMessage", "task-1"),
    (504, "a2a", "planner", "GetTask", "task-1"),
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"route": "mcp"}, [500, 501, 502]),
        ({"route": "a2a"}, [503, 504]),
        ({"provider": "github"}, [500, 501]),
        ({"tool": "list_repos"}, [501, 502]),
        ({"provider": "files", "tool": "list_repos"}, [502]),
        ({"route": "a2a", "tool": "GetTask"}, [504]),
        ({"route": "mcp", "provider": "planner"}, []),
    ],
)
async def test_tool_call_filters(
    tmp_path: Path,
    store: AuditStore,
    http: aiohttp.ClientSession,
    params: dict[str, str],
    expected: list[int],
) -> None:
    calls = {
        index: make_record(
            index,
            route=route,
            provider=provider,
            model_requested="-",
            model_served=None,
            tool=tool,
            args_hash="ab" * 32 if route == "mcp" else None,
            task_id=task_id,
        )
        for index, route, provider, tool, task_id in TOOL_CALLS
    }
    await store.write_batch([*make_records(10), *calls.values()])
    async with serve(tmp_path, store) as url:
        seen = await walk(http, url, {**params, "limit": "2"})
    assert [AuditRecord.from_dict(r) for r in seen] == [calls[index] for index in expected]


@pytest.mark.parametrize("group_by", ["key", "model", "day"])
async def test_spend_grouping(
    api: str, http: aiohttp.ClientSession, records: list[AuditRecord], group_by: str
) -> None:
    status, body = await call(http, api, "/api/audit/spend", {"group_by": group_by})
    assert status == 200
    assert body["group_by"] == group_by
    assert sum(row["requests"] for row in body["rows"]) == len(records)
    assert sum(row["cost_usd"] for row in body["rows"]) == pytest.approx(
        sum(r.cost_usd for r in records)
    )
    assert sum(row["prompt_tokens"] for row in body["rows"]) == sum(
        r.prompt_tokens or 0 for r in records
    )
    groups = [row["group"] for row in body["rows"]]
    if group_by == "key":
        assert sorted(groups, key=str) == sorted(["key_alpha", "key_beta", None], key=str)
    elif group_by == "model":
        assert sorted(groups) == ["claude-sonnet-4", "gpt-4o-mini"]


async def test_spend_of_one_key_in_a_window(
    api: str, http: aiohttp.ClientSession, records: list[AuditRecord]
) -> None:
    since, until = NOW - 37.25 * 100, NOW - 37.25 * 10
    params = {"group_by": "model", "key_id": "key_alpha", "since": str(since), "until": str(until)}
    status, body = await call(http, api, "/api/audit/spend", params)
    assert status == 200
    kept = [r for r in records if r.key_id == "key_alpha" and since <= r.ts < until]
    assert {row["group"]: row["requests"] for row in body["rows"]} == {
        model: sum(1 for r in kept if r.model_requested == model)
        for model in {r.model_requested for r in kept}
    }


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/api/audit", {"limit": "0"}, "limit"),
        ("/api/audit", {"limit": "1001"}, "limit"),
        ("/api/audit", {"limit": "ten"}, "limit"),
        ("/api/audit", {"limit": "2.5"}, "limit"),
        ("/api/audit", {"limit": "+5"}, "limit"),
        ("/api/audit", {"since": "yesterday"}, "since"),
        ("/api/audit", {"since": "-1"}, "since"),
        ("/api/audit", {"until": "nan"}, "until"),
        ("/api/audit", {"until": "1e400"}, "until"),
        ("/api/audit", {"until": "253402300800"}, "until"),
        ("/api/audit", {"status": "4XX"}, "status"),
        ("/api/audit", {"status": "600"}, "status"),
        ("/api/audit", {"status": "42"}, "status"),
        ("/api/audit", {"cursor": "eyJ0cyI6MX0"}, "cursor"),
        ("/api/audit", {"key_id": "k" * 257}, "key_id"),
        ("/api/audit/spend", {}, "group_by"),
        ("/api/audit/spend", {"group_by": "week"}, "group_by"),
        ("/api/audit/spend", {"group_by": "day", "since": "2026-11-01"}, "since"),
    ],
)
async def test_bad_parameters_are_400(
    api: str, http: aiohttp.ClientSession, path: str, params: dict[str, str], param: str
) -> None:
    status, body = await call(http, api, path, params)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param


@pytest.mark.skipif(shutil.which("schemathesis") is None, reason="schemathesis CLI not installed")
async def test_live_api_matches_its_openapi_description(
    tmp_path: Path, pg_store: PostgresAuditStore
) -> None:
    """Schemathesis, every check, positive and negative cases, against the running API."""
    await pg_store.write_batch(make_records(60))
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(OPENAPI_DOC))
    async with serve(tmp_path, pg_store) as url:
        process = await asyncio.create_subprocess_exec(
            "schemathesis", "run", str(schema), "--url", url, "-H", f"Authorization: Bearer {ADMIN_KEY}",
            "--checks", "all", "--max-examples", "60", "--seed", "1", "--no-color",
            "--generation-database", "none",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()[-6000:]
