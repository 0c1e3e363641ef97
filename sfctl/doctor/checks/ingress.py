"""How traffic reaches Smartflow from outside: the ingress must stream (no buffering, long
timeouts, large bodies) and must not publish the management API (port 7778, /api/enterprise)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sfctl.doctor.checks.compose import mgmt_api_published
from sfctl.doctor.k8s import (
    PodSource,
    annotations_of,
    as_dict,
    as_list,
    dig,
    labels_of,
    pod_sources,
)
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import MGMT_PORT, backend, ingress_backends, ingress_is_ours

__all__ = ["STREAMING", "nginx_size"]

NGINX = "nginx.ingress.kubernetes.io/"
MIN_TIMEOUT_S = 300
MIN_BODY = 50 * 2**20
MGMT_PATH = "/api/enterprise"
_AUTH = ("auth-url", "auth-type", "auth-tls-secret", "whitelist-source-range",
         "allowlist-source-range")  # fmt: skip
_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


def nginx_size(value: str) -> int | None:
    """nginx size syntax (`50m` is 50 MiB), in bytes; None when it cannot be read."""
    match = _SIZE.match(value.strip())
    if match is None:
        return None
    unit = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2).lower()]
    return int(match.group(1)) * unit


def _body_ok(value: str) -> bool:
    size = nginx_size(value)
    return size is not None and (size == 0 or size >= MIN_BODY)  # 0: no limit


# (key, what is required, test on the configured value) as the guide's values.yaml sets them
STREAMING: tuple[tuple[str, str, Any], ...] = (
    ("proxy-buffering", '"off"', lambda v: v == "off"),
    ("proxy-request-buffering", '"off"', lambda v: v == "off"),
    ("proxy-read-timeout", f'"{MIN_TIMEOUT_S}" or more', lambda v: _int(v) >= MIN_TIMEOUT_S),
    ("proxy-send-timeout", f'"{MIN_TIMEOUT_S}" or more', lambda v: _int(v) >= MIN_TIMEOUT_S),
    ("proxy-body-size", '"50m" or more', _body_ok),
)


def _covers(path: str, path_type: str) -> bool:
    """Whether requests for /api/enterprise/... can match this ingress path."""
    path = path.rstrip("/")
    if path_type == "Exact":
        return path == MGMT_PATH or path.startswith(MGMT_PATH + "/")
    if path_type == "Prefix":  # element-wise
        return path == MGMT_PATH or MGMT_PATH.startswith(path + "/") or path.startswith(MGMT_PATH)
    return MGMT_PATH.startswith(path) or path.startswith(MGMT_PATH)  # ImplementationSpecific


def _ingress_class(inv: Inventory, ingress: dict[str, Any]) -> str | None:
    name = dig(ingress, "spec", "ingressClassName") or annotations_of(ingress).get(
        "kubernetes.io/ingress.class"
    )
    classes = list(inv.of_kind("IngressClass"))
    if name is None:
        default = [c for c in classes if annotations_of(c).get(
            "ingressclass.kubernetes.io/is-default-class") == "true"]  # fmt: skip
        if not default:
            return None
        name = ObjectRef.of(default[0]).name
    for klass in classes:
        if ObjectRef.of(klass).name == name:
            return str(dig(klass, "spec", "controller") or name)
    return str(name)


def _is_nginx(inv: Inventory, ingress: dict[str, Any]) -> bool:
    klass = _ingress_class(inv, ingress)
    return klass is None or "nginx" in klass  # no class: the guide's ingress-nginx


def _controller_defaults(inv: Inventory) -> dict[str, str]:
    """ingress-nginx's global ConfigMap, where it sets these for every ingress."""
    for cm in inv.of_kind("ConfigMap"):
        lbls = labels_of(cm)
        if ObjectRef.of(cm).name == "ingress-nginx-controller" or (
            lbls.get("app.kubernetes.io/name") == "ingress-nginx"
            and lbls.get("app.kubernetes.io/component") == "controller"
        ):
            return {str(k): str(v) for k, v in as_dict(cm.get("data")).items()}
    return {}


@check(
    "ingress-streaming-buffering",
    Severity.WARNING,
    groups={"kubernetes", "performance"},
    summary="a Smartflow ingress that buffers (no streaming) or cuts long or large requests",
)
def ingress_streaming_buffering(inv: Inventory) -> Iterator[Finding]:
    sources = pod_sources(inv)
    defaults = _controller_defaults(inv)
    for ingress in inv.of_kind("Ingress"):
        if not _is_nginx(inv, ingress) or not ingress_is_ours(inv, ingress, sources):
            continue  # not Smartflow's, or a controller that spells these differently
        notes = annotations_of(ingress)
        short = []
        for key, required, ok in STREAMING:
            value = notes.get(NGINX + key, defaults.get(key))
            if value is None or not ok(str(value).strip()):
                have = "not set" if value is None else f'"{value}"'
                short.append(f"{key} is {have} (needs {required})")
        wrong = [NGINX + item for item in short]
        if wrong:
            yield Finding(
                "ingress-streaming-buffering",
                Severity.WARNING,
                ObjectRef.of(ingress),
                f"{'; '.join(wrong)}. Buffering holds streamed tokens until the response ends, "
                "short timeouts cut long completions, a small body size rejects large prompts "
                "and files. Set these annotations on the ingress (the chart's "
                "ingress.annotations).",
                headline=f"ingress-nginx would buffer or cut streams: {'; '.join(short)}",
            )


def _protected(ingress: dict[str, Any]) -> bool:
    notes = annotations_of(ingress)
    return any(NGINX + key in notes for key in _AUTH)


def _internal(service: dict[str, Any]) -> bool:
    """A load balancer on a private network, or one restricted to source ranges."""
    if as_list(dig(service, "spec", "loadBalancerSourceRanges")):
        return True
    return any(
        "internal" in f"{k}={v}".lower() and str(v).lower() != "false"
        for k, v in annotations_of(service).items()
    )


def _exposed_ingresses(inv: Inventory, sources: list[PodSource]) -> Iterator[Finding]:
    for ingress in inv.of_kind("Ingress"):
        if _protected(ingress):
            continue
        for path, path_type, target in ingress_backends(inv, ingress, sources):
            if target.serves_management(covers_mgmt_path=_covers(path, path_type)):
                problem = (
                    f"path {path} routes to {target}, which serves the management API "
                    f"({MGMT_PATH}, port {MGMT_PORT})"
                )
                yield Finding(
                    "mgmt-api-exposed",
                    Severity.ERROR,
                    ObjectRef.of(ingress),
                    f"{problem}: anyone who "
                    "reaches the ingress can try admin keys against it. Route only the proxy "
                    "(port 7775) publicly; reach the management API through kubectl "
                    "port-forward or a private ingress, or put an auth layer in front "
                    f"({NGINX}auth-url or {NGINX}whitelist-source-range).",
                    headline=problem,
                )
                break


@check(
    "mgmt-api-exposed",
    Severity.ERROR,
    groups={"kubernetes", "compose", "security"},
    summary="port 7778 or /api/enterprise reachable through an Ingress, a public Service or a "
    "published Compose port",
)
def mgmt_api_exposed(inv: Inventory) -> Iterator[Finding]:
    yield from mgmt_api_published(inv)
    sources = pod_sources(inv)
    yield from _exposed_ingresses(inv, sources)
    for service in inv.of_kind("Service"):
        kind = dig(service, "spec", "type")
        if kind not in ("LoadBalancer", "NodePort") or _internal(service):
            continue
        ref = ObjectRef.of(service)
        for port in map(as_dict, as_list(dig(service, "spec", "ports"))):
            target = backend(
                inv, ref.namespace or "default", ref.name, {"number": port.get("port")}, sources
            )
            if target.serves_management(covers_mgmt_path=True):
                problem = (
                    f"this {kind} Service publishes port {port.get('port')}, which reaches the "
                    f"management API ({MGMT_PATH}, port {MGMT_PORT}) from outside the cluster"
                )
                yield Finding(
                    "mgmt-api-exposed",
                    Severity.ERROR,
                    ref,
                    f"{problem}. Make it a ClusterIP Service (reach it with kubectl "
                    "port-forward), or restrict it with loadBalancerSourceRanges.",
                    headline=problem,
                )
                break
