"""The statefulset controller (pkg/controller/statefulset), one sync per tick.

Pods <name>-0..N-1, made in order and only after the previous one is Running and Ready
(OrderedReady; Parallel makes them at once), removed from the highest ordinal down; a template
change becomes a ControllerRevision <name>-<hash> and a rolling update replaces pods from the
highest ordinal down to the partition, one at a time. Claims from volumeClaimTemplates are
created Bound (no storage to provision here).
"""

from __future__ import annotations

from .workloads_base import (
    Obj,
    State,
    compute_hash,
    controller_ref,
    name_of,
    ns_of,
    pod_available,
    pod_ready,
    terminating,
)
from .workloads_pods import delete_pod, new_pod

STATEFULSET_CONTROLLER = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def sync_statefulsets(state: State) -> None:
    for sts in state.of_kind("StatefulSet", group="apps"):
        _StatefulSet(state, sts).sync()


def _revision_data(template: Obj) -> Obj:
    return {"spec": {"template": {**template, "$patch": "replace"}}}


class _StatefulSet:
    def __init__(self, state: State, sts: Obj) -> None:
        self.state = state
        self.sts = sts
        self.name = name_of(sts)
        self.ns = ns_of(sts)
        self.spec: Obj = sts.setdefault("spec", {})
        self.replicas = int(self.spec.get("replicas", 1))
        self.min_ready = int(self.spec.get("minReadySeconds", 0))
        self.monotonic = self.spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        strategy = self.spec.get("updateStrategy") or {}
        self.on_delete = strategy.get("type", "RollingUpdate") == "OnDelete"
        self.partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))

    def sync(self) -> None:
        revisions = self.state.owned_by(self.sts, "ControllerRevision")
        update = self.update_revision(revisions)
        status = self.sts.get("status") or {}
        current = next(
            (r for r in revisions if name_of(r) == status.get("currentRevision")), update
        )
        pods = {
            self.ordinal(p): p for p in self.state.owned_by(self.sts, "Pod") if self.ordinal(p) >= 0
        }
        self.set_status(pods, name_of(current), name_of(update))
        if terminating(self.sts):
            return
        self.manage(pods, current, update)
        self.cleanup_revisions(revisions, pods, current, update)

    def ordinal(self, pod: Obj) -> int:
        prefix, _, suffix = name_of(pod).rpartition("-")
        return int(suffix) if prefix == self.name and suffix.isdigit() else -1

    # revisions ----------------------------------------------------------------------------
    def update_revision(self, revisions: list[Obj]) -> Obj:
        data = _revision_data(self.spec.get("template") or {})
        latest = max((int(r.get("revision", 0)) for r in revisions), default=0)
        for rev in revisions:
            if rev.get("data") == data:
                if int(rev.get("revision", 0)) < latest:
                    rev["revision"] = latest + 1  # a rollback: the old revision is the newest
                return rev
        collisions = int((self.sts.get("status") or {}).get("collisionCount", 0))
        digest = compute_hash(data, collisions)
        labels = dict((self.spec.get("selector") or {}).get("matchLabels") or {})
        labels["controller.kubernetes.io/hash"] = digest
        rev = {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": f"{self.name}-{digest}",
                "namespace": self.ns,
                "labels": labels,
                "ownerReferences": [controller_ref(self.sts)],
            },
            "data": data,
            "revision": latest + 1,
        }
        self.state.create(rev)
        revisions.append(rev)
        return rev

    def cleanup_revisions(
        self, revisions: list[Obj], pods: dict[int, Obj], current: Obj, update: Obj
    ) -> None:
        live = {name_of(current), name_of(update)}
        live |= {str(p["metadata"].get("labels", {}).get(REVISION_LABEL)) for p in pods.values()}
        history = sorted(
            (r for r in revisions if name_of(r) not in live),
            key=lambda r: int(r.get("revision", 0)),
        )
        limit = int(self.spec.get("revisionHistoryLimit", 10))
        for rev in history[: max(len(history) - limit, 0)]:
            self.state.remove(rev)

    # pods ---------------------------------------------------------------------------------
    def healthy(self, pod: Obj) -> bool:
        phase = (pod.get("status") or {}).get("phase")
        return phase == "Running" and pod_ready(pod) and not terminating(pod)

    def manage(self, pods: dict[int, Obj], current: Obj, update: Obj) -> None:
        for ordinal in range(self.replicas):
            pod = pods.get(ordinal)
            if pod is None:
                pods[ordinal] = self.create_pod(ordinal, current, update)
                if self.monotonic:
                    return
                continue
            if (pod.get("status") or {}).get("phase") == "Failed" and not terminating(pod):
                self.delete(pod)
                if self.monotonic:
                    return
                continue
            if self.monotonic and not self.healthy(pod):
                return
        for ordinal in sorted((o for o in pods if o >= self.replicas), reverse=True):
            pod = pods[ordinal]
            if terminating(pod):
                if self.monotonic:
                    return
                continue
            self.delete(pod)
            if self.monotonic:
                return
        if self.on_delete:
            return
        for ordinal in range(self.replicas - 1, self.partition - 1, -1):
            pod = pods.get(ordinal)
            if pod is None:
                return
            revision = pod["metadata"].get("labels", {}).get(REVISION_LABEL)
            if revision != name_of(update) and not terminating(pod):
                self.delete(pod)
                return
            if not self.healthy(pod):
                return

    def create_pod(self, ordinal: int, current: Obj, update: Obj) -> Obj:
        if self.on_delete:
            done = int((self.sts.get("status") or {}).get("currentReplicas", 0))
            revision = current if ordinal < done else update
        else:
            revision = current if ordinal < self.partition else update
        template = dict(revision["data"]["spec"]["template"])
        template.pop("$patch", None)
        name = f"{self.name}-{ordinal}"
        meta = dict(template.get("metadata") or {})
        meta["labels"] = {
            **(meta.get("labels") or {}),
            REVISION_LABEL: name_of(revision),
            POD_NAME_LABEL: name,
            POD_INDEX_LABEL: str(ordinal),
        }
        spec = dict(template.get("spec") or {})
        spec["hostname"] = name
        if self.spec.get("serviceName"):
            spec["subdomain"] = self.spec["serviceName"]
        volumes = list(spec.get("volumes") or [])
        for claim in self.spec.get("volumeClaimTemplates") or []:
            claim_name = f"{name_of(claim)}-{name}"
            self.ensure_claim(claim, claim_name, name)
            volumes = [v for v in volumes if v.get("name") != name_of(claim)]
            volumes.append(
                {"name": name_of(claim), "persistentVolumeClaim": {"claimName": claim_name}}
            )
        if volumes:
            spec["volumes"] = volumes
        pod = new_pod(
            self.state, {"metadata": meta, "spec": spec}, self.ns, name, controller_ref(self.sts)
        )
        pod["metadata"].pop("generateName", None)
        self.state.event(
            self.sts,
            "Normal",
            "SuccessfulCreate",
            f"create Pod {name} in StatefulSet {self.name} successful",
            STATEFULSET_CONTROLLER,
        )
        return pod

    def ensure_claim(self, claim: Obj, claim_name: str, pod_name: str) -> None:
        if self.state.find("PersistentVolumeClaim", self.ns, claim_name) is not None:
            return
        spec = dict(claim.get("spec") or {})
        spec.setdefault("storageClassName", "standard")
        spec.setdefault("volumeMode", "Filesystem")
        uid = self.state.world.new_uid()
        spec["volumeName"] = f"pvc-{uid}"
        request = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        labels = {
            **((claim.get("metadata") or {}).get("labels") or {}),
            **((self.spec.get("selector") or {}).get("matchLabels") or {}),
        }
        pvc = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name, "namespace": self.ns, "labels": labels, "uid": uid},
            "spec": spec,
            "status": {
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "capacity": {"storage": request},
                "phase": "Bound",
            },
        }
        self.state.create(pvc)
        self.state.event(
            self.sts,
            "Normal",
            "SuccessfulCreate",
            f"create Claim {claim_name} Pod {pod_name} in StatefulSet {self.name} success",
            STATEFULSET_CONTROLLER,
        )

    def delete(self, pod: Obj) -> None:
        delete_pod(self.state, pod)
        self.state.event(
            self.sts,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {name_of(pod)} in StatefulSet {self.name} successful",
            STATEFULSET_CONTROLLER,
        )

    # status -------------------------------------------------------------------------------
    def set_status(self, pods: dict[int, Obj], current: str, update: str) -> None:
        now = self.state.world.now
        created = [p for p in pods.values() if (p.get("status") or {}).get("phase")]
        live = [p for p in created if not terminating(p)]

        def revision(p: Obj) -> str | None:
            return p["metadata"].get("labels", {}).get(REVISION_LABEL)  # type: ignore[no-any-return]

        running_ready = [
            p for p in created if (p.get("status") or {}).get("phase") == "Running" and pod_ready(p)
        ]
        status: Obj = {
            "observedGeneration": int(self.sts["metadata"].get("generation", 1)),
            "replicas": len(created),
            "readyReplicas": len(running_ready),
            "availableReplicas": sum(
                1 for p in running_ready if pod_available(p, self.min_ready, now)
            ),
            "currentReplicas": sum(1 for p in live if revision(p) == current),
            "updatedReplicas": sum(1 for p in live if revision(p) == update),
            "currentRevision": current,
            "updateRevision": update,
            "collisionCount": int((self.sts.get("status") or {}).get("collisionCount", 0)),
        }
        if (
            not self.on_delete
            and status["updatedReplicas"] == status["replicas"]
            and status["readyReplicas"] == status["replicas"]
        ):
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = update
        keep = ("replicas", "availableReplicas", "collisionCount")
        self.sts["status"] = {
            k: v for k, v in status.items() if k in keep or v not in (0, None, "")
        }
