"""The deployment and replicaset controllers of kube-controller-manager, one sync per tick.

Ported from pkg/controller/deployment (rolling.go, recreate.go, sync.go, progress.go) and
pkg/controller/replicaset: ReplicaSets named after the pod-template hash, the revision
annotations, rolling updates bounded by maxSurge and maxUnavailable, Recreate, proportional
scaling, pause, the Available and Progressing conditions (ProgressDeadlineExceeded included)
and the ScalingReplicaSet events. Status counts come from the ReplicaSets' own status, so they
lag the pods by one sync exactly as on a real cluster.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from .workloads_base import (
    Obj,
    State,
    bump_generation,
    compute_hash,
    controller_ref,
    drop_zero,
    get_condition,
    name_of,
    ns_of,
    owner_refs,
    parse_stamp,
    pod_active,
    pod_available,
    pod_ready,
    selector_matches,
    stamp,
    terminating,
)
from .workloads_pods import delete_pod, new_pod

DEPLOYMENT_CONTROLLER = "deployment-controller"
REPLICASET_CONTROLLER = "replicaset-controller"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
_NOT_COPIED = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}


# ReplicaSet controller ---------------------------------------------------------------------
def sync_replicasets(state: State) -> None:
    for rs in state.of_kind("ReplicaSet", group="apps"):
        _sync_replicaset(state, rs)


def _sync_replicaset(state: State, rs: Obj) -> None:
    spec = rs.get("spec") or {}
    ns = ns_of(rs)
    _adopt(state, rs, spec.get("selector"))
    pods = [p for p in state.owned_by(rs, "Pod") if pod_active(p)]
    want = int(spec.get("replicas", 1))
    min_ready = int(spec.get("minReadySeconds", 0))
    now = state.world.now
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    status = {
        "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
        "fullyLabeledReplicas": sum(
            1
            for p in pods
            if selector_matches({"matchLabels": template_labels}, p["metadata"].get("labels"))
        ),
        "observedGeneration": int(rs["metadata"].get("generation", 1)),
        "readyReplicas": sum(1 for p in pods if pod_ready(p)),
        "replicas": len(pods),
    }
    conditions = (rs.get("status") or {}).get("conditions")
    rs["status"] = drop_zero({**status, "conditions": conditions}, keep=("replicas",))
    if terminating(rs):
        return
    diff = len(pods) - want
    if diff < 0:
        for _ in range(-diff):
            name = state.unique_name(f"{name_of(rs)}-", "Pod", ns)
            pod = new_pod(state, spec.get("template") or {}, ns, name, controller_ref(rs))
            state.event(
                rs,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {name_of(pod)}",
                REPLICASET_CONTROLLER,
            )
    elif diff > 0:
        for pod in sorted(pods, key=lambda p: _deletion_rank(p, now))[:diff]:
            delete_pod(state, pod)
            state.event(
                rs,
                "Normal",
                "SuccessfulDelete",
                f"Deleted pod: {name_of(pod)}",
                REPLICASET_CONTROLLER,
            )


def _adopt(state: State, owner: Obj, selector: Obj | None) -> None:
    """Orphans that match the selector are adopted (the controllers' ClaimPods)."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return
    for pod in state.of_kind("Pod", ns_of(owner)):
        refs = owner_refs(pod)
        if any(r.get("controller") for r in refs) or terminating(pod):
            continue
        if selector_matches(selector, pod["metadata"].get("labels")):
            pod["metadata"]["ownerReferences"] = [*refs, controller_ref(owner)]


def _deletion_rank(pod: Obj, now: datetime) -> tuple[Any, ...]:
    """Which pods a scale-down removes first (controller.ActivePodsWithRanks): unscheduled,
    then pending, not ready, ready for less time, restarted more, newer."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(str(status.get("phase")), 0)
    ready = pod_ready(pod)
    ready_since = 0.0
    if ready:
        cond = get_condition(pod, "Ready") or {}
        when = parse_stamp(cond.get("lastTransitionTime"))
        ready_since = when.timestamp() if when else 0.0
    restarts = sum(int(cs.get("restartCount", 0)) for cs in status.get("containerStatuses") or [])
    created = parse_stamp(pod["metadata"].get("creationTimestamp"))
    return (
        bool(pod.get("spec", {}).get("nodeName")),
        phase_rank,
        ready,
        -ready_since,
        -restarts,
        -(created.timestamp() if created else 0.0),
    )


# Deployment controller ---------------------------------------------------------------------
def sync_deployments(state: State) -> None:
    for d in state.of_kind("Deployment", group="apps"):
        _Deployment(state, d).sync()


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: surge rounds up, unavailable rounds down, and both
    zero would deadlock, so unavailable becomes 1."""
    surge = _int_or_percent(max_surge, desired, round_up=True)
    unavailable = _int_or_percent(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def _replicas(rs: Obj | None) -> int:
    return int((rs or {}).get("spec", {}).get("replicas", 1)) if rs else 0


def _st(rs: Obj | None, field: str) -> int:
    return int(((rs or {}).get("status") or {}).get(field, 0))


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _created(rs: Obj) -> tuple[str, str]:
    return (str(rs["metadata"].get("creationTimestamp", "")), name_of(rs))


def _template_key(template: Obj) -> Obj:
    """The pod template without the hash label (deploymentutil.EqualIgnoreHash)."""
    copy: Obj = {**template, "metadata": dict(template.get("metadata") or {})}
    labels = dict(copy["metadata"].get("labels") or {})
    labels.pop(HASH_LABEL, None)
    copy["metadata"]["labels"] = labels
    if not labels:
        copy["metadata"].pop("labels")
    if not copy["metadata"]:
        copy.pop("metadata")
    return copy


class _Deployment:
    def __init__(self, state: State, d: Obj) -> None:
        self.state = state
        self.d = d
        self.now = state.world.now
        spec = d.setdefault("spec", {})
        self.spec = spec
        self.replicas = int(spec.get("replicas", 1))
        strategy = spec.get("strategy") or {}
        self.rolling = strategy.get("type", "RollingUpdate") != "Recreate"
        rolling = strategy.get("rollingUpdate") or {}
        self.surge, self.unavailable = resolve_fenceposts(
            rolling.get("maxSurge"), rolling.get("maxUnavailable"), self.replicas
        )
        self.deadline = spec.get("progressDeadlineSeconds", 600)
        self.history_limit = spec.get("revisionHistoryLimit", 10)
        self.rs_list = state.owned_by(d, "ReplicaSet")
        self.old_status: Obj = dict(d.get("status") or {})

    # helpers ------------------------------------------------------------------------------
    def max_surge(self) -> int:
        return self.surge if self.rolling else 0

    def max_unavailable(self) -> int:
        if not self.rolling or self.replicas == 0:
            return 0
        return min(self.unavailable, self.replicas)

    def has_deadline(self) -> bool:
        return self.deadline is not None and int(self.deadline) < 2**31 - 1

    def conditions(self) -> list[Obj]:
        status = self.d.setdefault("status", {})
        conds: list[Obj] = status.setdefault("conditions", [])
        return conds

    def set_condition(self, type_: str, status: str, reason: str, message: str) -> bool:
        """deploymentutil.SetDeploymentCondition: same status and reason leaves it be."""
        conds = self.conditions()
        now = stamp(self.now)
        new = {
            "lastTransitionTime": now,
            "lastUpdateTime": now,
            "message": message,
            "reason": reason,
            "status": status,
            "type": type_,
        }
        for i, old in enumerate(conds):
            if old.get("type") != type_:
                continue
            if old.get("status") == status and old.get("reason") == reason:
                return False
            if old.get("status") == status:
                new["lastTransitionTime"] = old.get("lastTransitionTime", now)
            del conds[i]
            break
        conds.append(new)
        return True

    # sync ---------------------------------------------------------------------------------
    def sync(self) -> None:
        if terminating(self.d):
            new, old = self.find_replicasets(create=False)
            self.sync_status(old, new)
            return
        self.check_paused_conditions()
        if self.spec.get("paused"):
            self.sync_scale()
            return
        if self.is_scaling_event():
            self.sync_scale()
            return
        if self.rolling:
            self.rollout_rolling()
        else:
            self.rollout_recreate()

    def check_paused_conditions(self) -> None:
        if not self.has_deadline():
            return
        cond = get_condition(self.d, "Progressing")
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused_cond = cond is not None and cond.get("reason") == "DeploymentPaused"
        if self.spec.get("paused") and not paused_cond:
            self.set_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif not self.spec.get("paused") and paused_cond:
            self.set_condition(
                "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed"
            )

    def find_replicasets(self, create: bool) -> tuple[Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision: the ReplicaSet running the current template (made
        when `create`), the others, and the revision annotations brought up to date."""
        want = _template_key(self.spec.get("template") or {})
        ordered = sorted(self.rs_list, key=_created)
        new = next(
            (
                rs
                for rs in ordered
                if _template_key((rs.get("spec") or {}).get("template") or {}) == want
            ),
            None,
        )
        old = [rs for rs in ordered if rs is not new]
        next_revision = max((_revision(rs) for rs in old), default=0) + 1
        if new is not None:
            ann = new["metadata"].setdefault("annotations", {})
            if _revision(new) < next_revision:
                previous = ann.get(REVISION)
                if previous:
                    history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
                    ann[REVISION_HISTORY] = ",".join([*history, previous])
                ann[REVISION] = str(next_revision)
            self.d["metadata"].setdefault("annotations", {})[REVISION] = ann[REVISION]
            if self.has_deadline() and get_condition(self.d, "Progressing") is None:
                self.set_condition(
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    f'Found new replica set "{name_of(new)}"',
                )
            return new, old
        if not create:
            return None, old
        return self.create_replicaset(old, next_revision), old

    def create_replicaset(self, old: list[Obj], revision: int) -> Obj | None:
        template = self.spec.get("template") or {}
        collisions = int((self.d.get("status") or {}).get("collisionCount", 0))
        pod_hash = compute_hash(template, collisions)
        name = f"{name_of(self.d)}-{pod_hash}"
        ns = ns_of(self.d)
        if self.state.find("ReplicaSet", ns, name) is not None:
            self.d.setdefault("status", {})["collisionCount"] = collisions + 1
            return None
        new_template = {**template, "metadata": dict(template.get("metadata") or {})}
        labels = {**(new_template["metadata"].get("labels") or {}), HASH_LABEL: pod_hash}
        new_template["metadata"]["labels"] = labels
        selector = dict(self.spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        replicas = self.new_rs_replicas([*old], None)
        annotations = {
            k: v
            for k, v in (self.d["metadata"].get("annotations") or {}).items()
            if k not in _NOT_COPIED
        }
        annotations.update(
            {
                DESIRED: str(self.replicas),
                MAX_REPLICAS: str(self.replicas + self.max_surge()),
                REVISION: str(revision),
            }
        )
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [controller_ref(self.d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": int(self.spec.get("minReadySeconds", 0)),
                "selector": selector,
                "template": new_template,
            },
            "status": {"replicas": 0},
        }
        self.state.create(rs)
        self.rs_list.append(rs)
        if replicas > 0:
            self.scaled_event("up", name, 0, replicas)
        self.d["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        if self.has_deadline():
            self.set_condition(
                "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'
            )
        return rs

    def scaled_event(self, direction: str, name: str, before: int, after: int) -> None:
        self.state.event(
            self.d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {name} from {before} to {after}",
            DEPLOYMENT_CONTROLLER,
        )

    def scale_rs(self, rs: Obj, size: int) -> bool:
        """scaleReplicaSetAndRecordEvent: the size and the replicas annotations."""
        before = _replicas(rs)
        ann = rs["metadata"].setdefault("annotations", {})
        ann[DESIRED] = str(self.replicas)
        ann[MAX_REPLICAS] = str(self.replicas + self.max_surge())
        if before == size:
            return False
        rs["spec"]["replicas"] = size
        bump_generation(rs)
        self.scaled_event("up" if size > before else "down", name_of(rs), before, size)
        return True

    def new_rs_replicas(self, all_rs: list[Obj], new: Obj | None) -> int:
        """deploymentutil.NewRSNewReplicas."""
        if not self.rolling:
            return self.replicas
        current = sum(_replicas(rs) for rs in all_rs) + (0 if new in all_rs else _replicas(new))
        max_total = self.replicas + self.surge
        if current >= max_total:
            return _replicas(new)
        scale_up = min(max_total - current, self.replicas - _replicas(new))
        return _replicas(new) + scale_up

    # rolling ------------------------------------------------------------------------------
    def rollout_rolling(self) -> None:
        new, old = self.find_replicasets(create=True)
        all_rs = [*old, *([new] if new else [])]
        if new is not None and self.reconcile_new(all_rs, new):
            self.sync_rollout_status(all_rs, new)
            return
        active_old = [rs for rs in old if _replicas(rs) > 0]
        if self.reconcile_old(all_rs, active_old, new):
            self.sync_rollout_status(all_rs, new)
            return
        if self.complete(self.old_status):
            self.cleanup(old)
        self.sync_rollout_status(all_rs, new)

    def reconcile_new(self, all_rs: list[Obj], new: Obj) -> bool:
        if _replicas(new) == self.replicas:
            return False
        if _replicas(new) > self.replicas:
            return self.scale_rs(new, self.replicas)
        return self.scale_rs(new, self.new_rs_replicas(all_rs, new))

    def reconcile_old(self, all_rs: list[Obj], old: list[Obj], new: Obj | None) -> bool:
        if sum(_replicas(rs) for rs in old) == 0:
            return False
        all_pods = sum(_replicas(rs) for rs in all_rs)
        min_available = self.replicas - self.max_unavailable()
        new_unavailable = _replicas(new) - _st(new, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = 0
        for rs in sorted(old, key=_created):
            if cleaned >= max_scaled_down:
                break
            if _replicas(rs) == 0:
                continue
            unhealthy = _replicas(rs) - _st(rs, "availableReplicas")
            if unhealthy <= 0:
                continue
            down = min(unhealthy, max_scaled_down - cleaned)
            self.scale_rs(rs, _replicas(rs) - down)
            cleaned += down
        available = sum(_st(rs, "availableReplicas") for rs in all_rs)
        scaled = 0
        if available > min_available:
            total = available - min_available
            for rs in sorted(old, key=_created):
                if scaled >= total:
                    break
                if _replicas(rs) == 0:
                    continue
                down = min(_replicas(rs), total - scaled)
                self.scale_rs(rs, _replicas(rs) - down)
                scaled += down
        return cleaned + scaled > 0

    # recreate -----------------------------------------------------------------------------
    def rollout_recreate(self) -> None:
        new, old = self.find_replicasets(create=False)
        all_rs = [*old, *([new] if new else [])]
        scaled_down = False
        for rs in old:
            if _replicas(rs) > 0:
                scaled_down = self.scale_rs(rs, 0) or scaled_down
        if scaled_down or self.old_pods_running(new, old):
            self.sync_rollout_status(all_rs, new)
            return
        if new is None:
            new, old = self.find_replicasets(create=True)
            all_rs = [*old, *([new] if new else [])]
        if new is not None:
            self.scale_rs(new, self.replicas)
        if self.complete(self.old_status):
            self.cleanup(old)
        self.sync_rollout_status(all_rs, new)

    def old_pods_running(self, new: Obj | None, old: list[Obj]) -> bool:
        if sum(_st(rs, "replicas") for rs in old) > 0:
            return True
        new_uid = new["metadata"].get("uid") if new else None
        for rs in self.rs_list:
            if rs["metadata"].get("uid") == new_uid:
                continue
            for pod in self.state.owned_by(rs, "Pod"):
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    # scaling ------------------------------------------------------------------------------
    def is_scaling_event(self) -> bool:
        new, old = self.find_replicasets(create=False)
        if new is None:
            return False
        for rs in [*old, new]:
            if _replicas(rs) == 0:
                continue
            desired = (rs["metadata"].get("annotations") or {}).get(DESIRED)
            if desired is not None and int(desired) != self.replicas:
                return True
        return False

    def sync_scale(self) -> None:
        new, old = self.find_replicasets(create=False)
        self.scale(new, old)
        if self.spec.get("paused"):
            self.cleanup(old)
        self.sync_status(old, new)

    def scale(self, new: Obj | None, old: list[Obj]) -> None:
        """dc.scale, proportional scaling included."""
        all_rs = [*old, *([new] if new else [])]
        active = [rs for rs in all_rs if _replicas(rs) > 0]
        if new is None and not old:
            return
        if len(active) <= 1:
            target = active[0] if active else (new or sorted(old, key=_created)[-1])
            self.scale_rs(target, self.replicas)
            return
        if new is not None and self.saturated(new):
            for rs in old:
                if _replicas(rs) > 0:
                    self.scale_rs(rs, 0)
            return
        if not self.rolling:
            return
        current = sum(_replicas(rs) for rs in active)
        allowed = self.replicas + self.max_surge() if self.replicas > 0 else 0
        to_add = allowed - current
        # ReplicaSetsBySizeNewer when adding, BySizeOlder when removing: largest first
        active.sort(key=_created, reverse=to_add > 0)
        active.sort(key=lambda rs: -_replicas(rs))
        added = 0
        sizes: dict[str, int] = {}
        for rs in active:
            proportion = self.proportion(rs, to_add, added) if to_add else 0
            sizes[name_of(rs)] = _replicas(rs) + proportion
            added += proportion
        for i, rs in enumerate(active):
            size = sizes[name_of(rs)]
            if i == 0 and to_add:
                size = max(size + to_add - added, 0)
            self.scale_rs(rs, size)

    def proportion(self, rs: Obj, to_add: int, added: int) -> int:
        if _replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        if self.replicas == 0:
            fraction = -_replicas(rs)
        else:
            target = self.replicas + self.max_surge()
            try:
                annotated = int((rs["metadata"].get("annotations") or {})[MAX_REPLICAS])
            except (KeyError, ValueError):
                annotated = int(self.old_status.get("replicas", 0)) or 1
            fraction = round(_replicas(rs) * target / annotated) - _replicas(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def saturated(self, rs: Obj) -> bool:
        desired = (rs["metadata"].get("annotations") or {}).get(DESIRED)
        return (
            _replicas(rs) == self.replicas
            and desired == str(self.replicas)
            and _st(rs, "availableReplicas") == self.replicas
        )

    def cleanup(self, old: list[Obj]) -> None:
        if self.history_limit is None:
            return
        alive = [rs for rs in old if not terminating(rs)]
        diff = len(alive) - int(self.history_limit)
        if diff <= 0:
            return
        for rs in sorted(alive, key=lambda r: (_revision(r), _created(r)))[:diff]:
            status = rs.get("status") or {}
            if (
                _st(rs, "replicas")
                or _replicas(rs)
                or int(rs["metadata"].get("generation", 1))
                > int(status.get("observedGeneration", 0))
            ):
                continue
            self.state.remove(rs)
            self.rs_list.remove(rs)

    # status -------------------------------------------------------------------------------
    def complete(self, status: Obj) -> bool:
        """deploymentutil.DeploymentComplete."""
        return (
            int(status.get("updatedReplicas", 0)) == self.replicas
            and int(status.get("replicas", 0)) == self.replicas
            and int(status.get("availableReplicas", 0)) == self.replicas
            and int(status.get("observedGeneration", 0))
            >= int(self.d["metadata"].get("generation", 1))
        )

    def calculate_status(self, all_rs: list[Obj], new: Obj | None) -> Obj:
        available = sum(_st(rs, "availableReplicas") for rs in all_rs)
        total = sum(_replicas(rs) for rs in all_rs)
        status = {
            "observedGeneration": int(self.d["metadata"].get("generation", 1)),
            "replicas": sum(_st(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _st(new, "replicas"),
            "readyReplicas": sum(_st(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(total - available, 0),
        }
        collisions = (self.d.get("status") or {}).get("collisionCount")
        if collisions is not None:
            status["collisionCount"] = collisions
        self.d["status"] = {**drop_zero(status), "conditions": self.conditions()}
        if available >= self.replicas - self.max_unavailable():
            self.set_condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            self.set_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        result: Obj = self.d["status"]
        return result

    def sync_status(self, old: list[Obj], new: Obj | None) -> None:
        self.calculate_status([*old, *([new] if new else [])], new)

    def sync_rollout_status(self, all_rs: list[Obj], new: Obj | None) -> None:
        """syncRolloutStatus: counts, then the Progressing condition from the progress made
        since the last sync (or its absence for progressDeadlineSeconds)."""
        status = self.calculate_status(all_rs, new)
        if not self.has_deadline():
            self.d["status"]["conditions"] = [
                c for c in self.conditions() if c.get("type") != "Progressing"
            ]
            return
        current = get_condition(self.d, "Progressing")
        complete_before = (
            int(status.get("replicas", 0)) == int(status.get("updatedReplicas", 0))
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        )
        if complete_before:
            return
        rs_name = f'ReplicaSet "{name_of(new)}"' if new else f'Deployment "{name_of(self.d)}"'
        if self.complete(status):
            self.set_condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f"{rs_name} has successfully progressed.",
            )
        elif self.progressing(status):
            conds = self.conditions()
            now = stamp(self.now)
            cond = {
                "lastTransitionTime": now,
                "lastUpdateTime": now,
                "message": f"{rs_name} is progressing.",
                "reason": "ReplicaSetUpdated",
                "status": "True",
                "type": "Progressing",
            }
            if current is not None and current.get("status") == "True":
                cond["lastTransitionTime"] = current.get("lastTransitionTime", now)
            conds[:] = [c for c in conds if c.get("type") != "Progressing"]
            conds.append(cond)
        elif self.timed_out():
            self.set_condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f"{rs_name} has timed out progressing.",
            )

    def progressing(self, new: Obj) -> bool:
        old = self.old_status

        def n(status: Obj, field: str) -> int:
            return int(status.get(field, 0))

        return (
            n(new, "updatedReplicas") > n(old, "updatedReplicas")
            or n(new, "replicas") - n(new, "updatedReplicas")
            < n(old, "replicas") - n(old, "updatedReplicas")
            or n(new, "readyReplicas") > n(old, "readyReplicas")
            or n(new, "availableReplicas") > n(old, "availableReplicas")
        )

    def timed_out(self) -> bool:
        cond = get_condition(self.d, "Progressing")
        if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
            return False
        if cond.get("reason") == "ProgressDeadlineExceeded":
            return True
        since = parse_stamp(cond.get("lastUpdateTime"))
        if since is None:
            return False
        return (self.now - since).total_seconds() > int(self.deadline)
