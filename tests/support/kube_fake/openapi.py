"""OpenAPI v3 as a v1.31 server publishes it: /openapi/v3 lists one document per group-version
(with a content hash in its URL) and each document carries the paths (whose PATCH operations
declare the `fieldValidation` parameter, so Helm and kubectl leave field validation to the
server) and the real schemas of the group's kinds, converted from the official definitions.
CRDs add documents for their groups, built from their openAPIV3Schema."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from typing import Any

from . import schemas
from .discovery import Registry, ResourceType

SERVER_VERSION = "v1.31.4"
_COMPONENTS = "#/components/schemas/"
_COMMON = (
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
)
SCALE = "io.k8s.api.autoscaling.v1.Scale"


def _convert(node: Any) -> Any:
    """JSON Schema 2020-12 (kubernetes_validate's form) back to OpenAPI 3.0 (the server's)."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = str(value).replace(schemas.REF_PREFIX, _COMPONENTS)
        elif key == "type" and isinstance(value, list):
            kept = [t for t in value if t != "null"]
            out[key] = kept[0] if len(kept) == 1 else kept
        elif key == "enum":
            out[key] = [v for v in value if v is not None]
        elif key == "properties":
            out[key] = {name: _wrap(_convert(prop)) for name, prop in value.items()}
        else:
            out[key] = _convert(value)
    return out


def _wrap(prop: dict[str, Any]) -> dict[str, Any]:
    """A $ref with siblings is written as allOf in OpenAPI 3.0 (siblings of $ref are ignored)."""
    if "$ref" in prop and len(prop) > 1:
        rest = {k: v for k, v in prop.items() if k != "$ref"}
        return {"allOf": [{"$ref": prop["$ref"]}], **rest}
    return prop


def _closure(names: Iterable[str]) -> dict[str, Any]:
    """The named definitions and every definition they reference, converted."""
    defs = schemas.definitions()
    pending, found = list(names), {}
    while pending:
        name = pending.pop()
        if name in found or name not in defs:
            continue
        found[name] = _convert(defs[name])
        text = json.dumps(defs[name])
        for part in text.split('"' + schemas.REF_PREFIX)[1:]:
            pending.append(part.split('"', 1)[0])
    return dict(sorted(found.items()))


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _param(name: str, where: str = "query", *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": {"type": "string", "uniqueItems": True},
    }


_WRITE_PARAMS = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
_LIST_PARAMS = [
    _param(p)
    for p in (
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    )
]
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _operation(
    rt: ResourceType, action: str, verb: str, schema_ref: str, extra: list[dict[str, Any]]
) -> dict[str, Any]:
    scope = "Namespaced" if rt.namespaced else ""
    op: dict[str, Any] = {
        "tags": [f"{rt.group or 'core'}_{rt.version}".replace(".", "")],
        "description": f"{verb} {rt.kind}",
        "operationId": f"{verb}{scope}{rt.kind}",
        "parameters": extra,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"$ref": schema_ref}}},
            },
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rt),
    }
    if action in ("post", "put"):
        op["requestBody"] = {
            "content": {"*/*": {"schema": {"$ref": schema_ref}}},
            "required": True,
        }
    if action == "patch":
        op["parameters"] = [*extra, _param("force")]
        patch_ref = {"$ref": _COMPONENTS + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
        op["requestBody"] = {
            "content": {t: {"schema": patch_ref} for t in _PATCH_TYPES},
            "required": True,
        }
    return op


def _paths(rt: ResourceType, kind_ref: str, list_ref: str) -> dict[str, Any]:
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else "/api/v1"
    ns = "/namespaces/{namespace}" if rt.namespaced else ""
    common = [_param("pretty")] + ([_param("namespace", "path", required=True)] if ns else [])
    name = [_param("name", "path", required=True)]
    collection = f"{prefix}{ns}/{rt.plural}"
    item = f"{collection}/{{name}}"
    paths: dict[str, Any] = {
        collection: {
            "get": _operation(rt, "list", "list", list_ref, _LIST_PARAMS),
            "post": _operation(rt, "post", "create", kind_ref, _WRITE_PARAMS),
            "parameters": common,
        },
        item: {
            "get": _operation(rt, "get", "read", kind_ref, []),
            "put": _operation(rt, "put", "replace", kind_ref, _WRITE_PARAMS),
            "patch": _operation(rt, "patch", "patch", kind_ref, _WRITE_PARAMS),
            "delete": _operation(rt, "delete", "delete", kind_ref, [_param("propagationPolicy")]),
            "parameters": common + name,
        },
    }
    if "status" in rt.subresources:
        paths[f"{item}/status"] = {
            "get": _operation(rt, "get", "read", kind_ref, []),
            "put": _operation(rt, "put", "replace", kind_ref, _WRITE_PARAMS),
            "patch": _operation(rt, "patch", "patch", kind_ref, _WRITE_PARAMS),
            "parameters": common + name,
        }
    if "scale" in rt.subresources:
        scale = ResourceType("autoscaling", "v1", rt.plural, "Scale", rt.namespaced)
        ref = _COMPONENTS + SCALE
        paths[f"{item}/scale"] = {
            "get": _operation(scale, "get", "read", ref, []),
            "put": _operation(scale, "put", "replace", ref, _WRITE_PARAMS),
            "patch": _operation(scale, "patch", "patch", ref, _WRITE_PARAMS),
            "parameters": common + name,
        }
    if rt.namespaced:
        paths[f"{prefix}/{rt.plural}"] = {
            "get": _operation(rt, "list", "list", list_ref, _LIST_PARAMS),
            "parameters": [_param("pretty")],
        }
    return paths


def _crd_name(rt: ResourceType, kind: str) -> str:
    reversed_group = ".".join(reversed(rt.group.split(".")))
    return f"{reversed_group}.{rt.version}.{kind}"


def _document(types: list[ResourceType]) -> dict[str, Any]:
    roots: list[str] = list(_COMMON)
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for rt in types:
        if rt.schema is not None:
            kind_name, list_name = _crd_name(rt, rt.kind), _crd_name(rt, rt.list_kind)
            converted = _convert(schemas.crd_object_schema(rt.schema))
            converted["x-kubernetes-group-version-kind"] = [_gvk(rt)]
            components[kind_name] = converted
            components[list_name] = {
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": _COMPONENTS + kind_name}},
                    "metadata": {
                        "$ref": _COMPONENTS + "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
                    },
                },
                "x-kubernetes-group-version-kind": [{**_gvk(rt), "kind": rt.list_kind}],
            }
            roots += [schemas.META, "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"]
        else:
            kind_name = schemas.definition_name(rt.group, rt.version, rt.kind) or ""
            list_name = schemas.definition_name(rt.group, rt.version, rt.list_kind) or kind_name
            roots += [kind_name, list_name]
        if "scale" in rt.subresources:
            roots.append(SCALE)
        paths.update(_paths(rt, _COMPONENTS + kind_name, _COMPONENTS + list_name))
    components.update(_closure(roots))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
    }


_CACHE: dict[str, bytes] = {}
_CACHE_LOCK = threading.Lock()


def _fingerprint(types: tuple[ResourceType, ...]) -> str:
    """What a document is built from: equal fingerprints, equal documents (and hashes)."""
    described = [
        [
            rt.group,
            rt.version,
            rt.plural,
            rt.kind,
            rt.namespaced,
            rt.subresources,
            rt.list_kind,
            rt.schema,
        ]
        for rt in types
    ]
    return (
        hashlib.sha512(
            json.dumps([SERVER_VERSION, described], sort_keys=True, default=str).encode()
        )
        .hexdigest()
        .upper()
    )


class OpenApi:
    """The documents of a registry's group-versions; built on first request and shared by
    every fake cluster (the built-in ones are the same everywhere)."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @staticmethod
    def _path(rt: ResourceType) -> str:
        return f"apis/{rt.group}/{rt.version}" if rt.group else "api/v1"

    def _types(self, path: str) -> tuple[ResourceType, ...]:
        return tuple(rt for rt in self._registry.all() if self._path(rt) == path)

    def hash(self, path: str) -> str | None:
        types = self._types(path)
        return _fingerprint(types) if types else None

    def document(self, path: str) -> tuple[bytes, str] | None:
        """The JSON document of `path` (e.g. apis/apps/v1) and its hash, None if not served."""
        types = self._types(path)
        if not types:
            return None
        digest = _fingerprint(types)
        with _CACHE_LOCK:
            body = _CACHE.get(digest)
            if body is None:
                body = json.dumps(_document(list(types)), separators=(",", ":")).encode()
                _CACHE[digest] = body
        return body, digest

    def index(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for path in dict.fromkeys(self._path(rt) for rt in self._registry.all()):
            digest = self.hash(path)
            if digest is not None:
                paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
        return {"paths": paths}
