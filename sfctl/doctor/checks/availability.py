"""What decides whether draining a node (every node, during a cluster upgrade) takes Smartflow
down or hangs: how many replicas serve traffic, and PodDisruptionBudgets that allow no eviction."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from sfctl.doctor.k8s import PodSource, as_dict, dig, hpa_for, pod_sources, selector_matches
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import gateways

__all__ = ["MIN_HA_REPLICAS", "floor_replicas", "pdb_blocks"]

MIN_HA_REPLICAS = 2
_HA_SERVICES = frozenset({"proxy", "api-server", "all"})  # the guide runs these at 2 replicas


def floor_replicas(inv: Inventory, source: PodSource) -> int | None:
    """The fewest replicas the workload may run: an HPA's minReplicas (default 1) when one
    scales it, else spec.replicas; None for kinds without replicas."""
    hpa = hpa_for(inv, source)
    if hpa is not None:
        value = dig(hpa, "spec", "minReplicas")
        return value if isinstance(value, int) else 1
    return source.replicas


@check(
    "replicas-below-ha",
    Severity.WARNING,
    groups={"kubernetes", "upgrade", "reliability"},
    summary=f"the proxy or api-server runs fewer than {MIN_HA_REPLICAS} replicas",
)
def replicas_below_ha(inv: Inventory) -> Iterator[Finding]:
    for source, service in gateways(inv):
        if service not in _HA_SERVICES or source.kind == "Pod":
            continue
        floor = floor_replicas(inv, source)
        if floor is None or floor >= MIN_HA_REPLICAS:
            continue
        by = "its HorizontalPodAutoscaler's minReplicas" if hpa_for(inv, source) else "replicas"
        problem = f"{service} can run a single replica ({by} is {floor})"
        yield Finding(
            "replicas-below-ha",
            Severity.WARNING,
            source.ref,
            f"{problem}: draining its node (every "
            "node is drained during a cluster upgrade) or losing it takes the service down "
            f"until a new pod is ready. Run at least {MIN_HA_REPLICAS} (replicas, or an HPA "
            f"with minReplicas >= {MIN_HA_REPLICAS}) with a PodDisruptionBudget of "
            "minAvailable: 1.",
            headline=problem,
        )


def _expected(inv: Inventory, pdb: dict[str, Any]) -> int:
    """How many pods the budget covers: its status when the cluster reported one, else the
    replicas of the workloads it selects (DaemonSet pods are skipped by drains: not counted)."""
    status = as_dict(pdb.get("status"))
    if isinstance(status.get("expectedPods"), int):
        return int(status["expectedPods"])
    namespace = ObjectRef.of(pdb).namespace or "default"
    selector = dig(pdb, "spec", "selector")
    total = 0
    for source in pod_sources(inv):
        if source.namespace != namespace or source.kind == "DaemonSet":
            continue
        if selector_matches(as_dict(selector) if selector is not None else None, source.labels):
            total += source.replicas if source.replicas is not None else 1
    return total


def _budget(value: Any, expected: int, *, round_up: bool) -> int | None:
    """An int-or-percent field resolved against the expected pod count."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1]) * expected / 100
        except ValueError:
            return None
        return math.ceil(share) if round_up else math.floor(share)
    return None


def pdb_blocks(inv: Inventory, pdb: dict[str, Any]) -> str | None:
    """Why this budget keeps `kubectl drain` from evicting any of its pods, or None."""
    expected = _expected(inv, pdb)
    if expected <= 0:
        return None
    spec = as_dict(pdb.get("spec"))
    if "maxUnavailable" in spec:
        # the API rounds maxUnavailable percentages up
        allowed = _budget(spec["maxUnavailable"], expected, round_up=True)
        if allowed is not None and allowed <= 0:
            return f"maxUnavailable is {spec['maxUnavailable']}"
    elif "minAvailable" in spec:
        needed = _budget(spec["minAvailable"], expected, round_up=True)
        if needed is not None and needed >= expected:
            return f"minAvailable is {spec['minAvailable']} with {expected} pod(s)"
    status = as_dict(pdb.get("status"))
    if status.get("disruptionsAllowed") == 0 and "currentHealthy" in status:
        return (
            f"it allows no disruption now ({status.get('currentHealthy')} healthy, "
            f"{status.get('desiredHealthy')} required)"
        )
    return None


@check(
    "pdb-blocks-drain",
    Severity.ERROR,
    groups={"kubernetes", "upgrade", "reliability"},
    summary="a PodDisruptionBudget that allows no eviction, so node drains hang",
)
def pdb_blocks_drain(inv: Inventory) -> Iterator[Finding]:
    for pdb in inv.of_kind("PodDisruptionBudget"):
        why = pdb_blocks(inv, pdb)
        if why is None:
            continue
        problem = f"no pod it covers can be evicted ({why})"
        yield Finding(
            "pdb-blocks-drain",
            Severity.ERROR,
            ObjectRef.of(pdb),
            f"{problem}: draining their nodes during a cluster "
            "upgrade waits on it until the provider's drain timeout, then the pods are "
            "deleted anyway. Let at least one pod go: run more replicas than minAvailable, "
            "or use maxUnavailable: 1.",
            headline=problem,
        )
