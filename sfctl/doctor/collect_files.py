"""`--from-file`: saved dumps instead of a live cluster. Each file is what `kubectl get ... -o
json` or `-o yaml` printed (a List or one object), a multi-document YAML manifest, or the JSON of
the gateway's /api/health/comprehensive, recognised by its shape."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from sfctl.doctor.model import Inventory
from sfctl.errors import SfctlError

__all__ = ["collect_files", "is_gateway_health", "load_documents"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _fail(path: Path, why: str) -> SfctlError:
    return SfctlError(f"--from-file {path}: {why}", exit_code=2)


def is_gateway_health(doc: Mapping[str, Any]) -> bool:
    """{"status": ..., "components": {name: {"status": ...}}}, and no Kubernetes kind."""
    components = doc.get("components")
    return (
        "kind" not in doc
        and isinstance(doc.get("status"), str)
        and isinstance(components, Mapping)
        and all(isinstance(c, Mapping) and "status" in c for c in components.values())
    )


def load_documents(path: Path) -> list[Any]:
    """Every document in the file: JSON when it parses as JSON, else (multi-document) YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read it ({getattr(exc, 'strerror', None) or exc})") from exc
    if text.lstrip()[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML flow style also starts with { or [
        else:
            return doc if isinstance(doc, list) else [doc]
    try:
        return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise _fail(path, f"not valid JSON or YAML{where} ({problem})") from exc


def _objects(path: Path, docs: Iterable[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("k8s" | "health", document), refusing anything else by name."""
    for number, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            raise _fail(path, f"document {number} is a {type(doc).__name__}, not an object")
        if is_gateway_health(doc):
            yield "health", doc
        elif isinstance(doc.get("kind"), str) and doc["kind"]:
            yield "k8s", doc
        else:
            raise _fail(
                path,
                f"document {number} is neither a Kubernetes object (no `kind`) nor the JSON of "
                "/api/health/comprehensive",
            )


def collect_files(paths: Iterable[Path], inventory: Inventory | None = None) -> Inventory:
    """Read every file into one inventory; a file that cannot be read or understood raises
    SfctlError naming it (exit 2: the doctor could not run)."""
    inv = inventory if inventory is not None else Inventory()
    for path in _expand(paths):
        for what, doc in _objects(path, load_documents(path)):
            if what == "health":
                inv.gateway_health.append((str(path), doc))
            else:
                inv.add(doc)
    _dedupe(inv)
    return inv


_DUMP_SUFFIXES = frozenset({".json", ".yaml", ".yml"})


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    """A directory stands for the dumps and manifests in it (what `sfctl render k8s` writes, or
    a folder of `kubectl get` outputs), in a stable order."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        found = sorted(p for p in path.rglob("*") if p.suffix in _DUMP_SUFFIXES and p.is_file())
        if not found:
            raise _fail(path, "is a directory with no .json, .yaml or .yml file in it")
        yield from found


def _dedupe(inv: Inventory) -> None:
    """Overlapping dumps (`get all -A` and `get deploy -n smartflow`) hold the same objects
    twice: keep the first copy, so nothing is reported twice."""
    for kind, objects in inv.objects.items():
        seen: set[tuple[Any, Any]] = set()
        unique = []
        for obj in objects:
            meta = obj.get("metadata")
            key = (meta.get("namespace"), meta.get("name")) if isinstance(meta, dict) else (0, None)
            if key[1] is None or key not in seen:
                seen.add(key)
                unique.append(obj)
        inv.objects[kind] = unique
