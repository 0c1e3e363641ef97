"""Reading Kubernetes objects as the API serves them (plain JSON): label selectors, quantities,
pod templates, scheduling. Pure helpers shared by the checks; nothing here knows Smartflow."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sfctl.doctor.model import Inventory, ObjectRef

__all__ = [
    "PodSource",
    "Target",
    "annotations_of",
    "as_dict",
    "as_list",
    "containers",
    "dig",
    "find",
    "hpa_for",
    "ingress_paths",
    "iter_env",
    "labels_of",
    "namespace_labels",
    "node_admits",
    "parse_bytes",
    "parse_cpu",
    "pod_sources",
    "resolve_backend",
    "selector_matches",
    "service_selects",
]

# kinds whose spec holds a pod template, and where it is
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)([a-zA-Z]*)$")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(as_dict(obj.get("metadata")).get("labels")).items()}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = as_dict(obj.get("metadata"))
    return {str(k): str(v) for k, v in as_dict(meta.get("annotations")).items()}


def dig(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj
    for key in path:
        value = as_dict(value).get(key)
    return value


# --- selectors -------------------------------------------------------------------------------


def _requirement(labels: Mapping[str, str], req: Mapping[str, Any]) -> bool:
    key, op = str(req.get("key", "")), str(req.get("operator", ""))
    values = [str(v) for v in as_list(req.get("values"))]
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):  # node selector terms only
        try:
            have, want = int(labels[key]), int(values[0])
        except (KeyError, IndexError, ValueError):
            return False
        return have > want if op == "Gt" else have < want
    return False  # an operator we do not know selects nothing, like the API server rejects it


def selector_matches(
    selector: Mapping[str, Any] | None, labels: Mapping[str, str], *, null_matches: bool = False
) -> bool:
    """A metav1.LabelSelector: `{}` selects everything; a missing (null) selector selects
    nothing unless `null_matches` (webhook namespaceSelector/objectSelector default to `{}`)."""
    if selector is None:
        return null_matches
    match_labels = as_dict(selector.get("matchLabels"))
    if any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    return all(_requirement(labels, as_dict(r)) for r in as_list(selector.get("matchExpressions")))


def service_selects(service: Mapping[str, Any], source: PodSource) -> bool:
    """A Service's plain-map selector; a Service without one selects no pods."""
    selector = as_dict(dig(service, "spec", "selector"))
    if not selector or ObjectRef.of(service).namespace != source.namespace:
        return False
    return all(source.labels.get(str(k)) == str(v) for k, v in selector.items())


# --- quantities ------------------------------------------------------------------------------


def parse_cpu(value: Any) -> float | None:
    """CPU quantity in cores: `4`, `3.5`, `3920m`. None when it cannot be read."""
    text = str(value).strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None


def parse_bytes(value: Any) -> float | None:
    """A Kubernetes memory quantity in bytes: `512Mi`, `1G`, `1e9` (`m` is milli, as the API
    reads it). None when it cannot be read."""
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    number, suffix = float(match.group(1)), match.group(2)
    if not suffix:
        return number
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix == "m":
        return number / 1000
    return None


# --- objects ---------------------------------------------------------------------------------


def find(inv: Inventory, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
    return inv.named(kind, namespace, name)


def namespace_labels(inv: Inventory, name: str) -> dict[str, str]:
    """A namespace's labels; one the inventory lacks still has the label every namespace has
    carried since Kubernetes 1.21 (`kubernetes.io/metadata.name`)."""
    found = find(inv, "Namespace", None, name)
    out = labels_of(found) if found is not None else {}
    out.setdefault("kubernetes.io/metadata.name", name)
    return out


def containers(spec: Mapping[str, Any], *, init: bool = False) -> list[dict[str, Any]]:
    found = [c for c in as_list(spec.get("containers")) if isinstance(c, dict)]
    if init:
        found += [c for c in as_list(spec.get("initContainers")) if isinstance(c, dict)]
    return found


@dataclass(frozen=True, slots=True)
class PodSource:
    """Pods as a workload will create them (its template), or a pod no known workload owns.
    Checks on pods read these, so a Deployment is reported once, not once per replica."""

    obj: dict[str, Any]  # the Deployment, StatefulSet, ... or the Pod itself
    ref: ObjectRef
    namespace: str
    labels: dict[str, str]
    spec: dict[str, Any]  # the pod spec

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def replicas(self) -> int | None:
        """spec.replicas where the kind has it (the API defaults it to 1); None otherwise."""
        if self.kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
            value = dig(self.obj, "spec", "replicas")
            return int(value) if isinstance(value, int) else 1
        return None

    def containers(self, *, init: bool = False) -> list[dict[str, Any]]:
        return containers(self.spec, init=init)

    def ports(self) -> dict[str, int]:
        """Container ports by name (numbers under their own text too), to resolve a Service's
        targetPort, which may name a port."""
        out: dict[str, int] = {}
        for container in self.containers():
            for port in as_list(container.get("ports")):
                number = as_dict(port).get("containerPort")
                if isinstance(number, int):
                    out[str(number)] = number
                    if as_dict(port).get("name"):
                        out[str(port["name"])] = number
        return out

    @classmethod
    def of_pod(cls, pod: dict[str, Any]) -> PodSource:
        ref = ObjectRef.of(pod)
        return cls(pod, ref, ref.namespace or "default", labels_of(pod), as_dict(pod.get("spec")))


_Key = tuple[str, str | None, str]  # kind, namespace, name


def _owner_known(known: set[_Key], obj: Mapping[str, Any]) -> bool:
    """Whether an owner of `obj` is in the inventory (a ReplicaSet's Deployment counts)."""
    namespace = as_dict(obj.get("metadata")).get("namespace")
    for owner in as_list(as_dict(obj.get("metadata")).get("ownerReferences")):
        kind, name = str(as_dict(owner).get("kind", "")), str(as_dict(owner).get("name", ""))
        deployment = name.rsplit("-", 1)[0]  # a ReplicaSet is <deployment>-<pod-template-hash>
        if (kind, namespace, name) in known or (
            kind == "ReplicaSet" and ("Deployment", namespace, deployment) in known
        ):
            return True
    return False


def pod_sources(inv: Inventory) -> list[PodSource]:
    """Every pod template in the inventory, plus the pods no known workload owns."""
    known = {
        (ref.kind, ref.namespace, ref.name)
        for kind in (*_TEMPLATE_PATHS, "Pod")
        for ref in map(ObjectRef.of, inv.of_kind(kind))
    }
    found: list[PodSource] = []
    for kind, path in _TEMPLATE_PATHS.items():
        for obj in inv.of_kind(kind):
            if kind in ("ReplicaSet", "Job") and _owner_known(known, obj):
                continue
            template = as_dict(dig(obj, *path))
            ref = ObjectRef.of(obj)
            found.append(
                PodSource(obj, ref, ref.namespace or "default", labels_of(template),
                          as_dict(template.get("spec")))
            )  # fmt: skip
    found += [PodSource.of_pod(p) for p in inv.of_kind("Pod") if not _owner_known(known, p)]
    return found


@dataclass(frozen=True, slots=True)
class Target:
    """Where a Service backend lands: the Service (None when the inventory lacks it), its port
    and targetPort, and the pods it selects with the container port each is reached on."""

    service: dict[str, Any] | None
    service_port: int | None
    target_port: int | str | None
    pods: tuple[tuple[PodSource, int | None], ...]


def _service_port(service: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any] | None:
    for port in map(as_dict, as_list(dig(service, "spec", "ports"))):
        if ("number" in wanted and port.get("port") == wanted["number"]) or (
            "name" in wanted and port.get("name") == wanted["name"]
        ):
            return port
    return None


def resolve_backend(
    inv: Inventory,
    namespace: str,
    name: str,
    wanted: Mapping[str, Any],
    sources: Sequence[PodSource],
) -> Target:
    """A Service and port (`{"number": 80}` or `{"name": "http"}`, as an Ingress names it) to
    the pods and container port it reaches."""
    service = find(inv, "Service", namespace, name)
    number = wanted.get("number") if isinstance(wanted.get("number"), int) else None
    if service is None:
        return Target(None, number, None, ())
    port = _service_port(service, wanted) or {}
    target = port.get("targetPort", port.get("port"))
    pods = []
    for source in (s for s in sources if s.namespace == namespace):
        if service_selects(service, source):
            at = target if isinstance(target, int) else source.ports().get(str(target))
            pods.append((source, at))
    target = target if isinstance(target, (int, str)) else None
    return Target(service, port.get("port", number), target, tuple(pods))


def ingress_paths(ingress: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, pathType, service backend) of every route, the default backend as `/`."""
    default = as_dict(dig(ingress, "spec", "defaultBackend", "service"))
    if default:
        yield "/", "Prefix", default
    for rule in map(as_dict, as_list(dig(ingress, "spec", "rules"))):
        for path in map(as_dict, as_list(dig(rule, "http", "paths"))):
            backend = as_dict(dig(path, "backend", "service"))
            if backend:
                yield str(path.get("path") or "/"), str(path.get("pathType", "Prefix")), backend


def hpa_for(inv: Inventory, source: PodSource) -> dict[str, Any] | None:
    """The HorizontalPodAutoscaler that scales this workload, if any."""
    for hpa in inv.in_namespace("HorizontalPodAutoscaler", source.ref.namespace):
        target = as_dict(dig(hpa, "spec", "scaleTargetRef"))
        if target.get("kind") == source.kind and target.get("name") == source.ref.name:
            return hpa
    return None


# --- scheduling ------------------------------------------------------------------------------


def _tolerated(taint: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and str(tol.get("value", "")) == str(
            taint.get("value", "")
        ):
            return True
    return False


def _term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    node_labels = labels_of(node)
    fields = {"metadata.name": str(dig(node, "metadata", "name"))}
    exprs = [as_dict(r) for r in as_list(term.get("matchExpressions"))]
    field_exprs = [as_dict(r) for r in as_list(term.get("matchFields"))]
    if not exprs and not field_exprs:
        return False  # an empty term matches no node
    return all(_requirement(node_labels, r) for r in exprs) and all(
        _requirement(fields, r) for r in field_exprs
    )


def node_admits(node: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    """Whether the scheduler may place a pod with this spec on this node: nodeSelector, required
    node affinity, NoSchedule/NoExecute taints and cordoning. Resources are not considered."""
    if dig(node, "spec", "unschedulable") is True:
        return False
    node_labels = labels_of(node)
    selector = as_dict(spec.get("nodeSelector"))
    if any(node_labels.get(str(k)) != str(v) for k, v in selector.items()):
        return False
    required = as_dict(
        dig(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
    )
    terms = [as_dict(t) for t in as_list(required.get("nodeSelectorTerms"))]
    if terms and not any(_term_matches(t, node) for t in terms):
        return False
    tolerations = [as_dict(t) for t in as_list(spec.get("tolerations"))]
    taints = [as_dict(t) for t in as_list(dig(node, "spec", "taints"))]
    blocking = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
    return all(_tolerated(taint, tolerations) for taint in blocking)


def iter_env(container: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(name, value) of each env entry; value is None when it comes from `valueFrom`."""
    for entry in map(as_dict, as_list(container.get("env"))):
        yield str(entry.get("name", "")), entry.get("value")
