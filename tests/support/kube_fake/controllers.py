"""The fake cluster's control plane: one `step` moves every object forward by one tick
(TICK_SECONDS of simulated time), the way kube-controller-manager, kube-scheduler, the kubelets,
cert-manager and ingress-nginx would in that time.

`step` is pure: it takes deep copies of every stored object and returns what to write back.
Within a tick the components run in pipeline order backwards (kubelet, scheduler, workload
controllers, autoscaler, edge), so each stage of a rollout (ReplicaSet made, pods made, bound,
containers started, ready) is visible for at least one tick, while status rolls up to the
Deployment in the tick the pods change, as it does within milliseconds on a real cluster.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .images import ImageBook
from .workloads import sync_deployments, sync_replicasets
from .workloads_base import (
    TICK_SECONDS,
    Changes,
    State,
    World,
    owner_refs,
    stamp,
)
from .workloads_edge import sync_edge
from .workloads_hpa import sync_hpas
from .workloads_jobs import sync_jobs
from .workloads_pods import delete_pod, run_kubelets, schedule
from .workloads_sts import sync_statefulsets

__all__ = ["TICK_SECONDS", "Changes", "ImageBook", "World", "make_node", "step"]

#: the API server's --event-ttl
EVENT_TTL_SECONDS = 3600


def step(objects: list[dict[str, Any]], world: World) -> Changes:
    """One tick of every controller over `objects` (deep copies, mutated here)."""
    state = State(objects, world)
    collect_garbage(state)
    run_kubelets(state)
    schedule(state)
    sync_jobs(state)
    sync_statefulsets(state)
    sync_replicasets(state)
    sync_deployments(state)
    sync_hpas(state)
    sync_edge(state)
    expire_events(state)
    return state.changes()


def collect_garbage(state: State) -> None:
    """The garbage collector (background propagation): dependents whose owners are all gone
    are deleted, and references to owners that are gone are dropped."""
    uids = state.uids()
    for obj in state.all():
        refs = owner_refs(obj)
        if not refs:
            continue
        alive = [r for r in refs if r.get("uid") in uids]
        if len(alive) == len(refs):
            continue
        if alive:
            obj["metadata"]["ownerReferences"] = alive
        elif obj.get("kind") == "Pod":
            delete_pod(state, obj)
        else:
            state.remove(obj)


def expire_events(state: State) -> None:
    cutoff = stamp(state.world.now - timedelta(seconds=EVENT_TTL_SECONDS))
    for ev in state.of_kind("Event"):
        if str(ev.get("lastTimestamp") or "") < cutoff:
            state.remove(ev)


_NODE_CONDITIONS = (
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def make_node(
    name: str, *, cpu: str = "4", memory: str = "8Gi", index: int = 0, now: datetime | None = None
) -> dict[str, Any]:
    """A Ready worker Node as `kubectl get node -o json` shows one (allocatable a little below
    capacity, as the kubelet reserves some)."""
    from .workloads_base import quantity

    created = stamp(now) if now else "2026-01-12T09:00:00Z"
    alloc_cpu = f"{int(quantity(cpu) * 1000 * 95 // 100)}m"
    alloc_mem = f"{int(quantity(memory) * 90 // 100 // 1024)}Ki"
    ip = f"10.0.1.{11 + index}"
    condition = {"lastHeartbeatTime": created, "lastTransitionTime": created}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": f"zone-{'abc'[index % 3]}",
            },
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
        "status": {
            "addresses": [
                {"address": ip, "type": "InternalIP"},
                {"address": name, "type": "Hostname"},
            ],
            "allocatable": {
                "cpu": alloc_cpu,
                "ephemeral-storage": "95Gi",
                "memory": alloc_mem,
                "pods": "110",
            },
            "capacity": {"cpu": cpu, "ephemeral-storage": "100Gi", "memory": memory, "pods": "110"},
            "conditions": [
                {**condition, "message": message, "reason": reason, "status": status, "type": type_}
                for type_, status, reason, message in _NODE_CONDITIONS
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.7.27",
                "kernelVersion": "6.1.0-31-amd64",
                "kubeProxyVersion": "v1.33.4",
                "kubeletVersion": "v1.33.4",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
            },
        },
    }
