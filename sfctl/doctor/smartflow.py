"""How the doctor recognises Smartflow in a cluster. One place, so every check agrees.

A pod (template) is a **gateway pod**, running the Smartflow service `S`, when the first of these
holds, in this order:

1. its labels say so: `app.kubernetes.io/name: smartflow` or `app.kubernetes.io/part-of:
   smartflow`, with `app.kubernetes.io/component: S` (S one of proxy, api-server, compliance,
   policy-perfect, all); the Helm chart sets all three on every gateway pod;
2. a container runs the Smartflow image (repository named `smartflow`, `smartflow-gateway`, or
   the legacy `safechat-enterprise`): S is its `SERVICE_TYPE` env value, else the component label,
   else `all` (the image's default);
3. `app.kubernetes.io/name: smartflow` without a component: S from `SERVICE_TYPE`, else `all`;
4. a container has `SERVICE_TYPE: S` *and* listens on one of Smartflow's ports (7775, 7777,
   7778, 7782): `SERVICE_TYPE` alone is too common a name to trust.

An object is **part of the install** when it is a gateway pod or is labelled
`app.kubernetes.io/part-of: smartflow` (the chart's Redis and TimescaleDB are). A pod is a
**datastore** (`redis` or `postgresql`) by its `app.kubernetes.io/name` label, else its image
(redis, valkey, postgres, postgresql, timescaledb, postgis), else the port it listens on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sfctl.doctor.k8s import PodSource, as_list, iter_env, pod_sources
from sfctl.doctor.model import Inventory
from sfctl.spec import SERVICES

__all__ = [
    "GATEWAY_SERVICES",
    "MGMT_PORT",
    "PORTS",
    "datastore",
    "gateway_containers",
    "gateway_service",
    "gateways",
    "image_name",
    "image_tag",
    "in_install",
    "install",
    "is_smartflow_image",
    "serves_management",
]

NAME, PART_OF, COMPONENT = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/component",
)
# the service table is the deployment spec's (one SERVICE_TYPE and port per service), plus `all`
PORTS = {info.service_type: info.port for info in SERVICES}
GATEWAY_SERVICES = frozenset({*PORTS, "all"})
MGMT_PORT = PORTS["api-server"]
IMAGES = frozenset({"smartflow", "smartflow-gateway", "safechat-enterprise"})
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


def _env_service(container: Mapping[str, Any]) -> str | None:
    for name, value in iter_env(container):
        if name == "SERVICE_TYPE" and isinstance(value, str) and value in GATEWAY_SERVICES:
            return value
    return None


def _ports(container: Mapping[str, Any]) -> set[int]:
    return {
        int(p["containerPort"])
        for p in as_list(container.get("ports"))
        if isinstance(p, dict) and isinstance(p.get("containerPort"), int)
    }


def gateway_service(source: PodSource) -> str | None:
    """The Smartflow service this pod runs, or None when it is not a gateway pod."""
    labels = source.labels
    component = labels.get(COMPONENT, "")
    named = labels.get(NAME) == "smartflow" or labels.get(PART_OF) == "smartflow"
    if named and component in GATEWAY_SERVICES:
        return component
    containers = source.containers()
    for container in containers:
        if is_smartflow_image(str(container.get("image", ""))):
            fallback = component if component in GATEWAY_SERVICES else "all"
            return _env_service(container) or fallback
    if labels.get(NAME) == "smartflow" and not component:  # component: redis etc. are not
        return next((s for c in containers if (s := _env_service(c))), "all")
    for container in containers:
        service = _env_service(container)
        if service and _ports(container) & set(PORTS.values()):
            return service
    return None


def in_install(source: PodSource) -> bool:
    return source.labels.get(PART_OF) == "smartflow" or gateway_service(source) is not None


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
    ports = set().union(*(_ports(c) for c in containers)) if containers else set()
    if 6379 in ports:
        return "redis"
    if 5432 in ports:
        return "postgresql"
    return None


def gateway_containers(source: PodSource) -> list[dict[str, Any]]:
    """The containers running Smartflow itself (by image or SERVICE_TYPE), not its sidecars;
    a one-container gateway pod is its own gateway container."""
    containers = source.containers()
    own = [
        c
        for c in containers
        if is_smartflow_image(str(c.get("image", ""))) or _env_service(c) is not None
    ]
    return own or (containers if len(containers) == 1 else [])


def gateways(inv: Inventory) -> list[tuple[PodSource, str]]:
    """Every gateway pod source with the Smartflow service it runs."""
    return [(s, service) for s in pod_sources(inv) if (service := gateway_service(s))]


def install(inv: Inventory) -> list[PodSource]:
    """Pod sources that belong to the Smartflow install: gateway pods, objects labelled
    part-of smartflow, and the datastores in a namespace where gateway pods run."""
    sources = pod_sources(inv)
    gateway_namespaces = {s.namespace for s in sources if gateway_service(s)}
    return [
        s
        for s in sources
        if in_install(s) or (datastore(s) is not None and s.namespace in gateway_namespaces)
    ]
