"""Server-side field validation against the official schemas, the way a v1.31 API server does
it: unknown fields are dropped (fieldValidation=Ignore/Warn, with a warning for Warn) or refused
(Strict, which Helm 4 asks for), values of the wrong type are always refused. The messages
follow the server's: server-side apply reports `.spec.x: field not declared in schema`, a create
or update reports `strict decoding error: unknown field "spec.x"`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import schemas
from .discovery import ResourceType
from .errors import ApiError
from .schemas import Schema


@dataclass(frozen=True)
class Problem:
    apply_path: str  # .spec.template.spec.containers[name="gateway"].image
    decode_path: str  # spec.template.spec.containers[0].image
    unknown: bool
    expected: str = ""
    got: str = ""


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fits(value: Any, allowed: set[str]) -> bool:
    if not allowed:
        return True
    if isinstance(value, bool):
        return "boolean" in allowed
    if isinstance(value, int):
        return bool(allowed & {"integer", "number"})
    if isinstance(value, float):
        return "number" in allowed or ("integer" in allowed and value.is_integer())
    if isinstance(value, str):
        return "string" in allowed
    if isinstance(value, list):
        return "array" in allowed
    return isinstance(value, dict) and "object" in allowed


def _expected(allowed: set[str]) -> str:
    if allowed <= {"integer", "number"}:
        return "numeric (int or float)"
    if allowed == {"object"}:
        return "map"
    if allowed == {"array"}:
        return "list"
    return " or ".join(sorted(allowed))


def _item_label(item: Any, keys: list[str], index: int) -> str:
    if keys and isinstance(item, dict) and all(k in item for k in keys):
        return "[" + ",".join(f"{k}={json_quote(item[k])}" for k in keys) + "]"
    return f"[{index}]"


def json_quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def walk(
    value: Any, schema: Schema, apply_path: str, decode_path: str, prune: bool
) -> list[Problem]:
    """Problems under `value`; with `prune`, unknown fields are removed in place."""
    if value is None:
        return []
    node = schemas.resolve(schema)
    allowed = schemas.types(node)
    if not _fits(value, allowed):
        return [Problem(apply_path, decode_path, False, _expected(allowed), _json_type(value))]
    found: list[Problem] = []
    if isinstance(value, dict) and ("properties" in node or "additionalProperties" in node):
        for key in list(value):
            sub = schemas.child(node, key)
            where_apply = f"{apply_path}.{key}"
            where_decode = f"{decode_path}.{key}" if decode_path else key
            if sub is None:
                if schemas.preserves_unknown(node):
                    continue
                found.append(Problem(where_apply, where_decode, True))
                if prune:
                    del value[key]
                continue
            found += walk(value[key], sub, where_apply, where_decode, prune)
    elif isinstance(value, list) and "items" in node:
        item_schema = schemas.items(node)
        keys = schemas.list_map_keys(node)
        for index, item in enumerate(value):
            label = _item_label(item, keys, index)
            found += walk(item, item_schema, apply_path + label, f"{decode_path}[{index}]", prune)
    return found


def validate(
    rt: ResourceType,
    obj: dict[str, Any],
    *,
    directive: str,
    apply: bool,
    warnings: list[str],
) -> None:
    """Check `obj` (pruning unknown fields unless Strict) or raise the server's error."""
    schema = schemas.root_schema(rt)
    if schema is None:
        return
    strict = directive == "Strict"
    problems = walk(obj, schema, "", "", prune=not strict)
    if not problems:
        return
    wrong = [p for p in problems if not p.unknown]
    unknown = [p for p in problems if p.unknown]
    meta = obj.get("metadata") or {}
    if apply:
        reported = wrong + (unknown if strict else [])
        if reported:
            where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {rt.api_version}, Kind={rt.kind}"
            lines = [
                f"{p.apply_path}: field not declared in schema"
                if p.unknown
                else f"{p.apply_path}: expected {p.expected}, got {p.got}"
                for p in reported
            ]
            text = lines[0] if len(lines) == 1 else "errors:\n  " + "\n  ".join(lines)
            # a v1.31 server answers these with a 500 whose reason is empty (kubernetes#122480)
            raise ApiError(500, f"failed to create typed patch object ({where}): {text}", reason="")
    else:
        prefix = f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}'
        if wrong:
            p = wrong[0]
            raise ApiError(
                400,
                f"{prefix}: json: cannot unmarshal {p.got} into Go struct field "
                f"{p.decode_path} of type {p.expected}",
            )
        if strict:
            listed = ", ".join(f'unknown field "{p.decode_path}"' for p in unknown)
            raise ApiError(400, f"{prefix}: strict decoding error: {listed}")
    if directive == "Warn":
        warnings += [f'unknown field "{p.decode_path}"' for p in unknown]
