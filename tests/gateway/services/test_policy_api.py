"""/api/policies* and /api/guardrails* over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from policy_gateway import admin_session, policy_gateway

from gateway.services.policy_api import POLICIES

from support.pg import fresh_database

Gateway = tuple[aiohttp.ClientSession, web.Application]


def guard(message: str = "no cards", **extra: Any) -> dict[str, Any]:
    return {
        "name": "finance-guard",
        "description": "cards never leave",
        "bound_to": {"teams": ["finance"]},
        "rules": [
            {
                "name": "cards",
                "when": "findings.count('payment_card') > 0",
                "action": {"type": "deny", "message": message},
            },
            {"name": "big", "when": "tokens > 32000", "action": {"type": "route", "model": "m"}},
        ],
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgres"])
async def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Gateway]:
    if request.param == "sqlite":
        async with policy_gateway(tmp_path) as (url, app), admin_session(url) as session:
            yield session, app
        return
    async with (
        fresh_database("smartflow_policy_api") as dsn,
        policy_gateway(tmp_path, {"DATABASE_URL": dsn}) as (url, app),
        admin_session(url) as session,
    ):
        yield session, app


async def call(
    session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with session.request(method, path, **kwargs) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def error(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}
    found: dict[str, Any] = body["error"]
    assert set(found) == {"message", "type", "param", "code"}
    return found


async def test_policy_lifecycle(gateway: Gateway) -> None:
    session, app = gateway
    status, created = await call(session, "POST", "/api/policies", json=guard())
    assert status == 201
    assert (created["name"], created["version"], created["note"]) == ("finance-guard", 1, "created")
    assert created["active"] and created["source"] == "store"
    assert created["document"]["version"] == 1

    status, updated = await call(session, "POST", "/api/policies", json=guard("cards stay"))
    assert (status, updated["version"], updated["note"]) == (201, 2, "updated")
    in_force = app[POLICIES].policies
    assert in_force is not None
    found = in_force.get("finance-guard")
    assert found is not None and found.policy.version == 2  # this process saw it at once

    status, listed = await call(session, "GET", "/api/policies")
    assert status == 200
    assert listed["policies"] == [
        {
            "name": "finance-guard",
            "version": 2,
            "created_at": updated["created_at"],
            "active": True,
            "note": "updated",
            "source": "store",
            "mode": "enforce",
            "description": "cards never leave",
            "bound_to": {"keys": [], "teams": ["finance"], "models": []},
            "rules": 2,
        }
    ]

    status, shown = await call(session, "GET", "/api/policies/finance-guard")
    assert (status, shown) == (200, updated)
    status, first = await call(session, "GET", "/api/policies/finance-guard/versions/1")
    assert (status, first["version"], first["active"]) == (200, 1, False)
    assert first["document"]["rules"][0]["action"]["message"] == "no cards"

    status, rolled = await call(
        session, "POST", "/api/policies/finance-guard/rollback", json={"version": 1}
    )
    assert (status, rolled["version"], rolled["note"]) == (201, 3, "rollback to v1")
    assert rolled["document"]["rules"] == first["document"]["rules"]

    status, history = await call(session, "GET", "/api/policies/finance-guard/versions")
    assert status == 200
    assert [(v["version"], v["active"], v["note"]) for v in history["versions"]] == [
        (1, False, "created"),
        (2, False, "updated"),
        (3, True, "rollback to v1"),
    ]

    status, deleted = await call(session, "DELETE", "/api/policies/finance-guard")
    assert (status, deleted) == (200, {"name": "finance-guard", "deleted": True})
    assert in_force.get("finance-guard") is None
    status, body = await call(session, "GET", "/api/policies/finance-guard")
    assert status == 404 and error(body)["code"] == "not_found"
    status, history = await call(session, "GET", "/api/policies/finance-guard/versions")
    assert status == 200 and len(history["versions"]) == 3  # history is kept
    assert (await call(session, "GET", "/api/policies"))[1] == {"policies": []}


async def test_an_invalid_policy_is_refused_precisely(gateway: Gateway) -> None:
    session, _ = gateway
    bad = guard()
    bad["rules"][1]["when"] = "tokens > 32000 && modle == 'x'"
    status, body = await call(session, "POST", "/api/policies", json=bad)
    assert status == 400
    found = error(body)
    assert found["code"] == "invalid_policy"
    assert found["param"] == "rules[1].when"
    assert found["message"].startswith("rules[1].when: ")
    assert "modle" in found["message"] and "column" in found["message"]

    bad = guard()
    bad["rules"][0]["action"] = {"type": "deny"}
    status, body = await call(session, "POST", "/api/policies", json=bad)
    assert (status, error(body)["param"]) == (400, "rules[0].action.message")

    status, body = await call(session, "POST", "/api/policies", json={**guard(), "extra": 1})
    assert status == 400 and error(body)["code"] == "invalid_policy"
    assert (await call(session, "GET", "/api/policies"))[1] == {"policies": []}


async def test_a_stale_version_is_a_conflict(gateway: Gateway) -> None:
    session, _ = gateway
    assert (await call(session, "POST", "/api/policies", json=guard(version=1)))[0] == 201
    status, same = await call(session, "POST", "/api/policies", json=guard(version=1))
    assert (status, same["version"], same["note"]) == (200, 1, "unchanged")  # applied twice
    status, body = await call(session, "POST", "/api/policies", json=guard("new", version=1))
    assert status == 409
    assert (error(body)["code"], error(body)["param"]) == ("version_conflict", "version")
    assert (await call(session, "POST", "/api/policies", json=guard("new", version=2)))[0] == 201


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/api/policies/nothing", None),
        ("GET", "/api/policies/Not%20A%20Name", None),
        ("DELETE", "/api/policies/nothing", None),
        ("GET", "/api/policies/nothing/versions", None),
        ("GET", "/api/policies/finance-guard/versions/7", None),
        ("GET", "/api/policies/finance-guard/versions/x", None),
        ("GET", "/api/policies/finance-guard/versions/99999999999999999999", None),
        ("POST", "/api/policies/finance-guard/rollback", {"version": 7}),
        ("POST", "/api/policies/nothing/rollback", {"version": 1}),
    ],
)
async def test_unknown_names_and_versions_are_404(
    gateway: Gateway, method: str, path: str, payload: Any
) -> None:
    session, _ = gateway
    await call(session, "POST", "/api/policies", json=guard())
    status, body = await call(session, method, path, json=payload)
    assert status == 404, body
    assert error(body)["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "data", "param"),
    [
        ("/api/policies", b"{not json", None),
        ("/api/policies", b"[1, 2]", None),
        ("/api/policies", b"", None),
        ("/api/policies", b'{"name": NaN}', None),
        ("/api/policies/finance-guard/rollback", b"{}", "version"),
        ("/api/policies/finance-guard/rollback", b'{"version": "1"}', "version"),
        ("/api/policies/finance-guard/rollback", b'{"version": 0}', "version"),
        ("/api/policies/finance-guard/rollback", b'{"version": 1, "x": 1}', "x"),
    ],
)
async def test_malformed_bodies_are_400(
    gateway: Gateway, path: str, data: bytes, param: str | None
) -> None:
    session, _ = gateway
    await call(session, "POST", "/api/policies", json=guard())
    headers = {"Content-Type": "application/json"}
    status, body = await call(session, "POST", path, data=data, headers=headers)
    assert status == 400, body
    assert error(body)["param"] == param


async def test_guardrails_are_versioned(gateway: Gateway) -> None:
    session, app = gateway
    status, shown = await call(session, "GET", "/api/guardrails")
    assert (status, shown["version"], shown["source"]) == (200, 0, "config")
    assert shown["config"]["profile"] == "full"

    settings = {
        "profile": "reduced",
        "patterns": [{"name": "employee", "regex": "EMP-[0-9]{6}", "type": "employee_id"}],
    }
    status, written = await call(session, "PUT", "/api/guardrails", json=settings)
    assert (status, written["version"], written["note"]) == (200, 1, "created")
    assert written["config"]["patterns"][0]["type"] == "employee_id"
    in_force = app[POLICIES].policies
    assert in_force is not None and in_force.guardrails.profile == "reduced"

    status, body = await call(
        session, "PUT", "/api/guardrails", json={"patterns": [{"name": "p", "regex": "(["}]}
    )
    assert status == 400
    assert (error(body)["code"], error(body)["param"]) == ("invalid_guardrails", "patterns[0]")
    assert "invalid regex" in error(body)["message"]
    status, body = await call(session, "PUT", "/api/guardrails", json={"profle": "full"})
    assert (status, error(body)["param"]) == (400, "profle")

    await call(session, "PUT", "/api/guardrails", json={})
    status, history = await call(session, "GET", "/api/guardrails/versions")
    assert status == 200
    assert [(v["version"], v["active"]) for v in history["versions"]] == [(1, False), (2, True)]
    assert history["versions"][0]["config"]["profile"] == "reduced"
    assert (await call(session, "GET", "/api/guardrails"))[1]["config"]["profile"] == "full"


async def test_the_admin_key_is_required(gateway: Gateway) -> None:
    session, _ = gateway
    for method, path in [("GET", "/api/policies"), ("PUT", "/api/guardrails")]:
        status, body = await call(
            session, method, path, json={}, headers={"Authorization": "Bearer wrong"}
        )
        assert status == 401 and error(body)["type"] == "authentication_error"


async def test_config_file_policies_are_listed_read_only(tmp_path: Path) -> None:
    config = {"policies": [{**guard(), "name": "deployed"}], "guardrails": {"profile": "reduced"}}
    async with policy_gateway(tmp_path, config=config) as (url, _), admin_session(url) as session:
        status, listed = await call(session, "GET", "/api/policies")
        assert status == 200
        assert [(p["name"], p["source"]) for p in listed["policies"]] == [("deployed", "config")]
        status, shown = await call(session, "GET", "/api/policies/deployed")
        assert (status, shown["source"], shown["document"]["name"]) == (200, "config", "deployed")
        status, body = await call(session, "DELETE", "/api/policies/deployed")
        assert status == 404 and "config file" in error(body)["message"]
        assert (await call(session, "GET", "/api/guardrails"))[1]["config"]["profile"] == "reduced"
        # the store's version of the name overrides the file's
        await call(session, "POST", "/api/policies", json={**guard("override"), "name": "deployed"})
        status, listed = await call(session, "GET", "/api/policies")
        assert [(p["name"], p["source"]) for p in listed["policies"]] == [("deployed", "store")]
