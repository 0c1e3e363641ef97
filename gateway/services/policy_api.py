"""Guardrail management: /api/policies* and /api/guardrails* (api-server, and `all`).

Every write goes through the store, which validates it (`compile_policy`: a bad document is a
400 `invalid_policy` whose `param` is where the problem is, e.g. `rules[2].when`) and appends a
version; this process's PolicySet is refreshed at once, other replicas within their refresh
interval. Policies from the SMARTFLOW_CONFIG file are listed and shown (`source: config`) but
are read-only here. Errors are OpenAI-shaped JSON through `api_server.admin_endpoint`.

`add_policy_context(app)` opens the store and the PolicySet for any service that needs them
(this API, policy-perfect, the proxy); it is idempotent, so `all` opens them once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from gateway.compliance.config import GuardrailConfig
from gateway.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from gateway.pipeline.state import STATE, GatewayState
from gateway.policy.compile import CompiledPolicy
from gateway.policy.registry import PolicySet, keep_fresh
from gateway.policy.store import (
    UNCHANGED,
    VERSION_MAX,
    PolicyStore,
    StoredPolicy,
    open_policy_store,
)
from gateway.services.api_server import add_admin_routes, add_openapi
from gateway.services.keys_api import AdminHandler, json_response, read_model

BASE = "/api/policies"
GUARDRAILS = "/api/guardrails"
_DIGITS = re.compile(r"[0-9]{1,10}")


@dataclass(slots=True)
class PolicyRuntime:
    """The store and the policies in force; filled in while the app runs."""

    store: PolicyStore | None = None
    policies: PolicySet | None = None


POLICIES = web.AppKey("smartflow_policies", PolicyRuntime)


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=VERSION_MAX)


def add_policy_context(app: web.Application) -> PolicyRuntime:
    """Open the policy store and the PolicySet with the app (once, however often called)."""
    runtime = app.get(POLICIES)
    if runtime is None:
        runtime = app[POLICIES] = PolicyRuntime()
        app.cleanup_ctx.append(_policy_context)
    return runtime


async def _policy_context(app: web.Application) -> AsyncIterator[None]:
    runtime = app[POLICIES]
    settings = app[STATE].settings
    async with open_policy_store(settings) as store:
        policies = PolicySet(store, settings.config.policies, settings.config.guardrails)
        await policies.refresh()
        runtime.store, runtime.policies = store, policies
        poller = asyncio.create_task(keep_fresh(policies, settings.compliance.refresh_s))
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            runtime.store = runtime.policies = None


def runtime_of(request: web.Request) -> tuple[PolicyStore, PolicySet]:
    runtime = request.app.get(POLICIES)
    if runtime is None or runtime.store is None or runtime.policies is None:
        raise ServiceUnavailable("policies are not configured on this service")
    return runtime.store, runtime.policies


async def read_object(request: web.Request) -> dict[str, Any]:
    """The JSON body, which must be an object (NaN and infinities refused)."""
    raw = await request.read()
    try:
        document = from_json(raw, allow_inf_nan=False) if raw.strip() else None
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return document


def _config_entry(compiled: CompiledPolicy) -> dict[str, Any]:
    """A config-file policy as the API shows it (no history: it changes with the file)."""
    return {
        "name": compiled.policy.name,
        "version": compiled.policy.version,
        "created_at": None,
        "active": True,
        "note": "from the config file",
        "source": "config",
        "document": compiled.policy.model_dump(mode="json"),
    }


def _listed(entry: dict[str, Any]) -> dict[str, Any]:
    document = entry.pop("document")
    return {
        **entry,
        "mode": document.get("mode", "enforce"),
        "description": document.get("description", ""),
        "bound_to": document.get("bound_to", {}),
        "rules": len(document.get("rules", ())),
    }


def _stored(stored: StoredPolicy) -> dict[str, Any]:
    return {**stored.public(), "source": "store"}


async def list_policies(request: web.Request, state: GatewayState) -> web.Response:
    store, policies = runtime_of(request)
    entries = [_stored(p) for p in await store.active()]
    names = {entry["name"] for entry in entries}
    for compiled in policies.policies():
        if compiled.policy.name not in names and _in_config(state, compiled.policy.name):
            entries.append(_config_entry(compiled))
    entries.sort(key=lambda entry: str(entry["name"]))
    return json_response({"policies": [_listed(entry) for entry in entries]})


async def create_policy(request: web.Request, state: GatewayState) -> web.Response:
    store, policies = runtime_of(request)
    stored = await store.put(await read_object(request))
    if stored.note == UNCHANGED:  # the active version already says this: nothing written
        return json_response(_stored(stored))
    await policies.refresh()
    return json_response(_stored(stored), status=201)


async def show_policy(request: web.Request, state: GatewayState) -> web.Response:
    store, policies = runtime_of(request)
    name = request.match_info["name"]
    try:
        return json_response(_stored(await store.get(name)))
    except NotFound:
        compiled = policies.get(name)
        if compiled is None or not _in_config(state, name):
            raise
        return json_response(_config_entry(compiled))


def _in_config(state: GatewayState, name: str) -> bool:
    return any(document.get("name") == name for document in state.settings.config.policies)


async def delete_policy(request: web.Request, state: GatewayState) -> web.Response:
    store, policies = runtime_of(request)
    name = request.match_info["name"]
    try:
        await store.delete(name)
    except NotFound:
        if _in_config(state, name):
            raise NotFound(
                f"policy '{name}' comes from the config file (SMARTFLOW_CONFIG) and cannot be "
                "deleted through the API",
                param="name",
            ) from None
        raise
    await policies.refresh()
    return json_response({"name": name, "deleted": True})


async def policy_versions(request: web.Request, state: GatewayState) -> web.Response:
    store, _ = runtime_of(request)
    name = request.match_info["name"]
    versions = await store.versions(name)
    return json_response({"name": name, "versions": [v.summary() for v in versions]})


async def policy_version(request: web.Request, state: GatewayState) -> web.Response:
    store, _ = runtime_of(request)
    name, raw = request.match_info["name"], request.match_info["version"]
    if not _DIGITS.fullmatch(raw):
        raise NotFound(f"policy '{name}' has no version {raw!r}", param="version")
    return json_response(_stored(await store.get(name, int(raw))))


async def rollback_policy(request: web.Request, state: GatewayState) -> web.Response:
    store, policies = runtime_of(request)
    body = await read_model(request, RollbackBody)
    stored = await store.rollback(request.match_info["name"], body.version)
    await policies.refresh()
    return json_response(_stored(stored), status=201)


def _guardrails_entry(stored: StoredPolicy | None, policies: PolicySet) -> dict[str, Any]:
    if stored is not None:
        return {**stored.summary(), "source": "store", "config": stored.document}
    return {
        "name": "guardrails",
        "version": 0,
        "created_at": None,
        "active": True,
        "note": "never written: the config file's settings or the defaults",
        "source": "config",
        "config": policies.guardrails.model_dump(mode="json"),
    }


async def show_guardrails(request: web.Request, state: GatewayState) -> web.Response:
    store, policies = runtime_of(request)
    return json_response(_guardrails_entry(await store.guardrails_version(), policies))


async def put_guardrails(request: web.Request, state: GatewayState) -> web.Response:
    store, policies = runtime_of(request)
    document = await read_object(request)
    try:
        config = GuardrailConfig.model_validate(document)
    except ValidationError as exc:
        raise guardrails_error(exc) from None
    stored = await store.put_guardrails(config)
    if stored.note != UNCHANGED:
        await policies.refresh()
    return json_response(_guardrails_entry(stored, policies))


async def guardrail_versions(request: web.Request, state: GatewayState) -> web.Response:
    store, _ = runtime_of(request)
    versions = await store.guardrail_versions()
    return json_response({"versions": [{**v.summary(), "config": v.document} for v in versions]})


def guardrails_error(exc: ValidationError) -> InvalidRequest:
    """The first problem, located as `patterns[0].regex`."""
    first = exc.errors(include_url=False)[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    text = f"{where}: {message}" if where else message
    return InvalidRequest(text, code="invalid_guardrails", param=where or None)


ROUTES: tuple[tuple[str, str, AdminHandler], ...] = (
    ("GET", BASE, list_policies),
    ("POST", BASE, create_policy),
    ("GET", BASE + "/{name}", show_policy),
    ("DELETE", BASE + "/{name}", delete_policy),
    ("GET", BASE + "/{name}/versions", policy_versions),
    ("GET", BASE + "/{name}/versions/{version}", policy_version),
    ("POST", BASE + "/{name}/rollback", rollback_policy),
    ("GET", GUARDRAILS, show_guardrails),
    ("PUT", GUARDRAILS, put_guardrails),
    ("GET", GUARDRAILS + "/versions", guardrail_versions),
)


def setup(app: web.Application) -> None:
    """Mount the policy and guardrail management routes (and open the store with the app)."""
    from gateway.services import policy_openapi  # it imports this module's models

    add_policy_context(app)
    add_admin_routes(app, ROUTES)
    add_openapi(app, policy_openapi.MANAGEMENT_PATHS, policy_openapi.OPENAPI_SCHEMAS)
