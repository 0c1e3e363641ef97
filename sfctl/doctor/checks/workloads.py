"""Pod template checks on the Smartflow install (see `sfctl.doctor.smartflow` for what counts):
resources, probes, image tags and DNS, from the guide's Helm values and performance tuning.
A workload is reported once (its template), not once per replica."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sfctl.doctor.k8s import as_dict, as_list, dig
from sfctl.doctor.model import Finding, Inventory, Severity, check
from sfctl.doctor.smartflow import (
    PORTS,
    gateway_containers,
    gateways,
    image_tag,
    install,
)

__all__ = ["MAX_NDOTS"]

MAX_NDOTS = 2
_CPU_LIMITED = frozenset({"proxy", "api-server", "all"})  # latency-sensitive services


def _name(container: dict[str, Any]) -> str:
    return str(container.get("name", "?"))


@check(
    "proxy-cpu-limit",
    Severity.WARNING,
    groups={"kubernetes", "performance"},
    summary="a CPU limit on the proxy or api-server containers (CFS throttling)",
)
def proxy_cpu_limit(inv: Inventory) -> Iterator[Finding]:
    for source, service in gateways(inv):
        if service not in _CPU_LIMITED:
            continue
        for container in gateway_containers(source):
            limit = dig(container, "resources", "limits", "cpu")
            if limit is None:
                continue
            yield Finding(
                "proxy-cpu-limit",
                Severity.WARNING,
                source.ref,
                f"container {_name(container)} ({service}) has a CPU limit of {limit}: CFS "
                "throttles it for up to 100 ms per period once a burst (a token stream, a "
                "retry) reaches the limit, which shows up as p99 latency spikes. Remove "
                "resources.limits.cpu and keep only a CPU request for scheduling; the memory "
                "limit stays.",
                headline=f"container {_name(container)} ({service}) has a CPU limit of {limit}",
            )


@check(
    "memory-limit-missing",
    Severity.ERROR,
    groups={"kubernetes", "reliability"},
    summary="a Smartflow container (gateway, Redis, database) without a memory limit",
)
def memory_limit_missing(inv: Inventory) -> Iterator[Finding]:
    for source in install(inv):
        for container in source.containers():
            if dig(container, "resources", "limits", "memory") is not None:
                continue
            yield Finding(
                "memory-limit-missing",
                Severity.ERROR,
                source.ref,
                f"container {_name(container)} has no memory limit: a runaway request (a "
                "stream that never ends, a huge prompt) can take the node's memory and get "
                "other pods OOM-killed. Set resources.limits.memory (the guide: proxy 512Mi, "
                "api-server 256Mi, compliance 512Mi, policy 256Mi) with a matching request.",
                headline=f"container {_name(container)} has no memory limit",
            )


def _probe_port(service: str) -> int:
    return PORTS.get(service, PORTS["proxy"])


@check(
    "probe-missing",
    Severity.WARNING,
    groups={"kubernetes", "reliability"},
    summary="a Smartflow gateway container without a readiness or liveness probe",
)
def probe_missing(inv: Inventory) -> Iterator[Finding]:
    for source, service in gateways(inv):
        port = _probe_port(service)
        for container in gateway_containers(source):
            missing = [
                probe for probe in ("readinessProbe", "livenessProbe") if not container.get(probe)
            ]
            if not missing:
                continue
            yield Finding(
                "probe-missing",
                Severity.WARNING,
                source.ref,
                f"container {_name(container)} ({service}) has no {' and no '.join(missing)}: "
                "without readiness, a rolling upgrade or a drain sends traffic to pods that "
                "are still starting or already draining; without liveness, a wedged process "
                f"is never restarted. Add readinessProbe httpGet /ready port {port} and "
                f"livenessProbe httpGet /health port {port}.",
                headline=f"container {_name(container)} ({service}) has no "
                f"{' and no '.join(missing)}",
            )


def _pull_policy(container: dict[str, Any], tag: str | None) -> str:
    """The effective imagePullPolicy (the API defaults it to Always for :latest and no tag)."""
    return str(container.get("imagePullPolicy") or ("Always" if tag in (None, "latest") else ""))


@check(
    "image-latest-tag",
    Severity.WARNING,
    groups={"kubernetes", "reliability"},
    summary="a Smartflow container image tagged :latest or not tagged at all",
)
def image_latest_tag(inv: Inventory) -> Iterator[Finding]:
    for source in install(inv):
        for container in source.containers(init=True):
            image = str(container.get("image", ""))
            tag = image_tag(image)
            if tag not in (None, "latest"):
                continue
            what = "has no tag (so :latest)" if tag is None else "uses :latest"
            why = (
                " With imagePullPolicy: Always, every pod start pulls whatever :latest is at "
                "that moment: a node drain during a cluster upgrade, an eviction or a scale-up "
                "starts a different build next to the old ones (pods of one service on "
                "different builds), and a registry outage keeps new pods from starting."
                if _pull_policy(container, tag) == "Always"
                else " Which build a pod runs depends on what each node has cached."
            )
            yield Finding(
                "image-latest-tag",
                Severity.WARNING,
                source.ref,
                f"container {_name(container)} image {image} {what}.{why} Pin a version tag "
                "or a digest (the chart's image.tag) and roll out upgrades on purpose.",
                headline=f"container {_name(container)} image {image} {what}",
            )


def _ndots(spec: dict[str, Any]) -> int | None:
    for option in map(as_dict, as_list(dig(spec, "dnsConfig", "options"))):
        if option.get("name") == "ndots":
            try:
                return int(str(option.get("value")))
            except ValueError:
                return None
    return None


@check(
    "dns-ndots",
    Severity.INFO,
    groups={"kubernetes", "performance"},
    summary=f"Smartflow pods without dnsConfig ndots <= {MAX_NDOTS}",
)
def dns_ndots(inv: Inventory) -> Iterator[Finding]:
    for source, service in gateways(inv):
        if source.spec.get("hostNetwork") or source.spec.get("dnsPolicy") == "Default":
            continue  # the node's resolver: no cluster search path to walk
        ndots = _ndots(source.spec)
        if ndots is not None and ndots <= MAX_NDOTS:
            continue
        have = f"ndots {ndots}" if ndots is not None else "the default ndots 5"
        yield Finding(
            "dns-ndots",
            Severity.INFO,
            source.ref,
            f"{service} pods resolve with {have}: each call to another service (proxy -> "
            "api-server -> compliance, Redis, the database) first walks the cluster search "
            f"path, several kube-dns lookups. Add dnsConfig.options [{{name: ndots, value: "
            f'"{MAX_NDOTS}"}}] to the pod spec.',
            headline=f"{service} pods resolve with {have}",
        )
