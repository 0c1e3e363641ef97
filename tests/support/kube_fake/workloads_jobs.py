"""The job controller and the TTL-after-finished controller (pkg/controller/job, ttlafterfinished).

Helm waits for hook Jobs (cert-manager's startupapicheck, ingress-nginx's admission
create/patch) to complete, so they run here: pods that run to completion, Complete with
CompletionsReached, or Failed with BackoffLimitExceeded after backoffLimit failures.
"""

from __future__ import annotations

from .workloads_base import (
    Obj,
    State,
    condition_true,
    controller_ref,
    drop_zero,
    name_of,
    ns_of,
    pod_active,
    pod_ready,
    seconds_since,
    set_condition,
    stamp,
    terminating,
)
from .workloads_pods import delete_pod, new_pod

JOB_CONTROLLER = "job-controller"


def sync_jobs(state: State) -> None:
    for job in state.of_kind("Job", group="batch"):
        if condition_true(job, "Complete") or condition_true(job, "Failed"):
            _expire(state, job)
        elif not terminating(job):
            _sync(state, job)


def _expire(state: State, job: Obj) -> None:
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    status = job.get("status") or {}
    finished = status.get("completionTime") or next(
        (
            c.get("lastTransitionTime")
            for c in status.get("conditions") or []
            if c.get("type") == "Failed"
        ),
        None,
    )
    if ttl is not None and seconds_since(finished, state.world.now) >= int(ttl):
        state.remove(job)


def _sync(state: State, job: Obj) -> None:
    now = state.world.now
    spec = job.get("spec") or {}
    status: Obj = dict(job.get("status") or {})
    conditions: list[Obj] = list(status.get("conditions") or [])
    completions = int(spec.get("completions") or 1)
    parallelism = int(spec.get("parallelism", 1))
    backoff_limit = int(spec.get("backoffLimit", 6))
    pods = state.owned_by(job, "Pod")
    active = [p for p in pods if pod_active(p)]
    succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
    failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
    if (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure":
        failed += sum(
            int(cs.get("restartCount", 0))
            for p in pods
            for cs in (p.get("status") or {}).get("containerStatuses") or []
        )
    if spec.get("suspend"):
        return
    status.setdefault("startTime", stamp(now))
    if succeeded >= completions:
        message = "Reached expected number of succeeded pods"
        for type_ in ("SuccessCriteriaMet", "Complete"):
            set_condition(
                conditions,
                {
                    "type": type_,
                    "status": "True",
                    "reason": "CompletionsReached",
                    "message": message,
                    "lastProbeTime": stamp(now),
                },
                now,
            )
        status["completionTime"] = stamp(now)
        state.event(job, "Normal", "Completed", "Job completed", JOB_CONTROLLER)
    elif failed > backoff_limit:
        message = "Job has reached the specified backoff limit"
        for type_ in ("FailureTarget", "Failed"):
            set_condition(
                conditions,
                {
                    "type": type_,
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": message,
                    "lastProbeTime": stamp(now),
                },
                now,
            )
        for pod in active:
            delete_pod(state, pod)
        state.event(job, "Warning", "BackoffLimitExceeded", message, JOB_CONTROLLER)
    else:
        want = min(parallelism, completions - succeeded) - len(active)
        for _ in range(max(want, 0)):
            _create_pod(state, job)
    job["status"] = {
        **drop_zero(
            {
                "active": len(active),
                "succeeded": succeeded,
                "failed": failed,
                "startTime": status.get("startTime"),
                "completionTime": status.get("completionTime"),
                "conditions": conditions,
            }
        ),
        "ready": sum(1 for p in active if pod_ready(p)),
        "terminating": sum(1 for p in pods if terminating(p)),
        "uncountedTerminatedPods": {},
    }


def _create_pod(state: State, job: Obj) -> None:
    template = dict((job.get("spec") or {}).get("template") or {})
    meta = dict(template.get("metadata") or {})
    uid = str(job["metadata"].get("uid"))
    meta["labels"] = {
        **(meta.get("labels") or {}),
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name_of(job),
        "controller-uid": uid,
        "job-name": name_of(job),
    }
    template["metadata"] = meta
    name = state.unique_name(f"{name_of(job)}-", "Pod", ns_of(job))
    new_pod(state, template, ns_of(job), name, controller_ref(job))
    state.event(job, "Normal", "SuccessfulCreate", f"Created pod: {name}", JOB_CONTROLLER)
