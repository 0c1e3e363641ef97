"""Pods saved for an offline audit: what `kubectl get pods -o json` printed (a `List`), what
the API answers (a `PodList`), single Pods, several JSON documents one after another (a loop of
`kubectl get pod X -o json`), or YAML documents separated by `---` (`-o yaml`). Anything else
is one line saying what the file holds instead and how to save pods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from sfctl.errors import UsageError

SAVE_HINT = "save them with `kubectl get pods -n NAMESPACE -o json > pods.json`"


def read_pods(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every pod in `paths`, each once (the same pod saved twice is the later copy)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        for pod in pods_in(path):
            meta = pod.get("metadata") or {}
            key = (str(meta.get("namespace") or ""), str(meta.get("uid") or meta.get("name")))
            found[key] = pod
    return list(found.values())


def pods_in(path: Path) -> list[dict[str, Any]]:
    """The pods of one file; a `UsageError` line when it cannot be read or holds none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text (UTF-8)"
        raise UsageError(f"{path}: cannot read it ({reason})") from None
    pods: list[dict[str, Any]] = []
    others: dict[str, None] = {}
    for obj in _objects(_documents(path, text)):
        kind = obj.get("kind")
        if kind == "Pod" or (kind is None and _looks_like_pod(obj)):
            pods.append(obj)
        else:
            others[str(kind or "objects without a kind")] = None
    if not pods:
        if others:
            raise UsageError(f"{path}: no pods in it (it holds {', '.join(others)}): {SAVE_HINT}")
        raise UsageError(f"{path}: no pods in it (an empty list): {SAVE_HINT}")
    return pods


def _documents(path: Path, text: str) -> list[Any]:
    """JSON (one document or several in a row), else YAML (`---` between documents)."""
    if not text.strip():
        raise UsageError(f"{path}: the file is empty: {SAVE_HINT}")
    stripped = text.lstrip()
    if stripped[:1] in "{[":
        try:
            return list(_json_documents(stripped))
        except ValueError:
            pass  # YAML flow style starts the same way; let YAML have a go
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{path}: neither JSON nor YAML{where}: {SAVE_HINT}") from None


def _json_documents(text: str) -> Iterator[Any]:
    decoder = json.JSONDecoder()
    position = 0
    while position < len(text):
        document, end = decoder.raw_decode(text, position)
        yield document
        position = end
        while position < len(text) and text[position].isspace():
            position += 1


def _objects(documents: list[Any]) -> Iterator[dict[str, Any]]:
    """Objects, with lists (`List`, `PodList`, a bare JSON array) opened up."""
    for document in documents:
        if isinstance(document, list):
            yield from (item for item in document if isinstance(item, dict))
        elif isinstance(document, dict):
            kind = str(document.get("kind") or "")
            items = document.get("items")
            if kind.endswith("List") and isinstance(items, list):
                item_kind = kind.removesuffix("List") or None  # PodList's items have no kind
                for item in items:
                    if isinstance(item, dict):
                        yield {"kind": item_kind, **item} if item_kind else item
            else:
                yield document
        else:
            yield {"kind": "text, not Kubernetes objects"}


def _looks_like_pod(obj: dict[str, Any]) -> bool:
    spec = obj.get("spec")
    return isinstance(spec, dict) and isinstance(spec.get("containers"), list)
