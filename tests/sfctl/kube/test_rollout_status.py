"""Where a rollout stands, read after read, on recorded progressions (fixtures/rollouts): the
rules and messages of `kubectl rollout status`, kstatus's stricter completion, and what Helm's
legacy wait would have called ready too early."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sfctl.kube.rollout_status import Phase, WorkloadState, workload_state

FIXTURES = Path(__file__).parent / "fixtures" / "rollouts"
DEP = 'Waiting for deployment "smartflow-proxy" rollout to finish: '
DONE = 'deployment "smartflow-proxy" successfully rolled out'
OBSERVING = 'Waiting for deployment "smartflow-proxy" spec update to be observed...'
REV = "smartflow-redis-7f6d9c8b57"


def reads(name: str) -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / name).read_text())["snapshots"])


def states(name: str) -> list[WorkloadState]:
    return [workload_state(read["workloads"][0]) for read in reads(name)]


def seen(name: str) -> list[tuple[Phase, str]]:
    return [(state.phase, state.message) for state in states(name)]


def counts(name: str) -> list[tuple[int, int, int, int]]:
    return [(s.desired, s.updated, s.ready, s.available) for s in states(name)]


def test_the_fixtures_are_what_their_generator_writes() -> None:
    check = subprocess.run(
        [sys.executable, str(FIXTURES / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_a_clean_rollout_one_surge_pod_at_a_time() -> None:
    assert seen("deployment-surge-one.json") == [
        (Phase.OBSERVING, OBSERVING),
        (Phase.PROGRESSING, DEP + "0 out of 3 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "1 out of 3 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "2 out of 3 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "1 old replicas are pending termination..."),
        (Phase.DONE, DONE),
    ]
    assert counts("deployment-surge-one.json") == [
        (3, 3, 3, 3),
        (3, 0, 3, 3),
        (3, 1, 3, 3),
        (3, 2, 3, 3),
        (3, 3, 3, 3),
        (3, 3, 3, 3),
    ]
    assert [s.revision for s in states("deployment-surge-one.json")] == ["1"] + ["2"] * 5


def test_old_replicas_pending_termination_keep_it_waiting_though_every_new_one_is_up() -> None:
    state = states("deployment-surge-one.json")[4]
    assert (state.updated, state.desired, state.available) == (3, 3, 3)
    assert state.phase is Phase.PROGRESSING
    assert state.message == DEP + "1 old replicas are pending termination..."


def test_a_quarter_surge_and_a_quarter_unavailable() -> None:
    assert seen("deployment-surge-quarter.json") == [
        (Phase.PROGRESSING, DEP + "1 out of 4 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "2 out of 4 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "3 out of 4 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "1 old replicas are pending termination..."),
        (Phase.PROGRESSING, DEP + "3 of 4 updated replicas are available..."),
        (Phase.DONE, DONE),
    ]


def max_unavailable(deployment: dict[str, Any]) -> int:
    """deploymentutil.MaxUnavailable, as Helm vendors it: percentages of spec.replicas, surge
    rounded up, unavailable down; both zero means one unavailable."""
    replicas = deployment["spec"]["replicas"]
    strategy = deployment["spec"]["strategy"]
    if strategy["type"] != "RollingUpdate" or replicas == 0:
        return 0

    def value(raw: int | str, up: bool) -> int:
        if isinstance(raw, int):
            return raw
        share = int(raw.rstrip("%")) * replicas / 100
        return math.ceil(share) if up else math.floor(share)

    surge = value(strategy["rollingUpdate"]["maxSurge"], up=True)
    unavailable = value(strategy["rollingUpdate"]["maxUnavailable"], up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return min(unavailable, replicas)


def helm_legacy_ready(read: dict[str, Any]) -> bool:
    """Helm's legacy `--wait` for a Deployment (pkg/kube/ready.go deploymentReady): the new
    ReplicaSet has observed its generation, the Deployment too, and the new ReplicaSet has at
    least `spec.replicas - maxUnavailable` ready pods. Old pods and availability are ignored."""
    deployment = read["workloads"][0]
    revision = deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    new = [
        rs
        for rs in read["replicasets"]
        if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == revision
    ]
    if not new or new[0]["status"]["observedGeneration"] != new[0]["metadata"]["generation"]:
        return False
    if deployment["status"]["observedGeneration"] != deployment["metadata"]["generation"]:
        return False
    expected = deployment["spec"]["replicas"] - max_unavailable(deployment)
    return int(new[0]["status"].get("readyReplicas", 0)) >= expected


def test_helm_legacy_wait_calls_ready_what_is_still_rolling() -> None:
    name = "deployment-surge-quarter.json"
    legacy = [helm_legacy_ready(read) for read in reads(name)]
    ours = [state.phase is Phase.DONE for state in states(name)]
    assert legacy == [False, False, False, True, True, True]
    assert ours == [False, False, False, False, False, True]
    # the two reads Helm calls ready: an old pod still serving, then a new pod not yet ready
    early = states(name)[3:5]
    assert [s.message for s in early] == [
        DEP + "1 old replicas are pending termination...",
        DEP + "3 of 4 updated replicas are available...",
    ]


def test_a_recreate_rollout_has_no_new_replica_set_until_every_old_pod_is_gone() -> None:
    assert seen("deployment-recreate.json") == [
        (Phase.PROGRESSING, DEP + "0 out of 2 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "0 of 2 updated replicas are available..."),
        (Phase.PROGRESSING, DEP + "1 of 2 updated replicas are available..."),
        (Phase.DONE, DONE),
    ]
    assert [s.revision for s in states("deployment-recreate.json")] == ["1", "2", "2", "2"]


def test_the_progress_deadline_fails_the_rollout() -> None:
    assert seen("deployment-progress-deadline.json") == [
        (Phase.PROGRESSING, DEP + "1 out of 3 new replicas have been updated..."),
        (Phase.PROGRESSING, DEP + "1 out of 3 new replicas have been updated..."),
        (
            Phase.FAILED,
            'deployment "smartflow-proxy" exceeded its progress deadline (60s without progress)',
        ),
    ]
    assert states("deployment-progress-deadline.json")[2].reason == "ProgressDeadlineExceeded"


def test_counts_that_look_done_mean_nothing_until_the_generation_is_observed() -> None:
    first, second = states("deployment-observed-lag.json")
    assert (first.desired, first.updated, first.ready, first.available) == (3, 3, 3, 3)
    assert (first.phase, first.message) == (Phase.OBSERVING, OBSERVING)
    assert (second.phase, second.message) == (Phase.DONE, DONE)


def test_a_superseded_rollout_is_read_at_its_newest_generation() -> None:
    found = states("deployment-superseded.json")
    assert [(s.generation, s.revision, s.phase) for s in found] == [
        (2, "2", Phase.PROGRESSING),
        (3, "2", Phase.OBSERVING),
        (3, "3", Phase.PROGRESSING),
        (3, "3", Phase.DONE),
    ]


def test_a_statefulset_rolls_one_pod_at_a_time_from_the_highest_ordinal() -> None:
    ready = "Waiting for 1 pods to be ready..."
    assert seen("statefulset-ordered.json") == [
        (
            Phase.OBSERVING,
            'Waiting for statefulset "smartflow-redis" spec update to be observed...',
        ),
        (Phase.PROGRESSING, ready),
        (Phase.PROGRESSING, ready),
        (
            Phase.PROGRESSING,
            f"waiting for statefulset rolling update to complete 1 pods at revision {REV}...",
        ),
        (Phase.PROGRESSING, ready),
        (
            Phase.PROGRESSING,
            f"waiting for statefulset rolling update to complete 2 pods at revision {REV}...",
        ),
        (Phase.PROGRESSING, ready),
        (Phase.DONE, f"statefulset rolling update complete 3 pods at revision {REV}..."),
    ]


def test_a_partitioned_statefulset_is_done_once_the_pods_past_the_partition_are_updated() -> None:
    assert seen("statefulset-partition.json") == [
        (
            Phase.PROGRESSING,
            "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...",
        ),
        (Phase.PROGRESSING, "Waiting for 1 pods to be ready..."),
        (Phase.DONE, "partitioned roll out complete: 1 new pods have been updated..."),
    ]
    last = reads("statefulset-partition.json")[-1]["workloads"][0]["status"]
    assert last["currentRevision"] != last["updateRevision"]  # the others stay where they were


def final_deployment() -> dict[str, Any]:
    return copy.deepcopy(reads("deployment-surge-one.json")[-1]["workloads"][0])


def set_condition(obj: dict[str, Any], kind: str, **fields: str) -> None:
    for condition in obj["status"]["conditions"]:
        if condition["type"] == kind:
            condition.update(fields)


def test_kstatus_wants_the_controller_to_call_the_new_replica_set_available() -> None:
    deployment = final_deployment()
    set_condition(deployment, "Progressing", reason="ReplicaSetUpdated")
    status = deployment["status"]
    # kubectl's three count rules all pass on this status
    assert status["updatedReplicas"] == deployment["spec"]["replicas"] == status["replicas"]
    assert status["availableReplicas"] == status["updatedReplicas"]
    state = workload_state(deployment)
    assert state.phase is Phase.PROGRESSING
    assert state.message == (
        DEP + "the controller has not yet reported the new replica set available "
        "(Progressing: ReplicaSetUpdated)..."
    )


def test_kstatus_wants_the_deployment_available() -> None:
    deployment = final_deployment()
    set_condition(deployment, "Available", status="False", reason="MinimumReplicasUnavailable")
    state = workload_state(deployment)
    assert (state.phase, state.message) == (
        Phase.PROGRESSING,
        DEP + "the deployment is not Available (MinimumReplicasUnavailable)...",
    )


def test_without_conditions_the_counts_decide() -> None:
    deployment = final_deployment()
    del deployment["status"]["conditions"]
    assert workload_state(deployment).phase is Phase.DONE


def test_a_paused_deployment_fails_with_how_to_resume_it() -> None:
    deployment = copy.deepcopy(reads("deployment-surge-one.json")[3]["workloads"][0])
    deployment["spec"]["paused"] = True
    set_condition(
        deployment,
        "Progressing",
        reason="DeploymentPaused",
        status="Unknown",
        message="Deployment is paused",
    )
    state = workload_state(deployment)
    assert (state.phase, state.reason) == (Phase.FAILED, "Paused")
    assert state.message == (
        'deployment "smartflow-proxy" is paused: a paused deployment never rolls out; resume it '
        "with kubectl rollout resume deployment/smartflow-proxy -n smartflow"
    )


def test_a_replica_failure_is_said_while_waiting() -> None:
    deployment = copy.deepcopy(reads("deployment-surge-one.json")[1]["workloads"][0])
    quota = (
        'pods "smartflow-proxy-7c4b8d9f6c-k2d8f" is forbidden: exceeded quota: compute, '
        "requested: requests.cpu=500m, used: requests.cpu=1500m, limited: requests.cpu=2"
    )
    deployment["status"]["conditions"].append(
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": quota}
    )
    state = workload_state(deployment)
    assert state.phase is Phase.PROGRESSING
    assert state.message == (
        DEP + f"0 out of 3 new replicas have been updated... (ReplicaFailure: {quota})"
    )


def final_statefulset() -> dict[str, Any]:
    return copy.deepcopy(reads("statefulset-ordered.json")[-1]["workloads"][0])


def test_an_on_delete_statefulset_cannot_be_waited_on() -> None:
    sts = final_statefulset()
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    state = workload_state(sts)
    assert (state.phase, state.reason) == (Phase.FAILED, "OnDelete")
    assert state.message == (
        'statefulset "smartflow-redis" uses the OnDelete update strategy: its pods change only '
        "when deleted, so there is no rollout to wait for (rollout status is only available "
        "for RollingUpdate strategy type); delete its pods to roll them, or switch it to "
        "RollingUpdate"
    )


def test_a_statefulset_scaling_down_waits_for_the_extra_pods() -> None:
    sts = final_statefulset()
    sts["spec"]["replicas"] = 2
    state = workload_state(sts)
    assert (state.phase, state.message) == (
        Phase.PROGRESSING,
        'Waiting for statefulset "smartflow-redis" to scale down: 1 pods pending termination...',
    )


def test_a_statefulset_never_observed_is_not_done() -> None:
    sts = final_statefulset()
    sts["metadata"].pop("generation")
    sts["status"].pop("observedGeneration")
    assert workload_state(sts).phase is Phase.OBSERVING


def test_a_statefulset_whose_revision_has_not_moved_is_not_done() -> None:
    sts = final_statefulset()
    sts["status"]["currentRevision"] = "smartflow-redis-5d8c7f9b46"
    state = workload_state(sts)
    assert state.phase is Phase.PROGRESSING
    assert state.message == (
        f"waiting for statefulset rolling update to complete 3 pods at revision {REV}..."
    )


def test_other_kinds_have_no_rollout_status() -> None:
    with pytest.raises(ValueError, match="DaemonSet"):
        workload_state({"kind": "DaemonSet", "metadata": {"name": "x"}})


def test_ref_and_line() -> None:
    state = workload_state(final_deployment())
    assert state.ref == "deployment/smartflow-proxy"
    assert state.line == DONE
