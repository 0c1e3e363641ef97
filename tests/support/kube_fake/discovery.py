"""The resources the fake serves and the discovery documents describing them (/api, /apis,
/api/v1, /apis/<group>/<version>). CustomResourceDefinitions created through the API add their
group, versions and resources here, and deleting them takes them away, as on a real server."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUB_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "log": ("get",),
    "exec": ("create", "get"),
    "finalize": ("update",),
    "token": ("create",),
    "eviction": ("create",),
    "binding": ("create",),
}


@dataclass(frozen=True)
class ScalePaths:
    """Where a resource keeps the numbers its /scale subresource shows (JSON paths)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    scale: ScalePaths | None = None
    #: a CRD version's openAPIV3Schema (None for built-in kinds: the official schemas apply)
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    #: name of the CustomResourceDefinition that serves this resource ("" for built-ins)
    crd: str = ""
    list_kind_name: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.list_kind_name or f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: the group and the resource, the same for every version."""
        return (self.group, self.plural)


def _rt(
    gv: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    subs: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    scale: bool = False,
) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(
        group,
        version,
        plural,
        kind,
        namespaced,
        short,
        subs,
        cats,
        ScalePaths() if scale else None,
    )


ALL = ("all",)
BUILTINS: tuple[ResourceType, ...] = (
    _rt("v1", "configmaps", "ConfigMap", short=("cm",)),
    _rt("v1", "endpoints", "Endpoints", short=("ep",)),
    _rt("v1", "events", "Event", short=("ev",)),
    _rt("v1", "namespaces", "Namespace", namespaced=False, short=("ns",), subs=("finalize", "status")),
    _rt("v1", "nodes", "Node", namespaced=False, short=("no",), subs=("status",)),
    _rt("v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), subs=("status",)),
    _rt("v1", "persistentvolumes", "PersistentVolume", namespaced=False, short=("pv",), subs=("status",)),
    _rt("v1", "pods", "Pod", short=("po",), subs=("binding", "eviction", "exec", "log", "status"), cats=ALL),
    _rt("v1", "secrets", "Secret"),
    _rt("v1", "serviceaccounts", "ServiceAccount", short=("sa",), subs=("token",)),
    _rt("v1", "services", "Service", short=("svc",), subs=("status",), cats=ALL),
    _rt("apiregistration.k8s.io/v1", "apiservices", "APIService", namespaced=False, subs=("status",)),
    _rt("apps/v1", "controllerrevisions", "ControllerRevision"),
    _rt("apps/v1", "daemonsets", "DaemonSet", short=("ds",), subs=("status",), cats=ALL),
    _rt("apps/v1", "deployments", "Deployment", short=("deploy",), subs=("scale", "status"), cats=ALL, scale=True),
    _rt("apps/v1", "replicasets", "ReplicaSet", short=("rs",), subs=("scale", "status"), cats=ALL, scale=True),
    _rt("apps/v1", "statefulsets", "StatefulSet", short=("sts",), subs=("scale", "status"), cats=ALL, scale=True),
    _rt("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",), subs=("status",), cats=ALL),
    _rt("batch/v1", "cronjobs", "CronJob", short=("cj",), subs=("status",), cats=ALL),
    _rt("batch/v1", "jobs", "Job", subs=("status",), cats=ALL),
    _rt("networking.k8s.io/v1", "ingressclasses", "IngressClass", namespaced=False),
    _rt("networking.k8s.io/v1", "ingresses", "Ingress", short=("ing",), subs=("status",)),
    _rt("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _rt("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), subs=("status",)),
    _rt("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _rt("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", namespaced=False),
    _rt("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _rt("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _rt("storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False, short=("sc",)),
    _rt("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", namespaced=False),
    _rt("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", namespaced=False),
    _rt("apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False, short=("crd", "crds"), subs=("status",)),
    _rt("coordination.k8s.io/v1", "leases", "Lease"),
)  # fmt: skip


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version order: GA before beta before alpha, higher numbers first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major, level, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[level]
    return (rank, -int(major), -int(minor or 0))


def crd_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The resources one CustomResourceDefinition serves, one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group", ""))
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    found = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        scale = subs.get("scale")
        found.append(
            ResourceType(
                group,
                str(version["name"]),
                str(names.get("plural", "")),
                str(names.get("kind", "")),
                namespaced,
                tuple(names.get("shortNames") or ()),
                tuple(sorted(k for k in ("scale", "status") if k in subs)),
                tuple(names.get("categories") or ()),
                ScalePaths(
                    scale.get("specReplicasPath", ".spec.replicas"),
                    scale.get("statusReplicasPath", ".status.replicas"),
                    scale.get("labelSelectorPath"),
                )
                if isinstance(scale, dict)
                else None,
                ((version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}),
                str((crd.get("metadata") or {}).get("name", "")),
                str(names.get("listKind", "")),
            )
        )
    return found


class Registry:
    """Built-in resources plus the ones registered CRDs add. Reads take a snapshot; writes
    replace it, so request handlers never see a half-registered CRD."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crds: dict[str, tuple[ResourceType, ...]] = {}
        self._all: tuple[ResourceType, ...] = BUILTINS
        #: bumped on every CRD change (the OpenAPI documents are rebuilt from it)
        self.generation = 0

    def all(self) -> tuple[ResourceType, ...]:
        return self._all

    def set_crd(self, name: str, types: list[ResourceType]) -> None:
        with self._lock:
            self._crds[name] = tuple(types)
            self._refresh()

    def remove_crd(self, name: str) -> tuple[ResourceType, ...]:
        with self._lock:
            removed = self._crds.pop(name, ())
            self._refresh()
            return removed

    def _refresh(self) -> None:
        self._all = BUILTINS + tuple(t for types in self._crds.values() for t in types)
        self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self._all:
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self._all:
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def versions(self, group: str) -> list[str]:
        """The versions a group serves, preferred first."""
        found = {rt.version for rt in self._all if rt.group == group}
        return sorted(found, key=_version_priority)

    def groups(self) -> list[str]:
        """Named groups in the order the server lists them (built-ins first)."""
        seen: dict[str, None] = {}
        for rt in self._all:
            if rt.group:
                seen.setdefault(rt.group, None)
        return list(seen)

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._all if rt.group == group and rt.version == version]

    # --- documents ----------------------------------------------------------------------

    def api_versions(self) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}
            ],
        }

    def _group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self.versions(group)]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_group_list(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group(g) for g in self.groups()],
        }

    def api_group(self, group: str) -> dict[str, Any] | None:
        if group not in self.groups():
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group(group)}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        types = self.in_group_version(group, version)
        if not types:
            return None
        resources: list[dict[str, Any]] = []
        for rt in sorted(types, key=lambda t: t.plural):
            entry: dict[str, Any] = {
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": list(VERBS),
            }
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            entry["storageVersionHash"] = _storage_hash(rt)
            resources.append(entry)
            for sub in rt.subresources:
                sub_entry: dict[str, Any] = {
                    "name": f"{rt.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(SUB_VERBS.get(sub, ("get",))),
                }
                if sub == "scale":
                    sub_entry.update(group="autoscaling", version="v1", kind="Scale")
                elif sub in ("log", "exec"):
                    sub_entry["kind"] = "PodExecOptions" if sub == "exec" else "Pod"
                resources.append(sub_entry)
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }


def _storage_hash(rt: ResourceType) -> str:
    digest = hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()
