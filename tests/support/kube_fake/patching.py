"""The four PATCH flavours a Kubernetes API server accepts, over plain JSON values:
JSON merge patch (RFC 7386), strategic merge patch (merge keys and directives from the official
schemas), JSON patch (RFC 6902) and server-side apply (associative lists merged by their keys,
fields the same manager applied before and no longer sets removed). Also the FieldsV1 sets that
`metadata.managedFields` records."""

from __future__ import annotations

import json
from typing import Any

from . import schemas
from .schemas import ANY, Schema
from .store import clone


class PatchError(Exception):
    """A patch that cannot be applied (answered 422 by the server)."""


# --- RFC 7386 ---------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- strategic merge patch --------------------------------------------------------------------

_DIRECTIVE_PREFIXES = ("$setElementOrder/", "$deleteFromPrimitiveList/", "$retainKeys", "$patch")


def _clean(value: Any) -> Any:
    """A patch value with its directives stripped (what lands when nothing merges with it)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith(_DIRECTIVE_PREFIXES)}
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, dict) and v.get("$patch"))]
    return value


def strategic_merge(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> Any:
    """Apply a strategic merge patch; None means the patch deleted the whole map."""
    node = schemas.resolve(schema)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _clean({k: v for k, v in patch.items() if k != "$patch"})
    result = clone(original)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key.startswith(("$setElementOrder/", "$retainKeys", "$patch")):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub = schemas.child(node, key) or ANY
        current = result.get(key)
        if isinstance(value, dict):
            merged = strategic_merge(current if isinstance(current, dict) else {}, value, sub)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            strategies, merge_key = schemas.patch_strategy(sub)
            if "merge" in strategies and isinstance(current, list):
                result[key] = _merge_list(current, value, schemas.items(sub), merge_key)
            else:
                result[key] = _clean(value)
        else:
            result[key] = value
    return result


def _merge_list(
    original: list[Any], patch: list[Any], item_schema: Schema, merge_key: str | None
) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_clean(p) for p in patch if not (isinstance(p, dict) and p.get("$patch"))]
    if merge_key is None:
        return clone(original) + [p for p in patch if p not in original]
    result = clone(original)
    for item in patch:
        if not isinstance(item, dict):
            result.append(item)
            continue
        index = next(
            (
                i
                for i, have in enumerate(result)
                if isinstance(have, dict) and have.get(merge_key) == item.get(merge_key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_clean(item))
        else:
            merged = strategic_merge(result[index], item, item_schema)
            if merged is None:
                del result[index]
            else:
                result[index] = merged
    return result


# --- RFC 6902 ---------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'invalid JSON pointer: "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f'doc is missing path: "{path}": missing value')
    return node


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f'doc is missing path: "{path}": missing value')


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(f'doc is missing path: "{path}": missing value')


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return clone(value)
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f'doc is missing key: "{path}": missing value')
        parent[last] = clone(value)
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(clone(value))
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = clone(value)
            else:
                parent.insert(int(last), clone(value))
        else:
            raise PatchError(f'unable to access invalid index: "{path}"')
    else:
        raise PatchError(f'doc is missing path: "{path}": missing value')
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    result = clone(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("Unexpected kind: unknown")
        kind, path = op["op"], str(op.get("path", ""))
        if kind == "add":
            result = _add(result, path, op.get("value"))
        elif kind == "remove":
            _remove(result, path)
        elif kind == "replace":
            result = _add(result, path, op.get("value"), replace=True)
        elif kind == "move":
            value = _remove(result, str(op.get("from", "")))
            result = _add(result, path, value)
        elif kind == "copy":
            result = _add(result, path, _get(result, str(op.get("from", ""))))
        elif kind == "test":
            if _get(result, path) != op.get("value"):
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return result


# --- server-side apply ------------------------------------------------------------------------

_KEY_DEFAULTS = {"protocol": "TCP"}


def _key_of(item: Any, keys: list[str]) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        return None
    return tuple(item.get(k, _KEY_DEFAULTS.get(k)) for k in keys)


def _find(items: list[Any], keys: list[str], key: tuple[Any, ...] | None) -> int | None:
    for index, item in enumerate(items):
        if key is not None and _key_of(item, keys) == key:
            return index
    return None


def _remove_dropped(
    live: dict[str, Any], previous: dict[str, Any], new: dict[str, Any], schema: Schema
) -> None:
    """Remove from `live` what `previous` (this manager's last apply) set and `new` does not."""
    node = schemas.resolve(schema)
    for key, before in previous.items():
        if key not in live:
            continue
        if key not in new:
            del live[key]
            continue
        sub = schemas.child(node, key) or ANY
        after, have = new[key], live[key]
        if all(isinstance(v, dict) for v in (before, after, have)):
            if not schemas.is_atomic_map(sub):
                _remove_dropped(have, before, after, sub)
        elif all(isinstance(v, list) for v in (before, after, have)):
            keys = schemas.list_map_keys(sub)
            if keys:
                for item in before:
                    key_value = _key_of(item, keys)
                    index = _find(have, keys, key_value)
                    if index is None:
                        continue
                    now = _find(after, keys, key_value)
                    if now is None:
                        del have[index]
                    elif isinstance(item, dict):
                        _remove_dropped(have[index], item, after[now], schemas.items(sub))
            elif schemas.list_type(sub) == "set":
                live[key] = [v for v in have if v not in before or v in after]


def _apply_into(live: Any, applied: Any, schema: Schema) -> Any:
    node = schemas.resolve(schema)
    if not (isinstance(live, dict) and isinstance(applied, dict)) or schemas.is_atomic_map(node):
        return clone(applied)
    result = live
    for key, value in applied.items():
        if value is None:
            result.pop(key, None)
            continue
        sub = schemas.child(node, key) or ANY
        have = result.get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            result[key] = _apply_into(have, value, sub)
        elif isinstance(value, list) and isinstance(have, list):
            result[key] = _apply_list(have, value, sub)
        else:
            result[key] = clone(value)
    return result


def _apply_list(have: list[Any], applied: list[Any], schema: Schema) -> list[Any]:
    keys = schemas.list_map_keys(schema)
    if keys:
        merged: list[Any] = []
        used: set[int] = set()
        for item in applied:
            index = _find(have, keys, _key_of(item, keys))
            if index is None:
                merged.append(clone(item))
            else:
                used.add(index)
                merged.append(_apply_into(have[index], item, schemas.items(schema)))
        return merged + [item for i, item in enumerate(have) if i not in used]
    if schemas.list_type(schema) == "set":
        return clone(applied) + [v for v in have if v not in applied]
    return clone(applied)


def server_side_apply(
    live: dict[str, Any], applied: dict[str, Any], previous: dict[str, Any] | None, schema: Schema
) -> dict[str, Any]:
    """The object after `applied` (by a manager whose last applied config was `previous`)."""
    result = clone(live)
    if previous:
        _remove_dropped(result, previous, applied, schema)
    merged: dict[str, Any] = _apply_into(result, applied, schema)
    return merged


def fields_v1(value: dict[str, Any], schema: Schema, *, root: bool = True) -> dict[str, Any]:
    """The FieldsV1 set of the fields `value` sets (as managedFields records them)."""
    node = schemas.resolve(schema)
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if root and key in ("apiVersion", "kind"):
            continue
        item = raw
        if root and key == "metadata" and isinstance(raw, dict):
            item = {k: v for k, v in raw.items() if k not in ("name", "namespace")}
            if not item:
                continue
        sub = schemas.child(node, key) or ANY
        keys = schemas.list_map_keys(sub)
        if isinstance(item, dict) and item and not schemas.is_atomic_map(sub):
            out[f"f:{key}"] = fields_v1(item, sub, root=False)
        elif isinstance(item, list) and keys:
            entries: dict[str, Any] = {}
            for element in item:
                if isinstance(element, dict):
                    ident = {k: element.get(k, _KEY_DEFAULTS.get(k)) for k in keys}
                    label = "k:" + json.dumps(ident, separators=(",", ":"), sort_keys=True)
                    entries[label] = {".": {}, **fields_v1(element, schemas.items(sub), root=False)}
            out[f"f:{key}"] = entries
        elif isinstance(item, list) and schemas.list_type(sub) == "set":
            out[f"f:{key}"] = {"v:" + json.dumps(v, separators=(",", ":")): {} for v in item}
        else:
            out[f"f:{key}"] = {}
    return out
