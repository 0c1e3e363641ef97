"""MetaCache management routes: GET /api/metacache/stats (seed 000) and POST
/api/metacache/purge. Both carry the admin key."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.core.errors import InvalidRequest, ServiceUnavailable
from gateway.pipeline.state import GatewayState
from gateway.services.keys_api import json_response, validation_error
from gateway.services.openapi import errors, json_body
from gateway.services.openapi import json_response as json_response_doc

MAX_PURGE_BODY = 4096


class PurgeRequest(BaseModel):
    """Which entries to drop: both null purges everything."""

    model_config = ConfigDict(extra="forbid")

    namespace: str | None = Field(
        default=None, min_length=1, max_length=210, description="e.g. team:search, key:key_..."
    )
    model: str | None = Field(default=None, min_length=1, max_length=200)


def _admin(state: GatewayState) -> Any:
    if state.cache_admin is None:
        raise ServiceUnavailable("the response cache is not enabled on this gateway")
    return state.cache_admin


async def cache_stats(request: web.Request, state: GatewayState) -> web.Response:
    return json_response(await _admin(state).stats())


async def cache_purge(request: web.Request, state: GatewayState) -> web.Response:
    admin = _admin(state)
    raw = await request.content.read(MAX_PURGE_BODY + 1)
    if len(raw) > MAX_PURGE_BODY:
        raise InvalidRequest("the purge body is too large")
    try:
        body = PurgeRequest.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise validation_error(exc) from None
    purged = await admin.purge(body.namespace, body.model)
    return json_response({"purged": purged, "namespace": body.namespace, "model": body.model})


ROUTES = (
    ("GET", "/api/metacache/stats", cache_stats),
    ("POST", "/api/metacache/purge", cache_purge),
)

_PHASE = {
    "type": "object",
    "required": ["lookups", "hits", "hit_rate", "mean_ms"],
    "properties": {
        "lookups": {"type": "integer"},
        "hits": {"type": "integer"},
        "hit_rate": {"type": "number"},
        "mean_ms": {"type": "number"},
    },
}
_SHADOW = {
    "type": "object",
    "description": "Shadow mode: semantic hits re-asked upstream and compared",
    "properties": {
        "sampled": {"type": "integer"},
        "agreed": {"type": "integer"},
        "disagreed": {"type": "integer"},
        "false_hit_rate": {"type": ["number", "null"]},
        "false_hit_upper_95": {"type": ["number", "null"]},
    },
}
_NAMESPACE = {
    "type": "object",
    "required": ["namespace", "entries", "bytes", "hits", "misses", "hit_rate"],
    "properties": {
        "namespace": {"type": "string"},
        "entries": {"type": "integer"},
        "bytes": {"type": "integer"},
        "hits": {"type": "integer"},
        "misses": {"type": "integer"},
        "hit_rate": {"type": "number"},
        "tokens_saved": {"type": "integer"},
        "usd_saved": {"type": "number"},
        "shadow": _SHADOW,
    },
}
_STATS = {
    "type": "object",
    "required": ["mode", "replicas", "lookups", "hits", "misses", "hit_rate", "phases"],
    "properties": {
        "mode": {"type": "string", "enum": ["embedded", "shared"]},
        "degraded": {
            "type": "boolean",
            "description": "Redis does not answer: this replica's own figures only",
        },
        "replicas": {"type": "integer"},
        "embedder": {"type": ["string", "null"]},
        "threshold": {"type": ["number", "null"]},
        "lookups": {"type": "integer"},
        "hits": {"type": "integer"},
        "misses": {"type": "integer"},
        "bypassed": {"type": "integer"},
        "hit_rate": {"type": "number"},
        "stored": {"type": "integer"},
        "evicted": {"type": "integer"},
        "not_stored": {"type": "object", "additionalProperties": {"type": "integer"}},
        "tokens_saved": {"type": "integer"},
        "usd_saved": {"type": "number"},
        "entries": {"type": "integer"},
        "bytes": {"type": "integer"},
        "phases": {
            "type": "object",
            "properties": {
                phase: _PHASE for phase in ("exact_local", "exact_shared", "normalized", "semantic")
            },
        },
        "namespaces": {"type": "array", "items": _NAMESPACE},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/metacache/stats": {
        "get": {
            "operationId": "getMetacacheStats",
            "summary": "Response cache figures: hits per phase, savings, entries per namespace",
            "tags": ["cache"],
            "responses": {
                "200": json_response_doc("Summed over every proxy replica", _STATS),
                **errors("401", "503"),
            },
        }
    },
    "/api/metacache/purge": {
        "post": {
            "operationId": "purgeMetacache",
            "summary": "Drop cached answers, all of them or by namespace and model",
            "tags": ["cache"],
            "requestBody": {
                **json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "namespace": {
                                "type": ["string", "null"],
                                "minLength": 1,
                                "maxLength": 210,
                            },
                            "model": {"type": ["string", "null"], "minLength": 1, "maxLength": 200},
                        },
                    }
                ),
                "required": False,
            },
            "responses": {
                "200": json_response_doc(
                    "How many entries were dropped",
                    {
                        "type": "object",
                        "required": ["purged"],
                        "properties": {
                            "purged": {"type": "integer"},
                            "namespace": {"type": ["string", "null"]},
                            "model": {"type": ["string", "null"]},
                        },
                    },
                ),
                **errors("400", "401", "503"),
            },
        }
    },
}
