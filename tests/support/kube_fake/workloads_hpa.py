"""The horizontal-pod-autoscaler controller (pkg/controller/podautoscaler) without a metrics
server, as on a fresh cluster: it still holds the target within [minReplicas, maxReplicas]
(by writing the target's spec.replicas, as the real one does through the scale subresource),
and reports ScalingActive False / FailedGetResourceMetric for everything else. It syncs every
15 simulated seconds (its default period), and at once on a new HPA.
"""

from __future__ import annotations

from .workloads_base import (
    Obj,
    State,
    bump_generation,
    group_of,
    ns_of,
    set_condition,
    stamp,
)

HPA_CONTROLLER = "horizontal-pod-autoscaler"
SYNC_SECONDS = 15
_NO_METRICS = (
    "unable to fetch metrics from resource metrics API: the server could not find the "
    "requested resource (get pods.metrics.k8s.io)"
)


def sync_hpas(state: State) -> None:
    now = state.world.now.timestamp()
    due = int(now // SYNC_SECONDS) != int((now - state.world.tick_seconds) // SYNC_SECONDS)
    for hpa in state.of_kind("HorizontalPodAutoscaler", group="autoscaling"):
        if due or not hpa.get("status"):
            _sync(state, hpa)


def _metric_error(hpa: Obj) -> tuple[str, str, str]:
    """(condition reason, event message, FailedComputeMetricsReplicas message) for the first
    metric, which cannot be read without a metrics server."""
    spec = hpa.get("spec") or {}
    metrics = spec.get("metrics") or []
    resource = "cpu"
    kind = "Resource"
    if metrics:
        kind = str(metrics[0].get("type", "Resource"))
        resource = str((metrics[0].get("resource") or {}).get("name", "cpu"))
    if kind != "Resource":
        reason = f"FailedGet{kind}Metric"
        text = f"unable to get metric: {_NO_METRICS.replace('pods.metrics.k8s.io', 'custom.metrics.k8s.io')}"
        return reason, text, f"invalid metrics (1 invalid out of 1), first error is: {text}"
    text = f"failed to get {resource} utilization: unable to get metrics for resource {resource}: {_NO_METRICS}"
    first = f"failed to get {resource} resource metric value: {text}"
    return (
        "FailedGetResourceMetric",
        text,
        f"invalid metrics (1 invalid out of {max(len(metrics), 1)}), first error is: {first}",
    )


def _sync(state: State, hpa: Obj) -> None:
    now = state.world.now
    v2 = hpa.get("apiVersion") != "autoscaling/v1"
    spec = hpa.get("spec") or {}
    status: Obj = dict(hpa.get("status") or {})
    conditions: list[Obj] = list(status.get("conditions") or [])
    ref = spec.get("scaleTargetRef") or {}
    kind, target_name = str(ref.get("kind", "")), str(ref.get("name", ""))
    group = group_of(str(ref.get("apiVersion", "")))
    target = state.find(kind, ns_of(hpa), target_name, group=group)
    min_replicas = int(spec.get("minReplicas", 1))
    max_replicas = int(spec.get("maxReplicas", 1))
    if target is None:
        resource = f"{kind.lower()}s/scale{'.' + group if group else ''}"
        msg = f'{resource} "{target_name}" not found'
        set_condition(
            conditions,
            {
                "type": "AbleToScale",
                "status": "False",
                "reason": "FailedGetScale",
                "message": f"the HPA controller was unable to get the target's current scale: {msg}",
            },
            now,
        )
        state.event(hpa, "Warning", "FailedGetScale", msg, HPA_CONTROLLER)
        _write(hpa, {**status, "conditions": conditions}, v2)
        return
    set_condition(
        conditions,
        {
            "type": "AbleToScale",
            "status": "True",
            "reason": "SucceededGetScale",
            "message": "the HPA controller was able to get the target's current scale",
        },
        now,
    )
    current = int((target.get("spec") or {}).get("replicas", 1))
    desired = current
    reason = ""
    if current == 0 and min_replicas != 0:
        set_condition(
            conditions,
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "ScalingDisabled",
                "message": "scaling is disabled since the replica count of the target is zero",
            },
            now,
        )
    elif current > max_replicas:
        desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
    elif current < min_replicas:
        desired, reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
    else:
        cond_reason, text, computed = _metric_error(hpa)
        set_condition(
            conditions,
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": cond_reason,
                "message": f"the HPA was unable to compute the replica count: {text}",
            },
            now,
        )
        state.event(hpa, "Warning", cond_reason, text, HPA_CONTROLLER)
        state.event(hpa, "Warning", "FailedComputeMetricsReplicas", computed, HPA_CONTROLLER)
        status["currentReplicas"] = current
        status.setdefault("desiredReplicas", 0)
        status["currentMetrics"] = [{"type": ""}]
        _write(hpa, {**status, "conditions": conditions}, v2)
        return
    if desired != current:
        target["spec"]["replicas"] = desired
        bump_generation(target)
        set_condition(
            conditions,
            {
                "type": "AbleToScale",
                "status": "True",
                "reason": "SucceededRescale",
                "message": f"the HPA controller was able to update the target scale to {desired}",
            },
            now,
        )
        state.event(
            hpa,
            "Normal",
            "SuccessfulRescale",
            f"New size: {desired}; reason: {reason}",
            HPA_CONTROLLER,
        )
        status["lastScaleTime"] = stamp(now)
    status["currentReplicas"] = current
    status["desiredReplicas"] = desired
    status.pop("currentMetrics", None)
    _write(hpa, {**status, "conditions": conditions}, v2)


def _write(hpa: Obj, status: Obj, v2: bool) -> None:
    """autoscaling/v1 has no conditions in its status (they live in an annotation there)."""
    if not v2:
        status.pop("conditions", None)
        status.pop("currentMetrics", None)
    if not status.get("currentReplicas"):
        status.pop("currentReplicas", None)
    status.setdefault("desiredReplicas", 0)
    hpa["status"] = status
