"""Suppressions: an operator accepts a finding, with a reason, on the object itself (annotation
`sfctl.smartflow.io/ignore-checks`, also honoured on a workload's pod template, on the object's
Namespace, and as a Compose service label) or in a config file (`--config doctor.yaml`). A
suppressed finding is kept, marked with its reason, and does not count toward the exit code; it
is never dropped.

Annotation value: `<check-id>: <reason>` entries, separated by newlines or commas
(`webhook-timeout: managed by DigitalOcean, image-latest-tag: dev cluster`).

Config file:

    suppress:
      - check: image-latest-tag       # required, a check id
        kind: Deployment              # optional: kind, namespace, name (shell wildcards)
        namespace: staging
        name: smartflow-*
        reason: staging follows :latest on purpose   # required
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from sfctl.doctor.k8s import as_dict, dig
from sfctl.doctor.model import Finding, Inventory, ObjectRef
from sfctl.errors import SfctlError, UsageError

__all__ = [
    "ANNOTATION",
    "Rule",
    "apply_suppressions",
    "load_config",
    "parse_annotation",
    "unknown_annotation_ids",
]

ANNOTATION = "sfctl.smartflow.io/ignore-checks"
NO_REASON = "no reason given"
_SPLIT = re.compile(r",\s*(?=[A-Za-z0-9][\w.-]*\s*(?::|,|$))")
_FIELDS = ("check", "kind", "namespace", "name", "reason")


def parse_annotation(text: str) -> dict[str, str]:
    """Check id -> reason. A comma inside a reason is kept: only a comma followed by
    `<id>:` starts a new entry."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        for entry in _SPLIT.split(line):
            check, _, reason = entry.partition(":")
            if check.strip():
                out[check.strip()] = reason.strip() or NO_REASON
    return out


@dataclass(frozen=True, slots=True)
class Rule:
    """One config-file entry; kind, namespace and name are shell-style patterns."""

    check: str
    reason: str
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None

    def matches(self, finding: Finding) -> bool:
        if finding.check != self.check:
            return False
        ref = finding.object
        pairs = ((self.kind, ref.kind), (self.namespace, ref.namespace), (self.name, ref.name))
        return all(want is None or fnmatchcase(have or "", want) for want, have in pairs)


def _rule(path: Path, number: int, item: Any, known: Collection[str]) -> Rule:
    where = f"{path}: suppress entry {number}"
    if not isinstance(item, Mapping):
        raise UsageError(f"{where} must be a mapping with check and reason")
    unknown = sorted(set(map(str, item)) - set(_FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown field(s) {', '.join(unknown)} (use {_FIELDS})")
    check, reason = item.get("check"), item.get("reason")
    if not isinstance(check, str) or check not in known:
        raise UsageError(f"{where}: check {check!r} is not a check id (see sfctl doctor --list)")
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError(f"{where}: a reason is required (why is this finding accepted?)")
    extra = {k: str(item[k]) for k in ("kind", "namespace", "name") if item.get(k) is not None}
    return Rule(check=check, reason=reason.strip(), **extra)


def load_config(path: Path, known: Collection[str]) -> list[Rule]:
    """Read `--config`: a mapping with a `suppress` list (or the list itself)."""
    try:
        data = yaml.safe_load(path.expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SfctlError(f"--config {path}: cannot read it ({reason})", exit_code=2) from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"--config {path}: not valid YAML ({exc})") from exc
    if data is None:
        return []
    items = data.get("suppress", []) if isinstance(data, Mapping) else data
    if isinstance(data, Mapping) and set(map(str, data)) - {"suppress"}:
        raise UsageError(f"--config {path}: only a `suppress` list is understood")
    if not isinstance(items, list):
        raise UsageError(f"--config {path}: `suppress` must be a list")
    return [_rule(path, n, item, known) for n, item in enumerate(items, start=1)]


def _annotated(inv: Inventory) -> dict[tuple[str, str | None, str], dict[str, str]]:
    """(kind, namespace, name) -> parsed ignore-checks of every object that carries one."""
    out: dict[tuple[str, str | None, str], dict[str, str]] = {}
    for objects in inv.objects.values():
        for obj in objects:
            # the object's own annotation, else its pod template's (Helm's podAnnotations)
            template = dig(obj, "spec", "template") or dig(obj, "spec", "jobTemplate", "spec",
                                                           "template")  # fmt: skip
            for meta in (obj.get("metadata"), as_dict(template).get("metadata")):
                text = as_dict(as_dict(meta).get("annotations")).get(ANNOTATION)
                if isinstance(text, str):
                    ref = ObjectRef.of(obj)
                    out[(ref.kind, ref.namespace, ref.name)] = parse_annotation(text)
                    break
    for _, config in inv.compose:
        project = config.get("name") or None
        for name, service in (config.get("services") or {}).items():
            found = (service or {}).get("labels") or {}
            if isinstance(found, Mapping) and isinstance(found.get(ANNOTATION), str):
                key = ("ComposeService", project, str(name))
                out[key] = parse_annotation(found[ANNOTATION])
    return out


def _annotation_reason(
    finding: Finding, annotated: Mapping[tuple[str, str | None, str], dict[str, str]]
) -> str | None:
    ref = finding.object
    own = annotated.get((ref.kind, ref.namespace, ref.name), {})
    if finding.check in own:
        return own[finding.check]
    if ref.namespace and ref.kind != "ComposeService":
        return annotated.get(("Namespace", None, ref.namespace), {}).get(finding.check)
    return None


def apply_suppressions(
    findings: Iterable[Finding], inv: Inventory, rules: Iterable[Rule] = ()
) -> list[Finding]:
    """The findings, in order, suppressed ones marked with their reason and where it came from
    (the object's annotation wins over the config file)."""
    annotated = _annotated(inv)
    rules = list(rules)
    out = []
    for finding in findings:
        reason = _annotation_reason(finding, annotated)
        rule = next((r for r in rules if r.matches(finding)), None)
        if reason is not None:
            out.append(dataclasses.replace(finding, suppressed=reason, suppressed_by="annotation"))
        elif rule is not None:
            out.append(dataclasses.replace(finding, suppressed=rule.reason, suppressed_by="config"))
        else:
            out.append(finding)
    return out


def unknown_annotation_ids(inv: Inventory, known: Collection[str]) -> list[str]:
    """Notes about annotations naming no known check: a typo would silently suppress nothing."""
    notes = []
    for (kind, namespace, name), entries in sorted(
        _annotated(inv).items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
    ):
        for check in entries:
            if check not in known:
                ref = ObjectRef(kind, name, namespace)
                notes.append(f"{ref}: {ANNOTATION} names an unknown check {check!r}")
    return notes
