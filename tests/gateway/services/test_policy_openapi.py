"""The policy routes in /api/openapi.json: every route is described, the document is valid
OpenAPI 3.1, and what the schemas say matches what the server accepts and refuses (the fuzzing
is tests/gateway/keys/test_openapi_schemathesis.py)."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import pytest
from policy_gateway import admin_session, policy_gateway

from gateway.compliance.phones import national_format
from gateway.services import policy_api, policy_service
from gateway.services.policy_openapi import OPENAPI_SCHEMAS, SEMANTIC_ERRORS


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }


async def _document(session: aiohttp.ClientSession) -> dict[str, Any]:
    async with session.get("/api/openapi.json") as response:
        assert response.status == 200
        document: dict[str, Any] = await response.json()
        return document


@pytest.fixture
async def served(tmp_path: Path) -> Any:
    async with policy_gateway(tmp_path) as (url, _), admin_session(url) as session:
        yield session, await _document(session)


def _valid(document: dict[str, Any], name: str, body: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(body))


async def _post(session: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with session.request("PUT" if "guardrails" in path else "POST", path, json=body) as r:
        return r.status, await r.json()


def _refused_as_documented(document: dict[str, Any], path: str, method: str, error: Any) -> bool:
    refusals = document["paths"][path][method]["responses"]["400"][SEMANTIC_ERRORS]
    for refusal in refusals:
        param = error["error"]["param"]
        if error["error"]["code"] == refusal["code"] and (
            (refusal["param"] is None and param is None)
            or (refusal["param"] is not None and re.search(refusal["param"], param or ""))
        ):
            return True
    return False


async def test_every_policy_route_is_described(served: Any) -> None:
    _, document = served
    routes = {(method, path) for method, path, _ in policy_api.ROUTES + policy_service.ROUTES}
    described = {
        (method, path)
        for method, path in _operations(document)
        if path.startswith(("/api/polic", "/api/guardrails"))
    }
    assert described == routes
    assert len(routes) == 12


def test_the_document_is_openapi_3_1(served: Any) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(served[1])


async def test_the_api_server_alone_describes_only_what_it_mounts(tmp_path: Path) -> None:
    async with (
        policy_gateway(tmp_path, service="api-server") as (url, _),
        admin_session(url) as session,
    ):
        document = await _document(session)
    assert ("GET", "/api/policies") in _operations(document)
    assert ("POST", "/api/policy/evaluate") not in _operations(document)


def test_phone_regions_are_those_the_scanner_knows_in_any_case() -> None:
    pattern = OPENAPI_SCHEMAS["GuardrailConfig"]["properties"]["phone_regions"]["items"]["pattern"]
    for a in string.ascii_letters:
        for b in string.ascii_letters:
            try:
                national_format(a + b)
                known = True
            except ValueError:
                known = False
            assert (re.search(pattern, a + b) is not None) == known, a + b


POLICY = {"name": "doc-check", "rules": [{"name": "r", "action": "allow"}]}


async def test_the_schemas_say_what_the_server_accepts(served: Any) -> None:
    """The corrections to pydantic's schemas: the action shorthand, the cache action's
    either-or, the dry run's route by wire."""
    session, document = served
    shorthand = {**POLICY, "rules": [{"name": "r", "action": "log"}]}
    assert _valid(document, "Policy", shorthand)
    assert (await _post(session, "/api/policy/validate", {"document": shorthand}))[0] == 200

    for cache in ({"type": "cache"}, {"type": "cache", "namespace": "n", "bypass": True}):
        both = {**POLICY, "rules": [{"name": "r", "action": cache}]}
        assert not _valid(document, "Policy", both)
        assert (await _post(session, "/api/policy/validate", {"document": both}))[0] == 400
    for cache in ({"type": "cache", "bypass": True}, {"type": "cache", "namespace": "n"}):
        one = {**POLICY, "rules": [{"name": "r", "action": cache}]}
        assert _valid(document, "Policy", one)
        assert (await _post(session, "/api/policy/validate", {"document": one}))[0] == 200

    untyped = {**POLICY, "rules": [{"name": "r", "action": {"message": "no"}}]}
    assert not _valid(document, "Policy", untyped)
    assert (await _post(session, "/api/policy/validate", {"document": untyped}))[0] == 400

    request = {"messages": [{"role": "user", "content": "hi"}]}
    for wire, route, ok in (
        ("openai", "chat", True),
        ("anthropic", "messages", True),
        (None, "embeddings", True),
        ("anthropic", None, True),
        (None, "messages", False),
        ("anthropic", "chat", False),
    ):
        body: dict[str, Any] = {"policy": POLICY, "request": request, "route": route}
        if wire is not None:
            body["wire"] = wire
        assert _valid(document, "PolicyEvaluateRequest", body) == ok, body
        status, _ = await _post(session, "/api/policy/evaluate", body)
        assert status == (200 if ok else 400), body

    assert _valid(document, "GuardrailConfig", {"phone_regions": ["uk", "US"]})
    assert not _valid(document, "GuardrailConfig", {"phone_regions": ["XX"]})
    assert (await _post(session, "/api/guardrails", {"phone_regions": ["XX"]}))[0] == 400


async def test_schema_valid_bodies_are_refused_only_as_documented(served: Any) -> None:
    """What JSON Schema cannot say: each of these matches the schema, and the refusal is one
    the operation's 400 response lists under x-semantic-errors."""
    session, document = served
    bad_when = {**POLICY, "rules": [{"name": "r", "when": "modle == 'x'", "action": "allow"}]}
    twice = {**POLICY, "rules": [{"name": "r", "action": "allow"}, {"name": "r", "action": "log"}]}
    for policy in (bad_when, twice):
        assert _valid(document, "Policy", policy)
        for path, body in (
            ("/api/policies", policy),
            ("/api/policy/validate", {"document": policy}),
            ("/api/policy/evaluate", {"policy": policy, "request": {}}),
        ):
            status, error = await _post(session, path, body)
            assert status == 400
            assert _refused_as_documented(document, path, "post", error), (path, error)

    pattern = {"name": "p", "regex": "a*"}
    for guardrails in (
        {"patterns": [{"name": "p", "regex": "("}]},
        {"patterns": [pattern]},
        {"patterns": [{"name": "p", "regex": "x+"}, {"name": "p", "regex": "y+"}]},
        {"terms": [{"term": "   "}]},
    ):
        assert _valid(document, "GuardrailConfig", guardrails)
        status, error = await _post(session, "/api/guardrails", guardrails)
        assert status == 400
        assert _refused_as_documented(document, "/api/guardrails", "put", error), error

    status, _ = await _post(session, "/api/policies", {**POLICY, "rules": [{"name": "r"}]})
    assert status == 400  # schema-invalid (no action): refused, but not as a documented refusal
