"""What a release change would do, object by object: the dry run's manifest against the one
installed (`sfctl deploy k8s --dry-run`). Pure. Secret values never appear: their data is
replaced by a digest per key, so a changed secret shows as changed without showing it."""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
ObjectKey = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True, slots=True)
class ObjectChange:
    kind: str
    namespace: str
    name: str
    change: str  # "create" | "update" | "delete"
    diff: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def parse_manifest(text: str, default_namespace: str = "") -> dict[ObjectKey, dict[str, Any]]:
    """Every object of a multi-document manifest, by (kind, namespace, name)."""
    objects: dict[ObjectKey, dict[str, Any]] = {}
    for chunk in _SEPARATOR.split(text):
        obj = yaml.safe_load(chunk) if chunk.strip() else None
        if not isinstance(obj, dict) or "kind" not in obj:
            continue
        meta = obj.get("metadata") or {}
        key = (
            str(obj["kind"]),
            str(meta.get("namespace") or default_namespace),
            str(meta.get("name", "")),
        )
        objects[key] = _redacted(obj)
    return objects


def _redacted(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Secret":
        return obj
    clean = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            clean[field] = {
                key: "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:12]
                for key, value in obj[field].items()
            }
    return clean


def diff_manifests(installed: str, proposed: str, namespace: str = "") -> list[ObjectChange]:
    """Creates, updates (with a unified diff of the YAML) and deletes, in a stable order."""
    before = parse_manifest(installed, namespace)
    after = parse_manifest(proposed, namespace)
    changes: list[ObjectChange] = []
    for key in sorted(before.keys() | after.keys()):
        kind, ns, name = key
        if key not in before:
            changes.append(ObjectChange(kind, ns, name, "create"))
        elif key not in after:
            changes.append(ObjectChange(kind, ns, name, "delete"))
        elif before[key] != after[key]:
            old = yaml.safe_dump(before[key], sort_keys=True).splitlines()
            new = yaml.safe_dump(after[key], sort_keys=True).splitlines()
            lines = difflib.unified_diff(old, new, "installed", "proposed", n=1, lineterm="")
            changes.append(ObjectChange(kind, ns, name, "update", tuple(lines)[2:]))
    return changes
