"""Which pods belong to a workload's current rollout, and what is wrong with one of them, in
the pod's own words, with the grace a recoverable problem gets before it is fatal."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sfctl.kube.pod_problems import (
    DEFAULT_GRACE,
    Grace,
    PodProblem,
    current_pods,
    parse_time,
    pod_events,
    pod_problem,
)

FIXTURES = Path(__file__).parent / "fixtures" / "rollouts"
POD = "smartflow-proxy-7c4b8d9f6c-k2d8f"
IMAGE = "registry.example.com/smartflow/gateway:9.9.9"
PROBE_503 = "Readiness probe failed: HTTP probe failed with statuscode: 503"
NO_NODE = (
    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
    "3 No preemption victims found for incoming pod."
)


def reads(name: str) -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / name).read_text())["snapshots"])


def names(pods: list[Any]) -> list[str]:
    return [pod["metadata"]["name"] for pod in pods]


def current(read: dict[str, Any]) -> list[str]:
    return names(current_pods(read["workloads"][0], read["replicasets"], read["pods"]))


def the_pod(read: dict[str, Any], name: str = POD) -> dict[str, Any]:
    return copy.deepcopy(next(p for p in read["pods"] if p["metadata"]["name"] == name))


def problems(name: str, grace: Grace = DEFAULT_GRACE) -> list[PodProblem | None]:
    """The new pod's problem at each read of a fixture."""
    return [pod_problem(the_pod(read), read["events"], now(read), grace) for read in reads(name)]


def fatal(pod: dict[str, Any], events: list[Any], when: datetime) -> bool:
    problem = pod_problem(pod, events, when)
    assert problem is not None
    return problem.fatal


def now(read: dict[str, Any], later: float = 0) -> datetime:
    moment = parse_time(read["now"])
    assert moment is not None
    return moment + timedelta(seconds=later)


# ------------------------------------------------------------------------- current pods


def test_the_current_pods_of_a_deployment_are_those_of_its_revisions_replica_set() -> None:
    surge = reads("deployment-surge-one.json")
    new = [f"smartflow-proxy-7c4b8d9f6c-{s}" for s in ("k2d8f", "m7c4h", "t5n9s")]
    assert current(surge[1]) == []  # the new ReplicaSet has no pod yet
    assert current(surge[2]) == new[:1]
    assert current(surge[3]) == new[:2]  # not the old pods still serving beside them
    assert current(surge[5]) == new


def test_before_the_controller_observes_it_a_deployment_still_names_its_previous_revision() -> None:
    first = reads("deployment-surge-one.json")[0]
    assert current(first) == [
        "smartflow-proxy-6f8d9c7b5d-q8x2m",
        "smartflow-proxy-6f8d9c7b5d-v4k7n",
        "smartflow-proxy-6f8d9c7b5d-z9w3p",
    ]


def test_a_superseded_rollouts_pods_are_no_longer_current() -> None:
    assert current(reads("deployment-superseded.json")[2]) == ["smartflow-proxy-5b9f7d6c8d-x3c5v"]


def test_terminating_pods_are_not_current() -> None:
    read = reads("deployment-surge-one.json")[5]
    pod = read["pods"][1]
    pod["metadata"]["deletionTimestamp"] = read["now"]
    assert pod["metadata"]["name"] not in current(read)


def test_a_replica_set_of_another_deployment_with_the_same_revision_is_not_ours() -> None:
    read = copy.deepcopy(reads("deployment-surge-one.json")[5])
    for obj in [*read["replicasets"], *read["pods"]]:
        obj["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    assert current(read) == []


def test_the_current_pods_of_a_statefulset_run_its_update_revision() -> None:
    ordered = reads("statefulset-ordered.json")
    assert current(ordered[1]) == []  # ordinal 2 is being deleted, not yet recreated
    assert current(ordered[3]) == ["smartflow-redis-2"]
    assert current(ordered[5]) == ["smartflow-redis-1", "smartflow-redis-2"]
    assert current(reads("statefulset-partition.json")[2]) == ["smartflow-redis-2"]


def test_current_pods_of_other_kinds() -> None:
    with pytest.raises(ValueError, match="DaemonSet"):
        current_pods({"kind": "DaemonSet", "metadata": {"uid": "u"}}, [], [])


# ----------------------------------------------------------------------------- problems


def test_a_pod_starting_normally_has_no_problem() -> None:
    read = reads("deployment-surge-one.json")[3]
    for name in names(read["pods"]):
        assert pod_problem(the_pod(read, name), read["events"], now(read)) is None


def test_a_crash_loop_is_fatal_at_once_and_wants_the_logs() -> None:
    assert problems("deployment-crashloop.json") == [
        None,
        PodProblem(
            POD,
            "proxy",
            "CrashLoopBackOff",
            'container "proxy" keeps crashing: restarted 2 times, last exit code 1 (Error)',
            fatal=True,
            wants_logs=True,
        ),
    ]


def test_an_oom_kill_is_named() -> None:
    read = reads("deployment-crashloop.json")[1]
    pod = the_pod(read)
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    last.update(exitCode=137, reason="OOMKilled")
    problem = pod_problem(pod, read["events"], now(read))
    assert problem is not None
    assert problem.message == (
        'container "proxy" keeps crashing: restarted 2 times, last exit code 137 (OOMKilled): '
        "killed for exceeding its memory limit"
    )


def test_a_crash_of_an_init_container_is_named_after_it() -> None:
    read = reads("deployment-crashloop.json")[1]
    pod = the_pod(read)
    crashed = pod["status"]["containerStatuses"][0]
    pod["status"]["initContainerStatuses"] = [{**crashed, "name": "migrate"}]
    pod["status"]["containerStatuses"] = [
        {**crashed, "state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {}}
    ]
    problem = pod_problem(pod, read["events"], now(read))
    assert problem is not None
    assert (problem.container, problem.reason) == ("migrate", "CrashLoopBackOff")


def test_an_image_that_cannot_be_pulled_says_which_and_why() -> None:
    why = (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{IMAGE}": failed to '
        f'resolve reference "{IMAGE}": {IMAGE}: not found'
    )
    said = f'cannot pull image "{IMAGE}": {why}'
    assert problems("deployment-image-pull.json") == [
        PodProblem(POD, "proxy", "ErrImagePull", said, fatal=False),
        PodProblem(POD, "proxy", "ImagePullBackOff", said, fatal=True),
    ]


def test_a_failed_pull_becomes_fatal_after_its_grace() -> None:
    read = reads("deployment-image-pull.json")[0]  # the first failed pull was at 10:00:04
    assert not fatal(the_pod(read), read["events"], now(read, 28))
    assert fatal(the_pod(read), read["events"], now(read, 29))


@pytest.mark.parametrize(
    ("reason", "said", "message"),
    [
        (
            "InvalidImageName",
            'Failed to apply default image tag "Smartflow:1": couldn\'t parse image reference',
            f'bad image "{IMAGE}": Failed to apply default image tag "Smartflow:1": couldn\'t '
            "parse image reference",
        ),
        (
            "ErrImageNeverPull",
            f'Container image "{IMAGE}" is not present with pull policy of Never',
            f'cannot pull image "{IMAGE}": Container image "{IMAGE}" is not present with pull '
            "policy of Never",
        ),
    ],
)
def test_images_that_will_never_be_there_are_fatal_at_once(
    reason: str, said: str, message: str
) -> None:
    read = reads("deployment-image-pull.json")[0]
    pod = the_pod(read)
    pod["status"]["containerStatuses"][0]["state"] = {
        "waiting": {"reason": reason, "message": said}
    }
    assert pod_problem(pod, [], now(read)) == PodProblem(POD, "proxy", reason, message, fatal=True)


def test_a_missing_secret_key_says_which_key_of_which_secret() -> None:
    said = 'container "proxy" cannot start: the Secret "smartflow-env" has no key "ADMIN_API_KEY"'
    assert problems("deployment-config-error.json") == [
        PodProblem(POD, "proxy", "CreateContainerConfigError", said, fatal=False),
        PodProblem(POD, "proxy", "CreateContainerConfigError", said, fatal=True),
    ]


@pytest.mark.parametrize(
    ("kubelet", "ours"),
    [
        ('secret "smartflow-env" not found', 'the Secret "smartflow-env" does not exist'),
        (
            'configmap "smartflow-config" not found',
            'the ConfigMap "smartflow-config" does not exist',
        ),
        (
            "couldn't find key SMARTFLOW_LOG_LEVEL in ConfigMap smartflow/smartflow-config",
            'the ConfigMap "smartflow-config" has no key "SMARTFLOW_LOG_LEVEL"',
        ),
        ("failed to sync configmap cache: timed out", "failed to sync configmap cache: timed out"),
    ],
)
def test_other_configuration_errors(kubelet: str, ours: str) -> None:
    read = reads("deployment-config-error.json")[1]
    pod = the_pod(read)
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    waiting["message"] = kubelet
    problem = pod_problem(pod, read["events"], now(read))
    assert problem is not None
    assert problem.message == f'container "proxy" cannot start: {ours}'


def test_an_unschedulable_pod_fails_only_after_its_grace() -> None:
    found = problems("deployment-unschedulable.json")
    assert [(p.reason, p.message, p.fatal) for p in found if p] == [
        ("Unschedulable", f"{NO_NODE} (pending for 1s)", False),
        ("Unschedulable", f"{NO_NODE} (pending for 30s)", False),
        ("Unschedulable", f"{NO_NODE} (pending for 61s)", True),
    ]
    assert all(p is not None and p.container is None for p in found)


def autoscaler_event(pod: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    return {
        "involvedObject": {
            "kind": "Pod",
            "name": pod["metadata"]["name"],
            "namespace": "smartflow",
            "uid": pod["metadata"]["uid"],
        },
        "reason": reason,
        "message": message,
        "source": {"component": "cluster-autoscaler"},
        "firstTimestamp": "2025-06-02T10:00:12Z",
        "lastTimestamp": "2025-06-02T10:00:12Z",
        "count": 1,
        "type": "Normal",
    }


def test_a_triggered_scale_up_gets_the_longer_grace() -> None:
    read = reads("deployment-unschedulable.json")[2]
    pod = the_pod(read)
    events = [
        *read["events"],
        autoscaler_event(
            pod, "TriggeredScaleUp", "pod triggered scale-up: [{pool-a 3->4 (max: 6)}]"
        ),
    ]
    problem = pod_problem(pod, events, now(read))
    assert problem is not None
    assert not problem.fatal
    assert problem.message == (
        f"{NO_NODE}; cluster autoscaler: pod triggered scale-up: [{{pool-a 3->4 (max: 6)}}] "
        "(pending for 61s)"
    )
    assert fatal(pod, events, now(read, 240))


def test_no_scale_up_is_said() -> None:
    read = reads("deployment-unschedulable.json")[2]
    pod = the_pod(read)
    said = "pod didn't trigger scale-up: 1 max node group size reached"
    problem = pod_problem(pod, [autoscaler_event(pod, "NotTriggerScaleUp", said)], now(read))
    assert problem is not None and problem.fatal
    assert problem.message == f"{NO_NODE}; cluster autoscaler: {said} (pending for 61s)"


def test_a_failing_readiness_probe_is_fatal_after_its_grace() -> None:
    found = problems("deployment-readiness.json")
    assert found == [
        PodProblem(
            POD,
            "proxy",
            "Unhealthy",
            f'container "proxy" running for 6s but not ready: {PROBE_503}',
            fatal=False,
        ),
        PodProblem(
            POD,
            "proxy",
            "Unhealthy",
            f'container "proxy" running for 56s but not ready: {PROBE_503}',
            fatal=False,
        ),
        PodProblem(
            POD,
            "proxy",
            "Unhealthy",
            f'container "proxy" running for 122s but not ready: {PROBE_503}',
            fatal=True,
        ),
    ]


def test_a_pod_spec_allowing_a_longer_start_gets_it() -> None:
    read = reads("deployment-readiness.json")[2]
    pod = the_pod(read)
    pod["spec"]["containers"][0]["startupProbe"]["failureThreshold"] = 100  # 200 s to start
    problem = pod_problem(pod, read["events"], now(read))
    assert problem is not None and not problem.fatal
    assert fatal(pod, read["events"], now(read, 90))


def test_not_ready_without_a_probe_failure_is_quiet_until_the_grace_is_out() -> None:
    read = reads("deployment-readiness.json")[2]
    assert pod_problem(the_pod(read), [], now(read, -10)) is None
    assert pod_problem(the_pod(read), [], now(read)) == PodProblem(
        POD,
        "proxy",
        "Unhealthy",
        'container "proxy" running for 122s but not ready: no probe failure was reported',
        fatal=True,
    )


def test_probe_failures_of_an_earlier_container_instance_do_not_count() -> None:
    read = reads("deployment-readiness.json")[1]
    pod = the_pod(read)
    pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"] = read["now"]
    assert pod_problem(pod, read["events"], now(read)) is None


def test_events_of_a_former_pod_of_the_same_name_are_not_this_pods() -> None:
    read = reads("deployment-readiness.json")[2]
    pod = the_pod(read)
    assert len(pod_events(pod, read["events"])) == 1
    pod["metadata"]["uid"] = "a-new-pod-with-the-same-name"
    assert pod_events(pod, read["events"]) == []


def failed_pod(reason: str, message: str) -> dict[str, Any]:
    pod = the_pod(reads("deployment-surge-one.json")[5])
    pod["status"] |= {"phase": "Failed", "reason": reason, "message": message}
    return pod


def test_an_eviction_for_node_pressure_is_not_the_rollouts_fault() -> None:
    said = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 52Mi. "
    problem = pod_problem(failed_pod("Evicted", said), [], datetime.now(UTC))
    assert problem == PodProblem(POD, None, "Evicted", said.strip(), fatal=False)


def test_an_eviction_for_its_own_limits_is_fatal() -> None:
    said = 'Usage of EmptyDir volume "tmp" exceeds the limit "64Mi". '
    problem = pod_problem(failed_pod("Evicted", said), [], datetime.now(UTC))
    assert problem == PodProblem(POD, None, "Evicted", said.strip(), fatal=True)


def test_a_terminating_pod_has_no_problem() -> None:
    read = reads("deployment-crashloop.json")[1]
    pod = the_pod(read)
    pod["metadata"]["deletionTimestamp"] = read["now"]
    assert pod_problem(pod, read["events"], now(read)) is None


def test_a_volume_that_does_not_mount_fails_after_its_grace() -> None:
    read = reads("deployment-surge-one.json")[2]  # the new pod is ContainerCreating since :03
    pod = the_pod(read)
    said = 'MountVolume.SetUp failed for volume "config" : configmap "smartflow-config" not found'
    event = {
        "involvedObject": {"kind": "Pod", "name": POD, "uid": pod["metadata"]["uid"]},
        "reason": "FailedMount",
        "message": said,
        "firstTimestamp": "2025-06-02T10:00:03Z",
        "lastTimestamp": "2025-06-02T10:00:03Z",
    }
    assert pod_problem(pod, [event], now(read)) == PodProblem(
        POD, None, "FailedMount", said, fatal=False
    )
    assert fatal(pod, [event], now(read, 120))


def test_a_fatal_problem_wins_over_an_earlier_pending_one() -> None:
    read = reads("deployment-crashloop.json")[1]
    pod = the_pod(read)
    crashed = pod["status"]["containerStatuses"][0]
    pulling = {
        **crashed,
        "name": "sidecar",
        "state": {"waiting": {"reason": "ErrImagePull", "message": "timeout"}},
    }
    pod["status"]["containerStatuses"] = [pulling, crashed]
    problem = pod_problem(pod, read["events"], now(read))
    assert problem is not None
    assert (problem.container, problem.reason) == ("proxy", "CrashLoopBackOff")


def test_the_problem_line() -> None:
    assert (
        PodProblem("p", "c", "Unschedulable", "no room", True).line
        == "pod p: Unschedulable: no room"
    )


def test_api_timestamps() -> None:
    assert parse_time("2025-06-02T10:00:00Z") == datetime(2025, 6, 2, 10, tzinfo=UTC)
    assert parse_time("2025-06-02T10:00:00.250000Z") == datetime(
        2025, 6, 2, 10, 0, 0, 250000, tzinfo=UTC
    )
    assert parse_time(None) is None
    assert parse_time("yesterday") is None
