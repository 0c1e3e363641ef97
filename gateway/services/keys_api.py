"""Virtual-key management: create, list, show, update, revoke, rotate, budget.

Handlers raise `GatewayError`s; `api_server.admin_endpoint` checks the admin key and turns errors
into OpenAI-shaped JSON. A secret exists only in the response that creates or rotates it: the
repository stores its SHA-256.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from gateway.core.budget import window
from gateway.core.errors import GatewayError, InvalidRequest, NotFound, ServiceUnavailable
from gateway.core.keys import (
    KeyCreate,
    KeyUpdate,
    VirtualKey,
    apply_update,
    build_key,
    display_prefix,
    hash_secret,
    new_secret,
)
from gateway.pipeline.state import GatewayState
from gateway.services.audit_api import AUDIT_STORE
from gateway.store.base import KeyChange, KeyRepository
from gateway.store.keys_sqlite import KeyConflict

log = logging.getLogger("smartflow.keys")

M = TypeVar("M", bound=BaseModel)
AdminHandler = Callable[[web.Request, GatewayState], Awaitable[web.Response]]

BASE = "/api/enterprise/vkeys"
KEY_ID = re.compile(r"key_[0-9a-f]{16}")
KEY_ID_PATTERN = "^key_[0-9a-f]{16}$"
MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1
NOT_NULL_ON_UPDATE = ("name", "metadata", "log_prompts")  # optional, but null has no meaning


class Conflict(GatewayError):
    status = 409
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "conflict"


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    try:
        body = orjson.dumps(payload)
    except TypeError:  # an integer beyond 64 bits, which pydantic accepts for a limit
        body = json.dumps(payload, ensure_ascii=False).encode()
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


def _field(loc: tuple[int | str, ...]) -> str | None:
    return ".".join(str(part) for part in loc) or None


def validation_error(exc: ValidationError) -> InvalidRequest:
    first = exc.errors(include_url=False)[0]
    where = _field(first["loc"])
    if first["type"] == "json_invalid":
        return InvalidRequest(f"the request body is not valid JSON: {first['msg']}")
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return InvalidRequest(message, param=where)


async def read_model(request: web.Request, model: type[M]) -> M:
    """The JSON body, validated strictly against `model`: "5" is not 5, but 5.0 is (JSON Schema
    counts an integral number as an integer, and the OpenAPI document promises JSON Schema)."""
    raw = await request.read()
    if not raw.strip():
        raise InvalidRequest("the request body must be a JSON object")
    try:
        document = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    try:
        parsed = model.model_validate(_integral(document), strict=True)
    except ValidationError as exc:
        raise validation_error(exc) from None
    bad = _non_finite(parsed.model_dump(exclude_unset=True))
    if bad is not None:
        raise InvalidRequest(f"{bad}: must be a finite number", param=bad)
    return parsed


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {name: _integral(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _non_finite(value: object, where: str = "") -> str | None:
    """The first field holding NaN or an infinity (JSON parsers let 1e999 through)."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "(body)"
    if isinstance(value, Mapping):
        for name, item in value.items():
            found = _non_finite(item, f"{where}.{name}" if where else str(name))
            if found:
                return found
    return None


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    digits = raw.lstrip("0") or "0"
    valid = raw.isascii() and raw.isdigit() and len(digits) <= 12
    if not valid or not low <= int(digits) <= high:
        raise InvalidRequest(f"{name}: must be an integer from {low} to {high}", param=name)
    return int(digits)


def _repository(state: GatewayState) -> KeyRepository:
    if state.keys is None:
        raise ServiceUnavailable("virtual keys are not configured on this service")
    return state.keys


async def _existing(state: GatewayState, request: web.Request) -> VirtualKey:
    key_id = request.match_info["key_id"]
    key = await _repository(state).get(key_id) if KEY_ID.fullmatch(key_id) else None
    if key is None:
        raise NotFound(f"no virtual key with id {key_id!r}", param="key_id")
    return key


async def _change(
    state: GatewayState, request: web.Request, change: Callable[[VirtualKey], VirtualKey]
) -> tuple[VirtualKey, VirtualKey]:
    """(before, after) of applying `change` to the key the path names; 404 if there is none."""
    key_id = request.match_info["key_id"]
    repository = _repository(state)
    result = await repository.modify(key_id, change) if KEY_ID.fullmatch(key_id) else None
    if result is None:
        raise NotFound(f"no virtual key with id {key_id!r}", param="key_id")
    return result


async def _publish(state: GatewayState, change: KeyChange) -> None:
    """Tell every replica to drop the key from its cache. The write is already durable, so a
    failure here is logged (caches expire) rather than reported as a failed change."""
    if state.key_events is None:
        return
    try:
        await state.key_events.publish(change)
    except Exception:
        log.exception("could not publish a key change", extra={"key_id": change.key_id})


def _secret() -> str:
    return new_secret(os.urandom(32))


async def create_key(request: web.Request, state: GatewayState) -> web.Response:
    body = await read_model(request, KeyCreate)
    repository = _repository(state)
    for _ in range(3):  # an id or hash collision needs 64 or 256 random bits to repeat
        secret = _secret()
        key = build_key(
            body,
            key_id="key_" + os.urandom(8).hex(),
            secret=secret,
            now=time.time(),
            default_rph=state.settings.rate_limit_requests_per_hour,
        )
        try:
            await repository.insert(key)
        except KeyConflict:
            continue
        return json_response({"key": secret, **key.public()}, status=201)
    raise GatewayError("could not allocate a unique key id")


async def list_keys(request: web.Request, state: GatewayState) -> web.Response:
    offset = _query_int(request, "offset", 0, 0, MAX_OFFSET)
    limit = _query_int(request, "limit", 100, 1, MAX_LIMIT)
    keys = await _repository(state).list(offset=offset, limit=limit)
    return json_response({"keys": [key.public() for key in keys], "offset": offset, "limit": limit})


async def show_key(request: web.Request, state: GatewayState) -> web.Response:
    return json_response((await _existing(state, request)).public())


async def update_key(request: web.Request, state: GatewayState) -> web.Response:
    body = await read_model(request, KeyUpdate)
    for name in NOT_NULL_ON_UPDATE:
        if name in body.model_fields_set and getattr(body, name) is None:
            raise InvalidRequest(f"{name}: may be left out, but not null", param=name)
    now = time.time()
    try:
        before, after = await _change(state, request, lambda key: apply_update(key, body, now))
    except ValidationError as exc:
        raise validation_error(exc) from None
    await _publish(state, KeyChange(before.id, before.key_hash))
    return json_response(after.public())


async def revoke_key(request: web.Request, state: GatewayState) -> web.Response:
    now = time.time()

    def revoke(key: VirtualKey) -> VirtualKey:
        if key.status == "revoked":
            return key  # idempotent: not re-stamped
        return key.model_copy(update={"status": "revoked", "updated_at": now})

    _, revoked = await _change(state, request, revoke)
    await _publish(state, KeyChange(revoked.id, revoked.key_hash))  # again on a repeat: harmless
    return json_response(revoked.public())


async def rotate_key(request: web.Request, state: GatewayState) -> web.Response:
    secret = _secret()
    now = time.time()

    def rotate(key: VirtualKey) -> VirtualKey:
        if key.status == "revoked":
            raise Conflict(f"key {key.id} is revoked: create a new key instead", param="key_id")
        update = {"key_hash": hash_secret(secret), "key_prefix": display_prefix(secret)}
        return key.model_copy(update={**update, "updated_at": now})

    before, rotated = await _change(state, request, rotate)
    await _publish(state, KeyChange(before.id, before.key_hash))  # the old hash stops working
    return json_response({"key": secret, **rotated.public()})


async def key_budget(request: web.Request, state: GatewayState) -> web.Response:
    key = await _existing(state, request)
    budget = key.budget
    window_id, start, end = window(budget.period if budget else "total", time.time())
    spent = reserved = 0.0
    audit = request.app.get(AUDIT_STORE)
    if budget is None and audit is not None:
        # keys without limits or a budget skip the counters: the audit log holds their spend
        spent = await audit.spent_since(key.id, start)
    elif state.counters is not None:
        spend = await state.counters.spend(key.id, window_id, start)
        spent, reserved = spend.spent_usd, spend.reserved_usd
    return json_response(
        {
            "key_id": key.id,
            "budget": budget.model_dump(mode="json") if budget else None,
            "window": window_id,
            "spent_usd": spent,
            "reserved_usd": reserved,
            "remaining_usd": max(0.0, budget.max_usd - spent - reserved) if budget else None,
            "window_resets_at": end if budget else None,
        }
    )


ROUTES: tuple[tuple[str, str, AdminHandler], ...] = (
    ("POST", BASE, create_key),
    ("GET", BASE, list_keys),
    ("GET", BASE + "/{key_id}", show_key),
    ("PATCH", BASE + "/{key_id}", update_key),
    ("POST", BASE + "/{key_id}/revoke", revoke_key),
    ("POST", BASE + "/{key_id}/rotate", rotate_key),
    ("GET", BASE + "/{key_id}/budget", key_budget),
)
