"""SERVICE_TYPE=api-server (:7778), also mounted by `all`: the management API.

Every route needs `Authorization: Bearer $ADMIN_API_KEY` and answers errors as OpenAI-shaped
JSON, never a 500 on any input. Route modules hand their handlers to `add_admin_routes` and their
OpenAPI path items to `add_openapi`; `GET /api/openapi.json` serves what was declared.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.core.errors import (
    AuthenticationFailed,
    GatewayError,
    PayloadTooLarge,
    openai_error_body,
    status_of,
)
from gateway.pipeline.state import STATE, GatewayState
from gateway.services import audit_api, keys_api, keys_openapi, openapi
from gateway.services.keys_api import AdminHandler, json_response

log = logging.getLogger("smartflow.api")

OPENAPI_ROUTE = "/api/openapi.json"


@dataclass(slots=True)
class OpenApiParts:
    """What route modules declared for the document; read when it is served."""

    paths: list[openapi.PathItems] = field(default_factory=list)
    schemas: list[Mapping[str, openapi.JsonSchema]] = field(default_factory=list)


OPENAPI = web.AppKey("smartflow_openapi", OpenApiParts)


def error_response(error: GatewayError) -> web.Response:
    return json_response(openai_error_body(error), status_of(error), error.headers or None)


def admin_endpoint(handler: AdminHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The admin key check and the one error-to-JSON mapping of the management API."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.Response:
        state = request.app[STATE]
        try:
            if state.auth is None:
                raise AuthenticationFailed(
                    "the management API is disabled: ADMIN_API_KEY is not set on the server"
                )
            state.auth.check(request)
            return await handler(request, state)
        except GatewayError as exc:
            return error_response(exc)
        except web.HTTPRequestEntityTooLarge:
            limit = state.settings.max_body_bytes
            return error_response(PayloadTooLarge(f"the request body is over {limit} bytes"))
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            return error_response(GatewayError("internal error in the management API"))

    return run


def add_admin_routes(app: web.Application, routes: Iterable[tuple[str, str, AdminHandler]]) -> None:
    for method, path, handler in routes:
        app.router.add_route(method, path, admin_endpoint(handler))  # no implicit HEAD


def add_openapi(
    app: web.Application,
    paths: openapi.PathItems,
    schemas: Mapping[str, openapi.JsonSchema] | None = None,
) -> None:
    """Declare path items (and their component schemas) for /api/openapi.json."""
    parts = app.get(OPENAPI)
    if parts is None:
        parts = app[OPENAPI] = OpenApiParts()
    parts.paths.append(paths)
    if schemas:
        parts.schemas.append(schemas)


async def openapi_document(request: web.Request, state: GatewayState) -> web.Response:
    parts = request.app[OPENAPI]
    document = openapi.document(parts.paths, parts.schemas, version=state.settings.build.version)
    return json_response(document)


_OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    OPENAPI_ROUTE: {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "tags": ["meta"],
            "responses": {"200": openapi.json_response("OpenAPI 3.1", {"type": "object"})},
        }
    }
}


def setup(
    app: web.Application,
    extra_paths: Iterable[openapi.PathItems] = (),
    extra_schemas: Iterable[Mapping[str, openapi.JsonSchema]] = (),
) -> None:
    """Mount the management routes. `extra_paths` / `extra_schemas`: OpenAPI declarations of
    management routes mounted elsewhere (e.g. the audit API's OPENAPI_PATHS)."""
    add_admin_routes(app, keys_api.ROUTES)
    add_admin_routes(app, [("GET", OPENAPI_ROUTE, openapi_document)])
    add_openapi(app, _OPENAPI_PATHS)
    add_openapi(app, keys_openapi.OPENAPI_PATHS, keys_openapi.OPENAPI_SCHEMAS)
    # /api/audit* are mounted beside this service by audit_api.add_routes (gateway.app)
    add_openapi(app, audit_api.OPENAPI_PATHS)
    for paths in extra_paths:
        add_openapi(app, paths)
    for schemas in extra_schemas:
        add_openapi(app, {}, schemas)
