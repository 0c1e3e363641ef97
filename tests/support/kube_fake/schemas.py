"""The official Kubernetes object schemas (shipped offline by the `kubernetes_validate` package,
generated from the API server's own OpenAPI) and a navigator over them. Validation, strategic
merge keys, server-side-apply list semantics and the OpenAPI documents all read from here;
CRD-backed resources use their own openAPIV3Schema through the same navigator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import kubernetes_validate

from .discovery import ResourceType

#: the schema release the fake serves (its /version says v1.31)
SCHEMA_VERSION = "1.31.0"
REF_PREFIX = "#/$defs/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

Schema = Mapping[str, Any]
ANY: Schema = {}


@lru_cache(maxsize=1)
def definitions() -> dict[str, dict[str, Any]]:
    """Every definition of the v1.31 API, keyed like io.k8s.api.apps.v1.Deployment."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v{SCHEMA_VERSION}-local" / "_definitions.json"
    defs: dict[str, dict[str, Any]] = json.loads(path.read_text())["$defs"]
    return defs


@lru_cache(maxsize=1)
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if len(gvks) != 1:  # DeleteOptions, WatchEvent: shared by every group
            continue
        gvk = gvks[0]
        index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    return _gvk_index().get((group, version, kind))


def root_schema(rt: ResourceType) -> Schema | None:
    """The schema objects of `rt` must follow (None: unknown, accept anything)."""
    if rt.schema is not None:
        return crd_object_schema(rt.schema)
    name = definition_name(rt.group, rt.version, rt.kind)
    return {"$ref": REF_PREFIX + name} if name else None


def crd_object_schema(schema: Schema) -> Schema:
    """A CRD's openAPIV3Schema with the parts every object has (metadata, apiVersion, kind)."""
    props = dict(schema.get("properties") or {})
    props["metadata"] = {"$ref": REF_PREFIX + META}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    return {**schema, "type": "object", "properties": props}


def resolve(schema: Schema | None) -> Schema:
    """Follow $ref (and a lone allOf wrapper) to the schema that says what a value is."""
    node: Schema = schema or ANY
    for _ in range(20):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            node = definitions().get(ref[len(REF_PREFIX) :], ANY)
            continue
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and "properties" not in node:
            node = all_of[0]
            continue
        return node
    return node


def types(schema: Schema) -> set[str]:
    """The JSON types a schema allows, null left out ("" set: anything)."""
    if schema.get("x-kubernetes-int-or-string"):
        return {"integer", "string"}
    raw = schema.get("type")
    if isinstance(raw, list):
        found = {str(t) for t in raw}
    elif isinstance(raw, str):
        found = {raw}
    else:
        found = set()
        for alternative in schema.get("oneOf") or schema.get("anyOf") or []:
            found |= types(resolve(alternative))
        if not found and ("properties" in schema or "additionalProperties" in schema):
            found = {"object"}
    return found - {"null"}


def preserves_unknown(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def is_open_object(schema: Schema) -> bool:
    """An object whose keys are free: a map, an unstructured blob, or preserve-unknown."""
    return (
        preserves_unknown(schema)
        or "additionalProperties" in schema
        or ("properties" not in schema and not types(schema) - {"object"})
    )


def child(schema: Schema, key: str) -> Schema | None:
    """The schema of field `key` of an object (None: not declared)."""
    props = schema.get("properties")
    if isinstance(props, Mapping) and key in props:
        return resolve(props[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return resolve(extra)
    if extra is True or is_open_object(schema):
        return ANY
    return None


def items(schema: Schema) -> Schema:
    raw = schema.get("items")
    return resolve(raw) if isinstance(raw, Mapping) else ANY


def list_map_keys(schema: Schema) -> list[str]:
    """Keys identifying items of an associative list (server-side apply), [] if atomic/set."""
    if schema.get("x-kubernetes-list-type") != "map":
        return []
    return [str(k) for k in schema.get("x-kubernetes-list-map-keys") or []]


def list_type(schema: Schema) -> str:
    return str(schema.get("x-kubernetes-list-type") or "atomic")


def patch_strategy(schema: Schema) -> tuple[set[str], str | None]:
    """Strategic merge patch: the strategies of a field (merge, retainKeys) and its merge key."""
    raw = str(schema.get("x-kubernetes-patch-strategy") or "")
    key = schema.get("x-kubernetes-patch-merge-key")
    return {s for s in raw.split(",") if s}, (str(key) if key else None)


def is_atomic_map(schema: Schema) -> bool:
    return schema.get("x-kubernetes-map-type") == "atomic"
