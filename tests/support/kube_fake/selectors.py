"""Label and field selectors with the server's grammar and errors: `a=b,c!=d,e in (x,y),
f notin (z),g,!h` for labels; `metadata.name=x,status.phase!=Running` for fields, restricted per
kind to the fields the real server indexes (anything else is a 400)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ApiError, bad_request

Predicate = Callable[[Mapping[str, Any]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


def _split(text: str) -> list[str]:
    """Split on commas that are not inside a parenthesised set."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str, requirement: str) -> None:
    if not re.fullmatch(_KEY, key.rsplit("/", maxsplit=1)[-1]) or key.count("/") > 1:
        raise bad_request(
            f"unable to parse requirement: {requirement}: invalid label key {key!r}: name part "
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character"
        )


def _check_value(value: str, requirement: str) -> None:
    if len(value) > 63 or not re.fullmatch(_VALUE, value):
        raise bad_request(
            f"unable to parse requirement: {requirement}: invalid label value: {value!r}: a "
            "valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character"
        )


def _requirement(text: str) -> Callable[[Mapping[str, str]], bool]:
    match = re.fullmatch(r"(\S+)\s+(in|notin)\s*\(([^)]*)\)", text)
    if match:
        key, op, raw = match.groups()
        _check_key(key, text)
        values = {v.strip() for v in raw.split(",") if v.strip()}
        for value in values:
            _check_value(value, text)
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    match = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", text)
    if match:
        key, op, value = match.groups()
        _check_key(key, text)
        _check_value(value, text)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if text.startswith("!"):
        key = text[1:].strip()
        _check_key(key, text)
        return lambda labels: key not in labels
    if re.fullmatch(r"\S+", text):
        _check_key(text, text)
        return lambda labels: text in labels
    raise bad_request(f"unable to parse requirement: found '{text}', expected: identifier")


def label_selector(text: str | None) -> Predicate:
    """A predicate over objects for `labelSelector` (400 Status on a malformed one)."""
    if not text:
        return lambda obj: True
    requirements = [_requirement(part) for part in _split(text)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req(labels) for req in requirements)

    return matches


def matches_label_map(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector ({matchLabels, matchExpressions}) against labels."""
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """metav1.LabelSelector as the string form /scale shows in status.selector."""
    parts = [f"{k}={v}" for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions") or []:
        op, key = expr.get("operator"), expr.get("key")
        values = ",".join(sorted(expr.get("values") or []))
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})"}.get(
                str(op), key if op == "Exists" else f"!{key}"
            )
        )
    return ",".join(parts)


# --- field selectors --------------------------------------------------------------------------

_COMMON = ("metadata.name", "metadata.namespace")
#: fields the real server can select on, per kind (beyond metadata.name/namespace)
FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "ReplicaSet": ("status.replicas",),
    "Job": ("status.successful",),
}


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    if path == "source":
        path = "source.component"
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_selector(text: str | None, kind: str) -> Predicate:
    if not text:
        return lambda obj: True
    tests: list[tuple[str, bool, str]] = []
    for part in _split(text):
        match = re.fullmatch(r"([^=!]+)(==|=|!=)(.*)", part)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = match.groups()
        if field not in _COMMON and field not in FIELDS.get(kind, ()):
            raise ApiError(400, f"field label not supported: {field}")
        tests.append((field, op != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, f) == v) == eq for f, eq, v in tests)

    return matches
