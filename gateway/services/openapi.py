"""The management API's OpenAPI 3.1 document, assembled from what each route module declares.

A route module exports `OPENAPI_PATHS` (path items, referring to shared components by
`ref(...)`) and, when it has bodies of its own, `OPENAPI_SCHEMAS` (from `model_schemas`). The
document is built from pydantic's JSON schemas of the very models the handlers validate with, so
it cannot drift from what the server accepts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

JsonSchema = dict[str, Any]
PathItems = Mapping[str, Mapping[str, Any]]
SCHEMA_PREFIX = "#/components/schemas/"
SECURITY_SCHEME = "adminApiKey"  # the name the audit API's operations refer to as well
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

ERROR_SCHEMA: JsonSchema = {
    "type": "object",
    "description": "OpenAI's error shape",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"], "description": "the field at fault"},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

ERROR_DESCRIPTIONS = {
    "400": "The request is malformed; `error.param` names the field",
    "401": "Missing or wrong admin key",
    "404": "No such resource",
    "409": "The resource is in a state that does not allow this",
    "413": "The request body is too large",
    "414": "The request URI (path and query) is longer than the gateway accepts",
    "431": "A request header field is too large, or there are too many of them",
    "503": "The service is not configured for this",
}


def ref(name: str) -> JsonSchema:
    return {"$ref": SCHEMA_PREFIX + name}


def model_schemas(
    models: Iterable[tuple[type[BaseModel], Literal["validation", "serialization"]]],
) -> dict[str, JsonSchema]:
    """Component schemas of pydantic models (and the models they use), keyed by model name."""
    _, definitions = models_json_schema(list(models), ref_template=SCHEMA_PREFIX + "{model}")
    return dict(definitions.get("$defs", {}))


def json_content(schema: JsonSchema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def json_response(description: str, schema: JsonSchema) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema)}


def json_body(schema: JsonSchema) -> dict[str, Any]:
    return {"required": True, "content": json_content(schema)}


# Any operation may answer these: the admin key check, and the HTTP parser's limits
# (gateway.http_limits), which refuse a request before it reaches a route.
EVERY_OPERATION_ERRORS = ("401", "414", "431")


def errors(*statuses: str) -> dict[str, Any]:
    """Error responses for an operation (`document` adds EVERY_OPERATION_ERRORS to each)."""
    return {status: {"$ref": f"#/components/responses/Error{status}"} for status in statuses}


def document(
    path_groups: Iterable[PathItems],
    schemas: Iterable[Mapping[str, JsonSchema]] = (),
    *,
    title: str = "Smartflow management API",
    version: str = "0",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document. Every operation needs the admin bearer key and may answer 401;
    any may answer 414 or 431 (a URI or header over the server's limits)."""
    paths: dict[str, dict[str, Any]] = {}
    for group in path_groups:
        for path, item in group.items():
            merged = paths.setdefault(path, {})
            for method, operation in copy.deepcopy(dict(item)).items():
                if method in merged:
                    raise ValueError(f"OpenAPI: {method.upper()} {path} is declared twice")
                if method in METHODS:
                    responses = operation.setdefault("responses", {})
                    for status, response in errors(*EVERY_OPERATION_ERRORS).items():
                        responses.setdefault(status, response)
                merged[method] = operation
    components: dict[str, JsonSchema] = {"Error": ERROR_SCHEMA}
    for group_schemas in schemas:
        components.update(copy.deepcopy(dict(group_schemas)))
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                f"Error{status}": json_response(description, ref("Error"))
                for status, description in ERROR_DESCRIPTIONS.items()
            },
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "ADMIN_API_KEY of the gateway",
                }
            },
        },
    }
