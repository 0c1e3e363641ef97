"""A key's MCP servers, MCP tools and A2A agents (`tools`): the model, updates, both durable
stores (a record written before `tools` existed still loads), and the management API over real
HTTP on loopback."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from keys_fixtures import admin_headers, keys_gateway, pg_database

from gateway.core.keys import (
    KeyCreate,
    KeyTools,
    KeyUpdate,
    VirtualKey,
    apply_update,
    build_key,
    new_secret,
)
from gateway.store import sqlite
from gateway.store.keys_postgres import PostgresKeyRepository
from gateway.store.keys_sqlite import SqliteKeyRepository

BASE = "/api/enterprise/vkeys"
TOOLS = {"mcp_servers": ["github", "files"], "mcp_tools": ["github__*"], "a2a_agents": []}
EVERY = {"mcp_servers": None, "mcp_tools": None, "a2a_agents": None}


def make_key(**fields: Any) -> VirtualKey:
    request = KeyCreate.model_validate({"name": "tools", **fields})
    return build_key(
        request,
        key_id="key_" + os.urandom(8).hex(),
        secret=new_secret(os.urandom(32)),
        now=1_790_000_000.0,
        default_rph=None,
    )


def test_by_default_a_key_reaches_every_server_tool_and_agent() -> None:
    key = make_key()
    assert key.tools == KeyTools()
    assert key.public()["tools"] == EVERY


def test_lists_are_kept_as_given_and_round_trip_through_json() -> None:
    key = make_key(tools=TOOLS)
    assert key.tools.mcp_servers == ("github", "files")
    assert key.tools.a2a_agents == ()  # none: not the same as every one
    assert VirtualKey.model_validate_json(key.model_dump_json()) == key
    assert key.public()["tools"] == TOOLS


def test_a_record_from_before_tools_existed_loads_with_every_one_allowed() -> None:
    record = json.loads(make_key().model_dump_json())
    del record["tools"]
    assert VirtualKey.model_validate_json(json.dumps(record)).tools == KeyTools()


@pytest.mark.parametrize(
    "tools",
    [
        {"mcp_servers": [""]},
        {"mcp_tools": ["github__*", ""]},
        {"a2a_agents": ["x" * 201]},
        {"mcp_servers": "github"},  # a list, not a string
        {"mcp_server": ["github"]},  # unknown field
    ],
)
def test_bad_tool_settings_are_refused(tools: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="tools"):
        KeyCreate.model_validate({"name": "x", "tools": tools})


def test_an_update_replaces_the_tools_object_or_leaves_it() -> None:
    key = make_key(tools=TOOLS)
    untouched = apply_update(key, KeyUpdate(name="renamed"), key.updated_at + 1)
    assert untouched.tools == key.tools
    replaced = apply_update(
        key, KeyUpdate.model_validate({"tools": {"mcp_servers": ["jira"]}}), key.updated_at + 1
    )
    assert replaced.tools == KeyTools(mcp_servers=("jira",))  # as the API does for cache, limits
    cleared = apply_update(key, KeyUpdate.model_validate({"tools": None}), key.updated_at + 1)
    assert cleared.tools == KeyTools()


# --- both durable stores ------------------------------------------------------------------------


def _without_tools(record: str) -> str:
    data = json.loads(record)
    del data["tools"]
    return json.dumps(data)


async def test_sqlite_keeps_tools_and_loads_an_old_record(tmp_path: Path) -> None:
    path = tmp_path / sqlite.DB_NAME
    repository = SqliteKeyRepository(path)
    try:
        with_tools, old = make_key(tools=TOOLS), make_key()
        await repository.insert(with_tools)
        await repository.insert(old)
        with closing(sqlite3.connect(path)) as connection:
            (record,) = connection.execute(
                "SELECT record FROM virtual_keys WHERE id = ?", (old.id,)
            ).fetchone()
            connection.execute(
                "UPDATE virtual_keys SET record = ? WHERE id = ?", (_without_tools(record), old.id)
            )
            connection.commit()
        assert await repository.get(with_tools.id) == with_tools
        assert await repository.get(old.id) == old
        assert await repository.get_by_hash(old.key_hash) == old
    finally:
        await repository.close()


async def test_postgres_keeps_tools_and_loads_an_old_record() -> None:
    async with pg_database() as dsn:
        repository = await PostgresKeyRepository.connect(dsn)
        try:
            with_tools, old = make_key(tools=TOOLS), make_key()
            await repository.insert(with_tools)
            await repository.insert(old)
            connection = await asyncpg.connect(dsn)
            try:
                record = await connection.fetchval(
                    "SELECT record FROM smartflow_virtual_keys WHERE id = $1", old.id
                )
                await connection.execute(
                    "UPDATE smartflow_virtual_keys SET record = $1 WHERE id = $2",
                    _without_tools(record),
                    old.id,
                )
            finally:
                await connection.close()
            assert await repository.get(with_tools.id) == with_tools
            assert await repository.get(old.id) == old
            listed = {k.id: k.tools for k in await repository.list()}
            assert listed == {with_tools.id: with_tools.tools, old.id: KeyTools()}
        finally:
            await repository.close()


# --- the management API ------------------------------------------------------------------------


class Api:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, self.url + path, json=body, headers=admin_headers()
        ) as response:
            return response.status, await response.json()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with keys_gateway(tmp_path) as gateway, aiohttp.ClientSession() as session:
        yield Api(gateway.url, session)


async def test_the_api_creates_shows_and_updates_tools(api: Api) -> None:
    status, created = await api.call("POST", BASE, {"name": "agent", "tools": TOOLS})
    assert status == 201, created
    assert created["tools"] == TOOLS
    key_id = created["id"]
    status, shown = await api.call("GET", f"{BASE}/{key_id}")
    assert (status, shown["tools"]) == (200, TOOLS)
    status, updated = await api.call("PATCH", f"{BASE}/{key_id}", {"team": "ml"})
    assert (status, updated["tools"]) == (200, TOOLS)  # not sent: kept
    status, updated = await api.call(
        "PATCH", f"{BASE}/{key_id}", {"tools": {"a2a_agents": ["planner"]}}
    )
    assert (status, updated["tools"]) == (200, {**EVERY, "a2a_agents": ["planner"]})
    status, updated = await api.call("PATCH", f"{BASE}/{key_id}", {"tools": None})
    assert (status, updated["tools"]) == (200, EVERY)
    status, plain = await api.call("POST", BASE, {"name": "plain"})
    assert (status, plain["tools"]) == (201, EVERY)


async def test_the_api_refuses_bad_tool_settings(api: Api) -> None:
    status, body = await api.call("POST", BASE, {"name": "x", "tools": {"mcp_servers": [""]}})
    assert status == 400
    assert body["error"]["param"].startswith("tools.mcp_servers")
    status, body = await api.call("POST", BASE, {"name": "x", "tools": {"mcp_tool": ["a"]}})
    assert status == 400
    assert body["error"]["param"].startswith("tools")


async def test_the_openapi_document_describes_tools(api: Api) -> None:
    status, document = await api.call("GET", "/api/openapi.json")
    assert status == 200
    schemas = document["components"]["schemas"]
    tools = schemas["KeyTools"]["properties"]
    assert set(tools) == {"mcp_servers", "mcp_tools", "a2a_agents"}
    array = next(s for s in tools["mcp_tools"]["anyOf"] if s.get("type") == "array")
    assert array["items"]["minLength"] == 1
    assert "tools" in schemas["KeyCreate"]["properties"]
    assert "tools" in schemas["KeyUpdate"]["properties"]
    assert "tools" in schemas["KeyRecord"]["required"]
