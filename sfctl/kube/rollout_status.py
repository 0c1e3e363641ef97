"""Where one Deployment's or StatefulSet's rollout stands, decided from its JSON alone (the
API's camelCase shape, as `kubectl get -o json` prints it).

The rules are `kubectl rollout status`'s (kubectl pkg/polymorphichelpers/rollout_status.go), in
its order and with its messages, plus the stricter completion of kstatus (cli-utils
pkg/kstatus/status/core.go, Helm 4's `--wait=watcher`):

Deployment. Nothing is decided until the controller has seen the newest spec
(`metadata.generation <= status.observedGeneration`). Then a Progressing condition with reason
ProgressDeadlineExceeded is a failure; then it waits while `updatedReplicas < spec.replicas`,
while `status.replicas > updatedReplicas` (old pods still there) and while
`availableReplicas < updatedReplicas`. kstatus also wants the Progressing condition, when there
is one, at NewReplicaSetAvailable (the controller's own "this rollout is complete") and the
Available condition, when there is one, True. A paused Deployment never finishes (the controller
does not roll a paused one): that is a failure saying how to resume it, where kubectl would wait
out its timeout and Helm's legacy wait calls it ready.

StatefulSet. Only the RollingUpdate strategy can be waited on. With OnDelete the pods change
only when someone deletes them, so there is no rollout to watch: kubectl refuses ("rollout
status is only available for RollingUpdate strategy type", exit 1), and so do we (FAILED, with
the way out). kstatus and Helm's legacy wait report such a StatefulSet ready without looking,
which would let a deploy report success for pods still on the old spec. Then: all
`spec.replicas` pods ready; with a partition P > 0 the rollout is complete once the pods with
ordinal >= P (`replicas - P` of them) are updated; without one, once every pod runs
`status.updateRevision` and the controller has moved `currentRevision` to it. Pods beyond
`spec.replicas` still terminating keep it waiting (kstatus).

Why stricter than Helm's legacy `--wait` (pkg/kube/ready.go): it calls a Deployment ready once
the new ReplicaSet has `spec.replicas - maxUnavailable` ready pods, so with maxUnavailable 25%
a 4-replica rollout is "ready" with one new pod not ready and old pods still serving; it reads
`readyReplicas`, not `availableReplicas` (ignoring minReadySeconds); it treats a paused
Deployment as ready and an OnDelete StatefulSet as ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["REVISION_ANNOTATION", "Phase", "WorkloadState", "conditions", "workload_state"]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
#: the Progressing reasons of the Deployment controller (pkg/controller/deployment/util)
DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"


class Phase(StrEnum):
    OBSERVING = "observing"  # the controller has not seen the newest spec yet
    PROGRESSING = "progressing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """One workload's rollout as last read. `reason` is set on FAILED only (a short code:
    ProgressDeadlineExceeded, Paused, OnDelete); `note` is left to the wait, which adds what it
    learnt across reads (a newer generation followed, a pod's pending problem)."""

    kind: str
    name: str
    namespace: str
    desired: int
    updated: int
    ready: int
    available: int
    phase: Phase
    message: str
    generation: int = 0
    revision: str = ""
    reason: str = ""
    note: str = ""

    @property
    def ref(self) -> str:
        """kubectl's kind/name: deployment/smartflow-proxy."""
        return f"{self.kind.lower()}/{self.name}"

    @property
    def line(self) -> str:
        """The message with the wait's note, for progress and failure lines."""
        return f"{self.message} ({self.note})" if self.note else self.message


def workload_state(obj: Mapping[str, Any]) -> WorkloadState:
    """The rollout state of a Deployment or StatefulSet object; ValueError for other kinds."""
    kind = obj.get("kind")
    if kind == "Deployment":
        return _deployment(obj)
    if kind == "StatefulSet":
        return _statefulset(obj)
    raise ValueError(f"no rollout status for kind {kind!r}: only Deployment and StatefulSet")


def _section(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _count(section: Mapping[str, Any], key: str, default: int = 0) -> int:
    """An int32 field; the API omits zero counts (omitempty), so absent means `default`."""
    value = section.get(key)
    return value if isinstance(value, int) else default


def conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """status.conditions by type (Deployments, StatefulSets, ReplicaSets and Pods alike)."""
    found = _section(obj, "status").get("conditions") or []
    return {c["type"]: c for c in found if isinstance(c, Mapping) and "type" in c}


def _deployment(obj: Mapping[str, Any]) -> WorkloadState:
    meta, spec, status = _section(obj, "metadata"), _section(obj, "spec"), _section(obj, "status")
    name = str(meta.get("name", ""))
    quoted = f'"{name}"'
    desired = _count(spec, "replicas", 1)  # the API defaults spec.replicas to 1
    updated, ready = _count(status, "updatedReplicas"), _count(status, "readyReplicas")
    available, total = _count(status, "availableReplicas"), _count(status, "replicas")
    generation = _count(meta, "generation")
    revision = str(_section(meta, "annotations").get(REVISION_ANNOTATION, ""))

    def state(phase: Phase, message: str, reason: str = "") -> WorkloadState:
        return WorkloadState(
            "Deployment",
            name,
            str(meta.get("namespace", "")),
            desired,
            updated,
            ready,
            available,
            phase,
            message,
            generation,
            revision,
            reason,
        )

    if generation > _count(status, "observedGeneration"):
        return state(
            Phase.OBSERVING, f"Waiting for deployment {quoted} spec update to be observed..."
        )
    conds = conditions(obj)
    progressing, availability = conds.get("Progressing"), conds.get("Available")
    if progressing is not None and progressing.get("reason") == DEADLINE_EXCEEDED:
        deadline = _count(spec, "progressDeadlineSeconds", 600)
        return state(
            Phase.FAILED,
            f"deployment {quoted} exceeded its progress deadline ({deadline}s without progress)",
            DEADLINE_EXCEEDED,
        )
    if spec.get("paused") is True:
        namespace = meta.get("namespace", "default")
        return state(
            Phase.FAILED,
            f"deployment {quoted} is paused: a paused deployment never rolls out; resume it "
            f"with kubectl rollout resume deployment/{name} -n {namespace}",
            "Paused",
        )
    waiting = f"Waiting for deployment {quoted} rollout to finish: "
    if updated < desired:
        message = f"{waiting}{updated} out of {desired} new replicas have been updated..."
    elif total > updated:
        message = f"{waiting}{total - updated} old replicas are pending termination..."
    elif available < updated:
        message = f"{waiting}{available} of {updated} updated replicas are available..."
    elif progressing is not None and progressing.get("reason") != NEW_RS_AVAILABLE:
        message = (
            f"{waiting}the controller has not yet reported the new replica set available "
            f"(Progressing: {progressing.get('reason')})..."
        )
    elif availability is not None and availability.get("status") != "True":
        message = f"{waiting}the deployment is not Available ({availability.get('reason')})..."
    else:
        return state(Phase.DONE, f"deployment {quoted} successfully rolled out")
    failure = conds.get("ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        message += f" (ReplicaFailure: {failure.get('message') or failure.get('reason')})"
    return state(Phase.PROGRESSING, message)


def _statefulset(obj: Mapping[str, Any]) -> WorkloadState:
    meta, spec, status = _section(obj, "metadata"), _section(obj, "spec"), _section(obj, "status")
    name = str(meta.get("name", ""))
    quoted = f'"{name}"'
    desired = _count(spec, "replicas", 1)
    updated, ready = _count(status, "updatedReplicas"), _count(status, "readyReplicas")
    update_revision = str(status.get("updateRevision", ""))
    strategy = _section(spec, "updateStrategy")

    def state(phase: Phase, message: str, reason: str = "") -> WorkloadState:
        return WorkloadState(
            "StatefulSet",
            name,
            str(meta.get("namespace", "")),
            desired,
            updated,
            ready,
            _count(status, "availableReplicas"),
            phase,
            message,
            _count(meta, "generation"),
            update_revision,
            reason,
        )

    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return state(
            Phase.FAILED,
            f"statefulset {quoted} uses the {strategy.get('type')} update strategy: its pods "
            "change only when deleted, so there is no rollout to wait for (rollout status is "
            "only available for RollingUpdate strategy type); delete its pods to roll them, "
            "or switch it to RollingUpdate",
            str(strategy.get("type")),
        )
    observed = _count(status, "observedGeneration")
    if observed == 0 or _count(meta, "generation") > observed:
        return state(
            Phase.OBSERVING, f"Waiting for statefulset {quoted} spec update to be observed..."
        )
    if ready < desired:
        return state(Phase.PROGRESSING, f"Waiting for {desired - ready} pods to be ready...")
    extra = _count(status, "replicas") - desired
    if extra > 0:
        return state(
            Phase.PROGRESSING,
            f"Waiting for statefulset {quoted} to scale down: {extra} pods pending termination...",
        )
    partition = _count(_section(strategy, "rollingUpdate"), "partition")
    if partition > 0:
        wanted = max(desired - partition, 0)
        if updated < wanted:
            return state(
                Phase.PROGRESSING,
                f"Waiting for partitioned roll out to finish: {updated} out of {wanted} new "
                "pods have been updated...",
            )
        return state(
            Phase.DONE, f"partitioned roll out complete: {updated} new pods have been updated..."
        )
    if updated < desired or status.get("currentRevision") != update_revision:
        return state(
            Phase.PROGRESSING,
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_revision}...",
        )
    return state(
        Phase.DONE,
        f"statefulset rolling update complete {_count(status, 'currentReplicas')} pods at "
        f"revision {update_revision}...",
    )
