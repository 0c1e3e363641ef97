"""The doctor's contract: what a check receives (an `Inventory`), what it returns (`Finding`s),
and how checks are declared (`@check`). Checks are pure: no I/O, no clock; collectors fill the
inventory from a cluster, saved dumps, a Compose project, a Caddyfile or the management API."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Check",
    "Finding",
    "Inventory",
    "ObjectRef",
    "Severity",
    "check",
]

K8sObject = Mapping[str, Any]  # a Kubernetes object as the API serves it (JSON)


class Severity(enum.IntEnum):
    """Ordered, so `--fail-on warning` means warning and above."""

    INFO = 10
    WARNING = 20
    ERROR = 30

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """What a finding is about: a Kubernetes object, a Compose service (kind `ComposeService`),
    a Caddyfile site block (kind `CaddyRoute`) or a gateway dependency (kind `GatewayComponent`)."""

    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: K8sObject) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            kind=str(obj.get("kind", "")),
            name=str(meta.get("name", "")),
            namespace=meta.get("namespace"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # the check id, e.g. "webhook-timeout"
    severity: Severity
    object: ObjectRef
    message: str  # what is wrong, why it matters and what to change: JSON, SARIF, --explain
    suppressed: str | None = None  # the reason, when an annotation or config file suppresses it
    suppressed_by: str | None = None  # where: "annotation" or "config" (SARIF's inSource/external)
    headline: str | None = None  # what is wrong in a line or two: the terminal report's default

    @property
    def short(self) -> str:
        """What the terminal report shows without --explain (a short message is its own)."""
        return self.headline or self.message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check,
            "severity": self.severity.label,
            "object": self.object.to_dict(),
            "message": self.message,
        }
        if self.suppressed is not None:
            out["suppressed"] = self.suppressed
        return out


@dataclass(slots=True)
class Inventory:
    """Everything the collectors found. Kubernetes objects are kept by kind (`Deployment`, `Pod`,
    `ValidatingWebhookConfiguration`, ...) exactly as the API returns them; Compose projects as
    their `docker compose config` JSON; Caddyfiles as text; the gateway's
    /api/health/comprehensive JSON as returned; pod metrics from metrics.k8s.io when available."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    compose: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (source, config)
    caddyfiles: list[tuple[str, str]] = field(default_factory=list)  # (source, text)
    gateway_health: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (source, json)
    pod_metrics: list[dict[str, Any]] = field(default_factory=list)  # metrics.k8s.io PodMetrics
    notes: list[str] = field(default_factory=list)  # what a collector could not fetch, and why
    # lookup indexes per kind, rebuilt when that kind's list is replaced or grows: checks look
    # objects up by name and namespace for every pod, which a scan would make quadratic
    _index: dict[tuple[str, str], tuple[int, int, dict[Any, Any]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def add(self, obj: Mapping[str, Any]) -> None:
        """Add one object, unpacking `List` kinds (what `kubectl get -o json` prints)."""
        kind = str(obj.get("kind", ""))
        if kind.endswith("List") and isinstance(obj.get("items"), list):
            item_kind = kind.removesuffix("List")  # raw API lists (PodList) omit items' kind
            for item in obj["items"]:
                if isinstance(item, Mapping):
                    self.add(item if item.get("kind") or not item_kind else
                             {**item, "kind": item_kind})  # fmt: skip
            return
        if kind == "PodMetrics":
            self.pod_metrics.append(dict(obj))
            return
        self.objects.setdefault(kind, []).append(dict(obj))

    def merge(self, other: Inventory) -> None:
        """Take in what another collector found (several sources feed one run)."""
        for kind, objects in other.objects.items():
            self.objects.setdefault(kind, []).extend(objects)
        self.compose.extend(other.compose)
        self.caddyfiles.extend(other.caddyfiles)
        self.gateway_health.extend(other.gateway_health)
        self.pod_metrics.extend(other.pod_metrics)
        self.notes.extend(other.notes)

    def of_kind(self, *kinds: str) -> Iterator[dict[str, Any]]:
        for kind in kinds:
            yield from self.objects.get(kind, ())

    def named(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The first object of `kind` with this namespace and name (objects are values: one is
        never renamed in place after the checks start reading)."""
        index: dict[tuple[str | None, str], dict[str, Any]] = self._indexed(kind, "name")
        return index.get((namespace, name))

    def in_namespace(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """The objects of `kind` in one namespace, in inventory order."""
        index: dict[str | None, list[dict[str, Any]]] = self._indexed(kind, "namespace")
        return index.get(namespace, [])

    def _indexed(self, kind: str, by: str) -> dict[Any, Any]:
        objects = self.objects.get(kind, [])
        cached = self._index.get((kind, by))
        if cached is not None and cached[0] == id(objects) and cached[1] == len(objects):
            return cached[2]
        index: dict[Any, Any] = {}
        for obj in objects:
            meta = obj.get("metadata")
            meta = meta if isinstance(meta, Mapping) else {}
            if by == "name":
                index.setdefault((meta.get("namespace"), meta.get("name")), obj)
            else:
                index.setdefault(meta.get("namespace"), []).append(obj)
        self._index[(kind, by)] = (id(objects), len(objects), index)
        return index

    @property
    def has_cluster_objects(self) -> bool:
        return bool(self.objects)


CheckFn = Callable[[Inventory], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    severity: Severity  # the default severity of its findings
    groups: frozenset[str]  # e.g. {"kubernetes", "upgrade"}, {"compose"}, {"caddy"}, {"runtime"}
    summary: str  # one line for `sfctl doctor --list`
    fn: CheckFn

    def __call__(self, inventory: Inventory) -> list[Finding]:
        return list(self.fn(inventory))


def check(
    id: str, severity: Severity, *, groups: Iterable[str], summary: str
) -> Callable[[CheckFn], Check]:
    """Declare a check: the decorated function becomes a `Check`. Ids are the public names
    (`--check`, `--skip`, suppressions): keep them. `sfctl.doctor.checks.all_checks()` gathers
    every `Check` defined in its modules, so there is no registry to mutate."""

    def declare(fn: CheckFn) -> Check:
        return Check(id, severity, frozenset(groups), summary, fn)

    return declare
