"""The management API for virtual keys, over real HTTP on loopback, against the app the factory
builds (SERVICE_TYPE=all, embedded SQLite state; one test on PostgreSQL)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from keys_fixtures import admin_headers, keys_gateway

from gateway.core.budget import window
from gateway.core.keys import hash_secret
from gateway.services import keys_api
from gateway.store.base import Admission, KeyChange, Settlement
from gateway.store.key_events import LocalKeyEvents

from support.gateway import RunningGateway
from support.procs import gateway_process

BASE = "/api/enterprise/vkeys"
SECRET = re.compile(r"sk-sf-[A-Za-z0-9_-]{43}")
KEY_ID = re.compile(r"key_[0-9a-f]{16}")
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


class Api:
    """The gateway and a session carrying the admin key."""

    def __init__(self, gateway: RunningGateway, session: aiohttp.ClientSession) -> None:
        self.gateway = gateway
        self.session = session

    async def call(
        self, method: str, path: str, *, json: Any = None, data: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = kwargs.pop("headers", admin_headers())
        async with self.session.request(
            method, self.gateway.url + path, json=json, data=data, headers=headers, **kwargs
        ) as response:
            assert response.content_type == "application/json", await response.text()
            return response.status, await response.json()

    async def create(self, **body: Any) -> dict[str, Any]:
        status, created = await self.call("POST", BASE, json={"name": "svc", **body})
        assert status == 201, created
        return dict(created)

    async def chat(self, secret: str) -> int:
        async with self.session.post(
            self.gateway.url + "/v1/chat/completions",
            json=CHAT,
            headers={"Authorization": f"Bearer {secret}"},
        ) as response:
            await response.read()
            return response.status


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    env = {"RATE_LIMIT_REQUESTS_PER_HOUR": "5000"}
    async with keys_gateway(tmp_path, env) as gateway, aiohttp.ClientSession() as session:
        yield Api(gateway, session)


def record_changes(gateway: RunningGateway) -> list[KeyChange]:
    """What the management API publishes to the other processes' key caches."""
    changes: list[KeyChange] = []
    events = gateway.state.key_events
    assert isinstance(events, LocalKeyEvents)
    events.subscribe(changes.append)
    return changes


def assert_error(status: int, body: Any, expected: int, param: str | None = None) -> None:
    assert status == expected, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param, error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", BASE),
        ("GET", BASE),
        ("GET", BASE + "/key_0123456789abcdef"),
        ("PATCH", BASE + "/key_0123456789abcdef"),
        ("POST", BASE + "/key_0123456789abcdef/revoke"),
        ("POST", BASE + "/key_0123456789abcdef/rotate"),
        ("GET", BASE + "/key_0123456789abcdef/budget"),
        ("GET", "/api/openapi.json"),
    ],
)
async def test_every_route_needs_the_admin_key(api: Api, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer sf-admin-wrong-key-0123456789"}):
        status, body = await api.call(method, path, json={"name": "x"}, headers=headers)
        assert_error(status, body, 401)
        assert body["error"]["type"] == "authentication_error"
    # a virtual key is not an admin key
    secret = (await api.create())["key"]
    status, body = await api.call(method, path, headers={"Authorization": f"Bearer {secret}"})
    assert_error(status, body, 401)


async def test_create_returns_the_secret_once_and_stores_only_its_hash(api: Api) -> None:
    created = await api.create(
        name="ci-bot",
        owner="ana@example.com",
        team="ml",
        models=["gpt-4o-mini"],
        budget={"max_usd": 12.5},
        limits={"rpm": 60},
        metadata={"ticket": "OPS-12"},
    )
    secret = created.pop("key")
    assert SECRET.fullmatch(secret)
    assert KEY_ID.fullmatch(created["id"])
    assert created["key_prefix"] == secret[:10]
    assert "key_hash" not in created
    assert created["status"] == "active"
    assert created["budget"] == {"max_usd": 12.5, "period": "monthly"}
    # the server-wide default applies where the key sets no hourly limit
    assert created["limits"] == {"rpm": 60, "rph": 5000, "tpm": None, "max_parallel": None}

    status, shown = await api.call("GET", f"{BASE}/{created['id']}")
    assert status == 200
    assert shown == created  # the same record, without the secret
    status, page = await api.call("GET", BASE)
    assert status == 200
    assert page == {"keys": [created], "offset": 0, "limit": 100}
    assert api.gateway.state.keys is not None
    stored = await api.gateway.state.keys.get(created["id"])
    assert stored is not None
    assert stored.key_hash == hash_secret(secret)
    assert await api.chat(secret) == 200  # and the proxy accepts it


async def test_list_pages(api: Api) -> None:
    ids = [(await api.create(name=f"k{i}"))["id"] for i in range(5)]
    status, page = await api.call("GET", BASE + "?offset=1&limit=3")
    assert status == 200
    assert [k["id"] for k in page["keys"]] == ids[1:4]
    assert (page["offset"], page["limit"]) == (1, 3)
    for query, param in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("offset=99999999999999999999999", "offset"),
    ]:
        status, body = await api.call("GET", f"{BASE}?{query}")
        assert_error(status, body, 400, param)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a", "limits": {"rpm": "60"}}, "limits.rpm"),  # no "60" for 60
        ({"name": "a", "limits": {"rpm": 0}}, "limits.rpm"),
        ({"name": "a", "budget": {"max_usd": -1}}, "budget.max_usd"),
        ({"name": "a", "budget": {"max_usd": 5, "period": "weekly"}}, "budget.period"),
        ({"name": "a", "models": [""]}, "models"),
        ({"name": "a", "colour": "red"}, "colour"),
        ({"name": "a", "metadata": {"n": 1}}, "metadata.n"),
        ({"name": 5}, "name"),
        (["name"], None),
    ],
)
async def test_create_refuses_bad_input_naming_the_field(
    api: Api, body: Any, param: str | None
) -> None:
    status, error = await api.call("POST", BASE, json=body)
    assert_error(status, error, 400, param)
    if param:
        assert param in error["error"]["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b'{"name": "a", "expires_at": NaN}',
        b'{"name": "a", "budget": {"max_usd": 1e999}}',
        b'{"name": "\\ud800"}',
        b"\xff\xfe",
    ],
)
async def test_create_refuses_bodies_that_are_not_finite_json(api: Api, raw: bytes) -> None:
    status, body = await api.call(
        "POST", BASE, data=raw, headers={**admin_headers(), "content-type": "application/json"}
    )
    assert_error(status, body, 400)
    status, page = await api.call("GET", BASE)
    assert page["keys"] == []


async def test_unknown_and_malformed_ids_are_404(api: Api) -> None:
    for key_id in ("key_0123456789abcdef", "nope", "key_%00", "%F0%9F%94%91", "key_" + "a" * 500):
        for method, suffix in [
            ("GET", ""),
            ("PATCH", ""),
            ("POST", "/revoke"),
            ("POST", "/rotate"),
            ("GET", "/budget"),
        ]:
            body = {"name": "x"} if method == "PATCH" else None
            status, error = await api.call(method, f"{BASE}/{key_id}{suffix}", json=body)
            assert_error(status, error, 404, "key_id")


async def test_update_changes_only_what_is_sent_and_announces_it(api: Api) -> None:
    changes = record_changes(api.gateway)
    created = await api.create(owner="ana", budget={"max_usd": 5, "period": "daily"})
    path = f"{BASE}/{created['id']}"
    status, updated = await api.call(
        "PATCH", path, json={"name": "renamed", "owner": None, "limits": {"tpm": 1000}}
    )
    assert status == 200, updated
    assert updated["name"] == "renamed"
    assert updated["owner"] is None
    assert updated["limits"] == {"rpm": None, "rph": None, "tpm": 1000, "max_parallel": None}
    assert updated["budget"] == created["budget"]
    assert updated["updated_at"] >= created["updated_at"]
    status, shown = await api.call("GET", path)
    assert shown == updated
    assert changes == [KeyChange(created["id"], hash_secret(created["key"]))]

    for body, param in [
        ({"name": None}, "name"),
        ({"metadata": None}, "metadata"),
        ({"log_prompts": None}, "log_prompts"),
        ({"budget": {"max_usd": "5"}}, "budget.max_usd"),
        ({"id": "key_0000000000000000"}, "id"),
        ({"status": "active"}, "status"),
        ({"key_hash": "00"}, "key_hash"),
    ]:
        status, error = await api.call("PATCH", path, json=body)
        assert_error(status, error, 400, param)
    status, after = await api.call("GET", path)
    assert after == updated


async def test_rotate_replaces_the_secret_and_the_old_one_stops_working(api: Api) -> None:
    changes = record_changes(api.gateway)
    created = await api.create(name="rotating")
    old = created["key"]
    assert await api.chat(old) == 200
    status, rotated = await api.call("POST", f"{BASE}/{created['id']}/rotate")
    assert status == 200, rotated
    new = rotated.pop("key")
    assert SECRET.fullmatch(new) and new != old
    assert rotated["id"] == created["id"]
    assert rotated["key_prefix"] == new[:10]
    assert changes == [KeyChange(created["id"], hash_secret(old))]  # the old hash is dropped
    assert await api.chat(old) == 401
    assert await api.chat(new) == 200
    status, shown = await api.call("GET", f"{BASE}/{created['id']}")
    assert shown == rotated


async def test_revoke_is_immediate_and_idempotent(api: Api) -> None:
    changes = record_changes(api.gateway)
    created = await api.create(name="leaked")
    secret = created.pop("key")
    assert await api.chat(secret) == 200
    path = f"{BASE}/{created['id']}"
    status, revoked = await api.call("POST", path + "/revoke")
    assert status == 200
    assert revoked["status"] == "revoked"
    assert await api.chat(secret) == 401
    status, again = await api.call("POST", path + "/revoke")
    assert status == 200
    assert again == revoked  # unchanged, not re-stamped
    assert changes == [KeyChange(created["id"], hash_secret(secret))] * 2
    status, error = await api.call("POST", path + "/rotate")
    assert_error(status, error, 409, "key_id")
    assert await api.chat(secret) == 401


async def test_a_revoke_is_not_undone_by_updates_or_a_rotate_in_flight(api: Api) -> None:
    created = await api.create(name="contended")
    path = f"{BASE}/{created['id']}"
    calls = [api.call("PATCH", path, json={"name": f"name-{n}"}) for n in range(15)]
    calls.insert(5, api.call("POST", path + "/revoke"))
    calls.insert(9, api.call("POST", path + "/rotate"))
    answers = await asyncio.gather(*calls)
    assert {status for status, _ in answers} <= {200, 409}  # a rotate after the revoke: 409
    _, final = await api.call("GET", path)
    assert final["status"] == "revoked"
    rotated = answers[9][1]
    for secret in (created["key"], rotated.get("key")):
        if secret:
            assert await api.chat(secret) == 401


async def test_budget_reports_the_current_window(api: Api) -> None:
    unlimited = await api.create(name="no-budget")
    status, report = await api.call("GET", f"{BASE}/{unlimited['id']}/budget")
    assert status == 200
    assert report == {
        "key_id": unlimited["id"],
        "budget": None,
        "window": "total",
        "spent_usd": 0.0,
        "reserved_usd": 0.0,
        "remaining_usd": None,
        "window_resets_at": None,
    }

    capped = await api.create(name="capped", budget={"max_usd": 10, "period": "daily"})
    now = time.time()
    window_id, start, end = window("daily", now)
    counters = api.gateway.state.counters
    assert counters is not None
    for reserve, actual in [(1.0, 0.75), (2.0, None)]:  # one settled, one still in flight
        admission = Admission(
            key_id=capped["id"],
            now=now,
            rpm=None,
            rph=None,
            tpm=None,
            max_parallel=None,
            tokens_estimate=100,
            reserve_usd=reserve,
            budget_usd=10.0,
            budget_window=window_id,
        )
        assert (await counters.admit(admission, start)).allowed
        if actual is not None:
            await counters.settle(
                Settlement(capped["id"], now, window_id, reserve, actual, 100, 80, False)
            )
    status, report = await api.call("GET", f"{BASE}/{capped['id']}/budget")
    assert status == 200
    assert report["budget"] == {"max_usd": 10.0, "period": "daily"}
    assert report["window"] == window_id
    assert report["window_resets_at"] == end
    assert report["spent_usd"] == pytest.approx(0.75)
    assert report["reserved_usd"] == pytest.approx(2.0)
    assert report["remaining_usd"] == pytest.approx(10 - 0.75 - 2.0)


async def test_routes_without_a_handler_stay_json_free_of_500s(api: Api) -> None:
    """Methods a route does not have are 405, with the methods it does have."""
    async with api.session.delete(
        api.gateway.url + f"{BASE}/key_0123456789abcdef", headers=admin_headers()
    ) as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) == {"GET", "PATCH"}


async def test_openapi_document_matches_the_routes(api: Api) -> None:
    status, document = await api.call("GET", "/api/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "ADMIN_API_KEY of the gateway",
    }
    for item in document["paths"].values():  # every requirement names a declared scheme
        for operation in item.values():
            for requirement in operation.get("security", document["security"]):
                assert set(requirement) <= set(schemes)
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if path.startswith(BASE)
    }
    served = {(method, path) for method, path, _ in keys_api.ROUTES}
    assert documented == served
    registered = {
        (route.method, route.resource.canonical)
        for route in api.gateway.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(BASE)
    }
    assert registered == served
    for item in document["paths"].values():
        for operation in item.values():
            assert "401" in operation["responses"]
    create = document["paths"][BASE]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/KeyCreate"
    }
    record = document["components"]["schemas"]["KeyRecord"]
    assert "key_hash" not in record["properties"]
    assert set(record["required"]) == set(record["properties"])


async def test_the_api_works_the_same_on_postgresql(tmp_path: Path, pg_dsn: str) -> None:
    async with (
        keys_gateway(tmp_path, {"DATABASE_URL": pg_dsn}) as gateway,
        aiohttp.ClientSession() as session,
    ):
        api = Api(gateway, session)
        assert type(gateway.state.keys).__name__ == "PostgresKeyRepository"
        created = await api.create(name="pg\x00key", metadata={"nul": "\x00"})
        secret = created.pop("key")
        status, page = await api.call("GET", BASE)
        assert page["keys"] == [created]
        status, rotated = await api.call("POST", f"{BASE}/{created['id']}/rotate")
        assert status == 200
        assert await api.chat(secret) == 401
        assert await api.chat(rotated["key"]) == 200
        status, revoked = await api.call("POST", f"{BASE}/{created['id']}/revoke")
        assert revoked["status"] == "revoked"
        assert await api.chat(rotated["key"]) == 401


@pytest.mark.e2e
def test_the_api_server_service_serves_keys_and_no_data_plane(tmp_path: Path) -> None:
    """SERVICE_TYPE=api-server (:7778 in deployments) as its own process."""
    env = {"SMARTFLOW_DATA_DIR": str(tmp_path / "data")}
    with gateway_process(["--service", "api-server"], env=env) as (url, _):
        created = httpx.post(url + BASE, json={"name": "mgmt"}, headers=admin_headers())
        assert created.status_code == 201, created.text
        key_id = created.json()["id"]
        shown = httpx.get(f"{url}{BASE}/{key_id}", headers=admin_headers())
        assert shown.json()["name"] == "mgmt"
        assert httpx.get(url + BASE).status_code == 401
        assert httpx.get(url + "/api/openapi.json", headers=admin_headers()).status_code == 200
        chat = httpx.post(
            url + "/v1/chat/completions",
            json=CHAT,
            headers={"Authorization": f"Bearer {created.json()['key']}"},
        )
        assert chat.status_code == 404  # the data plane is the proxy's
