"""The OpenAPI description of the virtual-key routes (gateway.services.keys_api).

Bodies are pydantic's JSON schemas of the very models the handlers validate with; where a handler
refuses more than its model does, the schema is tightened here to say so.
"""

from __future__ import annotations

from typing import Any

from gateway.core.keys import KeyCreate, KeyUpdate, VirtualKey
from gateway.services.keys_api import (
    BASE,
    KEY_ID_PATTERN,
    MAX_LIMIT,
    MAX_OFFSET,
    NOT_NULL_ON_UPDATE,
)
from gateway.services.openapi import JsonSchema, errors, json_body, model_schemas, ref
from gateway.services.openapi import json_response as json_response_doc


def _schemas() -> dict[str, JsonSchema]:
    schemas = model_schemas(
        [(KeyCreate, "validation"), (KeyUpdate, "validation"), (VirtualKey, "serialization")]
    )
    # KeyCreate's validator refuses empty model names; JSON Schema says so with minLength
    for branch in schemas["KeyCreate"]["properties"]["models"]["anyOf"]:
        if branch.get("type") == "array":
            branch["items"]["minLength"] = 1
    update = schemas["KeyUpdate"]["properties"]
    for name in NOT_NULL_ON_UPDATE:  # null passes the model but is refused (see update_key)
        update[name] = next(s for s in update[name]["anyOf"] if s.get("type") != "null")
    record = schemas.pop("VirtualKey")
    record["properties"].pop("key_hash")
    record.update(title="KeyRecord", required=list(record["properties"]))
    record["description"] = "A virtual key as the API shows it (never its secret or hash)."
    record["properties"]["id"]["pattern"] = KEY_ID_PATTERN
    created = {
        **record,
        "title": "CreatedKey",
        "description": "The record with its secret, which is shown this once only.",
        "properties": {"key": SECRET_SCHEMA, **record["properties"]},
        "required": ["key", *record["required"]],
    }
    nullable_number = {"type": ["number", "null"]}
    return {
        **schemas,
        "KeyRecord": record,
        "CreatedKey": created,
        "KeyList": {
            "type": "object",
            "required": ["keys", "offset", "limit"],
            "properties": {
                "keys": {"type": "array", "items": ref("KeyRecord")},
                "offset": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1},
            },
        },
        "KeyBudgetStatus": {
            "type": "object",
            "required": [
                "key_id",
                "budget",
                "window",
                "spent_usd",
                "reserved_usd",
                "remaining_usd",
                "window_resets_at",
            ],
            "properties": {
                "key_id": {"type": "string"},
                "budget": {"anyOf": [ref("KeyBudget"), {"type": "null"}]},
                "window": {
                    "type": "string",
                    "description": "total, d<YYYYMMDD> or m<YYYYMM> (UTC)",
                },
                "spent_usd": {"type": "number"},
                "reserved_usd": {"type": "number", "description": "held by requests in flight"},
                "remaining_usd": nullable_number,
                "window_resets_at": nullable_number,
            },
        },
    }


SECRET_SCHEMA: JsonSchema = {"type": "string", "pattern": "^sk-sf-[A-Za-z0-9_-]{43}$"}
KEY_ID_PARAMETER = {
    "name": "key_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": KEY_ID_PATTERN},
}
_FOLLOW_UPS = {
    "ShowKey": "getKey",
    "UpdateKey": "updateKey",
    "RevokeKey": "revokeKey",
    "RotateKey": "rotateKey",
    "KeyBudget": "getKeyBudget",
}
_LINKS = {
    name: {"operationId": operation, "parameters": {"key_id": "$response.body#/id"}}
    for name, operation in _FOLLOW_UPS.items()
}


def _on_key(
    operation_id: str, summary: str, ok: JsonSchema, *failures: str, **extra: Any
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["keys"],
        "parameters": [KEY_ID_PARAMETER],
        "responses": {"200": json_response_doc("OK", ok), **errors(*failures, "404", "503")},
        **extra,
    }


OPENAPI_SCHEMAS = _schemas()
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    BASE: {
        "post": {
            "operationId": "createKey",
            "summary": "Create a virtual key; the secret is in this response only",
            "tags": ["keys"],
            "requestBody": json_body(ref("KeyCreate")),
            "responses": {
                "201": {**json_response_doc("Created", ref("CreatedKey")), "links": _LINKS},
                **errors("400", "413", "503"),
            },
        },
        "get": {
            "operationId": "listKeys",
            "summary": "List virtual keys in creation order",
            "tags": ["keys"],
            "parameters": [
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                },
            ],
            "responses": {
                "200": json_response_doc("OK", ref("KeyList")),
                **errors("400", "503"),
            },
        },
    },
    BASE + "/{key_id}": {
        "get": _on_key("getKey", "Show a virtual key", ref("KeyRecord")),
        "patch": _on_key(
            "updateKey",
            "Change the fields sent (null clears an optional field)",
            ref("KeyRecord"),
            "400",
            "413",
            requestBody=json_body(ref("KeyUpdate")),
        ),
    },
    BASE + "/{key_id}/revoke": {
        "post": _on_key("revokeKey", "Revoke a key (idempotent)", ref("KeyRecord")),
    },
    BASE + "/{key_id}/rotate": {
        "post": _on_key(
            "rotateKey",
            "Replace the secret; the old one stops working. The new one is shown once",
            ref("CreatedKey"),
            "409",
        ),
    },
    BASE + "/{key_id}/budget": {
        "get": _on_key(
            "getKeyBudget", "Spend in the current budget window", ref("KeyBudgetStatus")
        ),
    },
}
