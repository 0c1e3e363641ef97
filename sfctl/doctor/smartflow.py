"""How the doctor recognises Smartflow: one definition, so every check agrees, and one that holds
on a partial dump (a `kubectl get` of some kinds only: no Services, no Deployments).

**Labels** say Smartflow when `app.kubernetes.io/part-of` or `app.kubernetes.io/name` is
`smartflow`, or `helm.sh/chart` is `smartflow-<version>` (the chart sets all three).

A workload (a pod template, a pod, or a Compose service) runs the **gateway service** `S` when
the first of these holds, in this order:

1. its labels say Smartflow and `app.kubernetes.io/component` is S (S one of proxy,
   api-server, compliance, policy-perfect, all); the Helm chart labels every gateway pod so;
2. a container runs the Smartflow image (repository named `smartflow`, `smartflow-gateway`, or
   the legacy `safechat-enterprise`; in Compose also a build from `Dockerfile.runtime`): S is
   its `SERVICE_TYPE`, else the component label, else `all` (the image's default); a
   `SERVICE_TYPE` the gateway does not know (the seed's `chat` frontend) is not a gateway;
3. `app.kubernetes.io/name: smartflow` without a component: S from `SERVICE_TYPE`, else `all`;
4. a container has `SERVICE_TYPE: S` *and* listens on one of Smartflow's ports (7775, 7777,
   7778, 7782): `SERVICE_TYPE` alone is too common a name to trust.

A workload is **part of the install** when its labels say Smartflow, it runs the Smartflow
image, or it is a gateway (the chart's Redis and TimescaleDB are labelled part-of smartflow).
A pod is a **datastore** (`redis` or `postgresql`) by its `app.kubernetes.io/name` label, else
its image (redis, valkey, postgres, postgresql, timescaledb, postgis), else the port it listens on.

A **backend** (a Service and port, as an Ingress or the Service names it) reaches the gateway
services found by the first evidence the inventory holds: the pods the Service selects; the
Service's selector, then its own labels; the workload named like the Service (the chart names
both `<release>-<S>`); the port numbers on the way (7775 proxy, 7777 compliance, 7778
api-server, 7782 policy-perfect); a Service name `...smartflow...-<S>`. An **Ingress** is
Smartflow's when its labels say so or one of its backends reaches a gateway service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sfctl.doctor.k8s import (
    PodSource,
    as_dict,
    as_list,
    ingress_paths,
    iter_env,
    labels_of,
    pod_sources,
    resolve_backend,
)
from sfctl.doctor.model import Inventory, ObjectRef
from sfctl.spec import SERVICES

__all__ = [
    "GATEWAY_SERVICES",
    "MGMT_PORT",
    "PORTS",
    "Backend",
    "backend",
    "compose_service",
    "datastore",
    "gateway_containers",
    "gateway_service",
    "gateways",
    "image_name",
    "image_tag",
    "in_install",
    "ingress_backends",
    "ingress_is_ours",
    "install",
    "is_smartflow_image",
    "labelled",
    "serves_management",
]

NAME, PART_OF, COMPONENT, CHART = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/component",
    "helm.sh/chart",
)
# the service table is the deployment spec's (one SERVICE_TYPE and port per service), plus `all`
PORTS = {info.service_type: info.port for info in SERVICES}
GATEWAY_SERVICES = frozenset({*PORTS, "all"})
MGMT_PORT = PORTS["api-server"]
IMAGES = frozenset({"smartflow", "smartflow-gateway", "safechat-enterprise"})
RUNTIME_DOCKERFILE = "Dockerfile.runtime"
_PORT_SERVICES = {port: service for service, port in PORTS.items()}
_CHART = re.compile(r"^smartflow-v?\d")  # helm.sh/chart is <chart name>-<chart version>
_REDIS_NAMES = frozenset({"redis", "redis-stack-server", "valkey", "keydb"})
_PG_NAMES = frozenset({"postgres", "postgresql", "timescaledb", "timescaledb-ha", "postgis"})

Datastore = Literal["redis", "postgresql"]


def image_name(image: str) -> str:
    """`ghcr.io/acme/smartflow:1.4@sha256:...` -> `smartflow`."""
    path = image.split("@", 1)[0]
    last = path.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def is_smartflow_image(image: str) -> bool:
    """`smartflow/gateway:1.0` (what sfctl renders), `ghcr.io/acme/smartflow:1.0`,
    `langsmartai/safechat-enterprise` (the system operators migrate from)."""
    segments = image.split("@", 1)[0].lower().split("/")
    segments[-1] = segments[-1].split(":", 1)[0]
    return image_name(image) in IMAGES or "smartflow" in segments


def image_tag(image: str) -> str | None:
    """The tag, or None when there is none (`latest` is then implied) or only a digest."""
    if "@" in image:
        return image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2] or "@digest"
    last = image.rsplit("/", 1)[-1]
    return last.partition(":")[2] or None


def labelled(labels: Mapping[str, str]) -> bool:
    """Labels that say Smartflow: the chart's part-of, name or helm.sh/chart. A release name
    (`app.kubernetes.io/instance`) says nothing: it is whatever the operator chose."""
    chart = labels.get(CHART)
    return (
        labels.get(PART_OF) == "smartflow"
        or labels.get(NAME) == "smartflow"
        or (chart is not None and _CHART.match(chart) is not None)
    )


# --- workloads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Container:
    """What the rules read of a container, from a pod spec or a Compose service alike."""

    image: str
    declared: str | None  # SERVICE_TYPE as set, whatever its value; None when unset
    ports: frozenset[int]
    built: bool = False  # Compose: built from the runtime Dockerfile

    @property
    def smartflow(self) -> bool:
        return self.built or is_smartflow_image(self.image)

    @property
    def service(self) -> str | None:
        return self.declared if self.declared in GATEWAY_SERVICES else None

    @classmethod
    def of(cls, container: Mapping[str, Any]) -> _Container:
        declared = next(
            (v for n, v in iter_env(container) if n == "SERVICE_TYPE" and isinstance(v, str)),
            None,
        )
        ports = frozenset(
            p["containerPort"]
            for p in map(as_dict, as_list(container.get("ports")))
            if isinstance(p.get("containerPort"), int)
        )
        return cls(str(container.get("image", "")), declared or None, ports)


def _runs(labels: Mapping[str, str], containers: Sequence[_Container]) -> str | None:
    """The module docstring's four rules."""
    component = labels.get(COMPONENT, "")
    if component in GATEWAY_SERVICES and labelled(labels):
        return component
    for container in containers:
        if container.smartflow:
            if container.declared is not None:
                return container.service  # None: a service the gateway does not know (chat)
            return component if component in GATEWAY_SERVICES else "all"
    if labels.get(NAME) == "smartflow" and not component:  # component: redis etc. are not
        return next((s for c in containers if (s := c.service)), "all")
    for container in containers:
        if container.service and container.ports & _PORT_SERVICES.keys():
            return container.service
    return None


def gateway_service(source: PodSource) -> str | None:
    """The Smartflow service this pod runs, or None when it is not a gateway pod."""
    labels = source.labels
    component = labels.get(COMPONENT, "")
    if component in GATEWAY_SERVICES and labelled(labels):  # rule 1 without reading containers
        return component
    return _runs(labels, [_Container.of(c) for c in source.containers()])


def _compose_ports(service: Mapping[str, Any]) -> frozenset[int]:
    """Container ports a Compose service publishes (`ports[].target`) or exposes (`expose`)."""
    found: set[int] = set()
    for port in as_list(service.get("ports")):
        text = str(port.get("target", "")) if isinstance(port, Mapping) else str(port)
        found.add(_leading_int(text.rsplit(":", 1)[-1]))
    for port in as_list(service.get("expose")):
        found.add(_leading_int(str(port)))
    found.discard(-1)
    return frozenset(found)


def _leading_int(text: str) -> int:
    digits = re.match(r"\s*(\d+)", text)
    return int(digits.group(1)) if digits else -1


def compose_service(service: Mapping[str, Any]) -> str | None:
    """The gateway service a Compose service runs (the same rules as a pod's), or None."""
    env = service.get("environment")
    declared = env.get("SERVICE_TYPE") if isinstance(env, Mapping) else None
    build = service.get("build")
    dockerfile = str(build.get("dockerfile") or "") if isinstance(build, Mapping) else ""
    container = _Container(
        str(service.get("image") or ""),
        str(declared) if declared else None,
        _compose_ports(service),
        built=dockerfile.endswith(RUNTIME_DOCKERFILE),
    )
    labels = service.get("labels")
    labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
    return _runs(labels, [container])


def in_install(source: PodSource) -> bool:
    return (
        labelled(source.labels)
        or labelled(labels_of(source.obj))
        or any(is_smartflow_image(str(c.get("image", ""))) for c in source.containers())
        or gateway_service(source) is not None
    )


def serves_management(service: str | None) -> bool:
    """The management API (/api/enterprise, port 7778) is served by api-server and by `all`."""
    return service in ("api-server", "all")


def datastore(source: PodSource) -> Datastore | None:
    name = source.labels.get(NAME, "").lower()
    if name in _REDIS_NAMES:
        return "redis"
    if name in _PG_NAMES:
        return "postgresql"
    containers = source.containers()
    for container in containers:
        image = image_name(str(container.get("image", "")))
        if image in _REDIS_NAMES:
            return "redis"
        if image in _PG_NAMES:
            return "postgresql"
    ports = frozenset().union(*(_Container.of(c).ports for c in containers))
    if 6379 in ports:
        return "redis"
    if 5432 in ports:
        return "postgresql"
    return None


def gateway_containers(source: PodSource) -> list[dict[str, Any]]:
    """The containers running Smartflow itself (by image or SERVICE_TYPE), not its sidecars;
    a one-container gateway pod is its own gateway container."""
    containers = source.containers()
    own = [c for c in containers if (read := _Container.of(c)).smartflow or read.service]
    return own or (containers if len(containers) == 1 else [])


def gateways(inv: Inventory) -> list[tuple[PodSource, str]]:
    """Every gateway pod source with the Smartflow service it runs."""
    return [(s, service) for s in pod_sources(inv) if (service := gateway_service(s))]


def install(inv: Inventory) -> list[PodSource]:
    """Pod sources that belong to the Smartflow install (`in_install`), and the datastores in
    a namespace where gateway pods run."""
    sources = pod_sources(inv)
    gateway_namespaces = {s.namespace for s in sources if gateway_service(s)}
    return [
        s
        for s in sources
        if in_install(s) or (datastore(s) is not None and s.namespace in gateway_namespaces)
    ]


# --- Services and Ingresses ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backend:
    """A Service and port as an Ingress (or the Service itself) names them, with what they
    reach as far as the inventory tells."""

    name: str  # the Service
    port: int | str | None  # its port: a number or a name, as the referrer wrote it
    services: frozenset[str]  # the gateway services reached (empty: not Smartflow's, or unknown)
    ports: frozenset[int]  # port numbers seen on the way: Service port, targetPort, container port

    def __str__(self) -> str:
        return f"service {self.name} port {'?' if self.port is None else self.port}"

    def serves_management(self, *, covers_mgmt_path: bool) -> bool:
        """api-server, port 7778, or `all` (every route on one port) behind a path that lets
        /api/enterprise through."""
        return (
            "api-server" in self.services
            or MGMT_PORT in self.ports
            or ("all" in self.services and covers_mgmt_path)
        )


def _by_name(name: str) -> set[str]:
    """The chart's Service names: `<release>-<S>`, with smartflow in the release part."""
    return {
        s for s in GATEWAY_SERVICES if name.endswith(f"-{s}") and "smartflow" in name[: -len(s)]
    }


def _described(service: Mapping[str, Any] | None) -> set[str]:
    """What a Service says it selects: its selector read as pod labels, then its own labels."""
    if service is None:
        return set()
    selector = as_dict(as_dict(service.get("spec")).get("selector"))
    for labels in ({str(k): str(v) for k, v in selector.items()}, labels_of(service)):
        found = _runs(labels, ())
        if found:
            return {found}
    return set()


def _same_named(namespace: str, name: str, sources: Sequence[PodSource]) -> set[str]:
    for source in sources:
        if source.ref.name == name and source.namespace == namespace and source.kind != "Pod":
            service = gateway_service(source)
            return {service} if service else set()
    return set()


def backend(
    inv: Inventory,
    namespace: str,
    name: str,
    port: Mapping[str, Any],
    sources: Sequence[PodSource],
) -> Backend:
    """What Service `name` at `port` (`{"number": 80}` or `{"name": "http"}`) reaches, from the
    first evidence the inventory holds (see the module docstring)."""
    number = port.get("number") if isinstance(port.get("number"), int) else None
    named = port.get("name") if isinstance(port.get("name"), str) else None
    target = resolve_backend(inv, namespace, name, port, sources)
    numbers = {n for n in (number, target.service_port, target.target_port) if isinstance(n, int)}
    numbers |= {n for _, n in target.pods if n is not None}
    services: set[str] = set()
    if target.pods:  # the pods, when the dump has them, are the answer
        services = {s for source, _ in target.pods if (s := gateway_service(source))}
    else:
        services = (
            _described(target.service)
            or _same_named(namespace, name, sources)
            or {_PORT_SERVICES[n] for n in numbers if n in _PORT_SERVICES}
            or _by_name(name)
        )
    written = number if number is not None else named
    return Backend(name, written, frozenset(services), frozenset(numbers))


def ingress_backends(
    inv: Inventory, ingress: Mapping[str, Any], sources: Sequence[PodSource]
) -> list[tuple[str, str, Backend]]:
    """(path, pathType, backend) of every route of an Ingress, the default backend as `/`."""
    namespace = ObjectRef.of(ingress).namespace or "default"
    found = []
    for path, path_type, ref in ingress_paths(ingress):
        name, port = str(ref.get("name", "")), as_dict(ref.get("port"))
        found.append((path, path_type, backend(inv, namespace, name, port, sources)))
    return found


def ingress_is_ours(
    inv: Inventory, ingress: Mapping[str, Any], sources: Sequence[PodSource]
) -> bool:
    """Labelled Smartflow's, or routing to a gateway service."""
    if labelled(labels_of(ingress)):
        return True
    return any(b.services for _, _, b in ingress_backends(inv, ingress, sources))
