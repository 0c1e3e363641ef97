"""Node sizing: the guide sizes Smartflow for 4 vCPU nodes. On 2 vCPU nodes system daemons,
cert-manager, the ingress controller and Smartflow compete for two cores, and CFS throttling
shows as latency spikes of 100 ms or more."""

from __future__ import annotations

from collections.abc import Iterator

from sfctl.doctor.k8s import PodSource, dig, node_admits, parse_cpu
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import gateway_service, gateways

__all__ = ["MIN_VCPU"]

MIN_VCPU = 4


def _placements(inv: Inventory) -> dict[str, list[str]]:
    """Node name -> why Smartflow pods are or may be there (pods running on it, workloads
    whose nodeSelector, required affinity and tolerations admit it)."""
    why: dict[str, list[str]] = {}
    for pod in inv.of_kind("Pod"):
        node = dig(pod, "spec", "nodeName")
        if node and gateway_service(PodSource.of_pod(pod)):
            why.setdefault(str(node), []).append(f"runs {ObjectRef.of(pod)}")
    sources = [s for s, _ in gateways(inv) if s.kind != "Pod"]
    for node in inv.of_kind("Node"):
        name = ObjectRef.of(node).name
        for source in sources:
            if node_admits(node, source.spec):
                why.setdefault(name, []).append(f"may run {source.ref}")
    return why


@check(
    "node-min-vcpu",
    Severity.WARNING,
    groups={"kubernetes", "performance"},
    summary=f"a node that runs or may run Smartflow pods has fewer than {MIN_VCPU} vCPU",
)
def node_min_vcpu(inv: Inventory) -> Iterator[Finding]:
    placements = _placements(inv)
    for node in inv.of_kind("Node"):
        ref = ObjectRef.of(node)
        cpus = parse_cpu(dig(node, "status", "capacity", "cpu"))
        if cpus is None or cpus >= MIN_VCPU or ref.name not in placements:
            continue
        reasons = placements[ref.name]
        shown = ", ".join(reasons[:3]) + (
            f" and {len(reasons) - 3} more" if len(reasons) > 3 else ""
        )
        yield Finding(
            "node-min-vcpu",
            Severity.WARNING,
            ref,
            f"node has {cpus:g} vCPU and {shown}: with fewer than {MIN_VCPU} vCPU, system "
            "daemons, cert-manager, the ingress controller and Smartflow compete for the same "
            "cores and CFS throttling adds latency spikes of 100 ms or more. Run Smartflow on "
            f"nodes with at least {MIN_VCPU} vCPU (DigitalOcean s-4vcpu-8gb or larger), and pin "
            "it there: label that pool role=smartflow and give the Smartflow pods a nodeSelector "
            "or required node affinity on role=smartflow.",
            headline=f"node has {cpus:g} vCPU (fewer than {MIN_VCPU}) and {shown}",
        )
