"""The rollout wait on recorded progressions, read after read, with a fake clock and sleep:
done, failing fast with the pod's own reason (and the crashed container's last log lines), the
progress deadline, a timeout that names what was not done, a rollout superseded mid-wait."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sfctl.kube.pod_problems import PodProblem, parse_time
from sfctl.kube.rollout_status import Phase, WorkloadState
from sfctl.kube.rollout_wait import Failure, RolloutResult, Snapshot, wait_for_rollout

FIXTURES = Path(__file__).parent / "fixtures" / "rollouts"
POD = "smartflow-proxy-7c4b8d9f6c-k2d8f"
DEP = 'Waiting for deployment "smartflow-proxy" rollout to finish: '
ONE_OF_THREE = DEP + "1 out of 3 new replicas have been updated..."
DONE = 'deployment "smartflow-proxy" successfully rolled out'
PROBE_503 = "Readiness probe failed: HTTP probe failed with statuscode: 503"
NO_NODE = (
    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
    "3 No preemption victims found for incoming pod."
)


def snapshots(name: str) -> list[Snapshot]:
    found = []
    for read in json.loads((FIXTURES / name).read_text())["snapshots"]:
        moment = parse_time(read["now"])
        assert moment is not None
        found.append(
            Snapshot(read["workloads"], read["replicasets"], read["pods"], read["events"], moment)
        )
    return found


def merged(*names: str) -> list[Snapshot]:
    """Several recorded rollouts read together, each holding its last read once it ends."""
    runs = [snapshots(name) for name in names]
    longest = max(len(run) for run in runs)
    out = []
    for i in range(longest):
        parts = [run[min(i, len(run) - 1)] for run in runs]
        out.append(
            Snapshot(
                [w for p in parts for w in p.workloads],
                [r for p in parts for r in p.replicasets],
                [pod for p in parts for pod in p.pods],
                [e for p in parts for e in p.events],
                max(p.now for p in parts),
            )
        )
    return out


class Cluster:
    """Replays snapshots one per read (the last one again once they run out), on a fake
    clock that only sleeping moves."""

    def __init__(self, reads: list[Snapshot], log_lines: int = 30) -> None:
        self.reads = reads
        self.count = 0
        self.time = 1000.0
        self.sleeps: list[float] = []
        self.progress: list[list[tuple[str, Phase, str]]] = []
        self.log_calls: list[tuple[str, str]] = []
        self.log_lines = log_lines

    def read(self) -> Snapshot:
        snap = self.reads[min(self.count, len(self.reads) - 1)]
        self.count += 1
        return snap

    def clock(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds

    def on_progress(self, states: list[WorkloadState]) -> None:
        self.progress.append([(s.ref, s.phase, s.line) for s in states])

    def logs(self, pod: str, container: str) -> list[str]:
        self.log_calls.append((pod, container))
        return [f"line {i}" for i in range(1, self.log_lines + 1)]

    def wait(self, timeout: float = 300, poll: float = 2) -> RolloutResult:
        return wait_for_rollout(
            self.read,
            timeout=timeout,
            poll=poll,
            clock=self.clock,
            sleep=self.sleep,
            on_progress=self.on_progress,
            logs=self.logs,
        )


def lines(cluster: Cluster) -> list[str]:
    return [line for states in cluster.progress for _, _, line in states]


def test_a_clean_rollout_is_followed_to_the_end() -> None:
    cluster = Cluster(snapshots("deployment-surge-one.json"))
    result = cluster.wait()
    assert result.ok
    assert result.failure is None
    assert result.notes == ()
    assert [(s.ref, s.phase, s.message) for s in result.states] == [
        ("deployment/smartflow-proxy", Phase.DONE, DONE)
    ]
    assert lines(cluster) == [
        'Waiting for deployment "smartflow-proxy" spec update to be observed...',
        DEP + "0 out of 3 new replicas have been updated...",
        ONE_OF_THREE,
        DEP + "2 out of 3 new replicas have been updated...",
        DEP + "1 old replicas are pending termination...",
        DONE,
    ]
    assert cluster.sleeps == [2, 2, 2, 2, 2]
    assert result.elapsed == 10
    assert cluster.log_calls == []
    assert result.describe() == "rolled out in 10s: deployment/smartflow-proxy"


@pytest.mark.parametrize(
    ("name", "reads"),
    [
        ("deployment-surge-quarter.json", 6),
        ("deployment-recreate.json", 4),
        ("deployment-observed-lag.json", 2),
        ("statefulset-ordered.json", 8),
        ("statefulset-partition.json", 3),
    ],
)
def test_rollouts_that_finish(name: str, reads: int) -> None:
    cluster = Cluster(snapshots(name))
    result = cluster.wait()
    assert result.ok
    assert cluster.count == reads
    assert all(state.phase is Phase.DONE for state in result.states)


def test_a_crash_loop_fails_at_once_with_the_previous_containers_last_lines() -> None:
    cluster = Cluster(snapshots("deployment-crashloop.json"))
    result = cluster.wait()
    assert not result.ok
    assert cluster.count == 2
    said = 'container "proxy" keeps crashing: restarted 2 times, last exit code 1 (Error)'
    assert result.failure == Failure(
        ("deployment/smartflow-proxy",),
        "CrashLoopBackOff",
        f"deployment/smartflow-proxy: pod {POD}: CrashLoopBackOff: {said}",
        PodProblem(POD, "proxy", "CrashLoopBackOff", said, fatal=True, wants_logs=True),
        tuple(f"line {i}" for i in range(11, 31)),
    )
    assert cluster.log_calls == [(POD, "proxy")]
    assert result.describe() == result.failure.message
    assert lines(cluster)[-1] == f"{ONE_OF_THREE} (pod {POD}: CrashLoopBackOff: {said})"


def test_a_short_log_is_kept_whole() -> None:
    cluster = Cluster(snapshots("deployment-crashloop.json"), log_lines=3)
    failure = cluster.wait().failure
    assert failure is not None
    assert failure.logs == ("line 1", "line 2", "line 3")


def test_an_image_pull_fails_at_the_back_off_with_the_image_and_the_reason() -> None:
    cluster = Cluster(snapshots("deployment-image-pull.json"))
    result = cluster.wait()
    assert cluster.count == 2
    assert result.failure is not None
    assert result.failure.reason == "ImagePullBackOff"
    assert result.failure.message.startswith(
        "deployment/smartflow-proxy: pod smartflow-proxy-7c4b8d9f6c-k2d8f: ImagePullBackOff: "
        'cannot pull image "registry.example.com/smartflow/gateway:9.9.9": rpc error: code = '
        "NotFound"
    )
    assert result.failure.logs == ()
    assert cluster.log_calls == []
    # the first read, an ErrImagePull within its grace, is only shown
    assert lines(cluster)[0].startswith(f"{ONE_OF_THREE} (pod {POD}: ErrImagePull: ")


def test_a_missing_secret_key_fails_the_wait() -> None:
    result = Cluster(snapshots("deployment-config-error.json")).wait()
    assert result.failure is not None
    assert result.failure.reason == "CreateContainerConfigError"
    assert result.failure.message == (
        f"deployment/smartflow-proxy: pod {POD}: CreateContainerConfigError: container "
        '"proxy" cannot start: the Secret "smartflow-env" has no key "ADMIN_API_KEY"'
    )


def test_an_unschedulable_pod_fails_once_past_its_grace() -> None:
    cluster = Cluster(snapshots("deployment-unschedulable.json"))
    result = cluster.wait()
    assert cluster.count == 3
    assert lines(cluster) == [
        f"{ONE_OF_THREE} (pod {POD}: Unschedulable: {NO_NODE} (pending for 1s))",
        f"{ONE_OF_THREE} (pod {POD}: Unschedulable: {NO_NODE} (pending for 30s))",
        f"{ONE_OF_THREE} (pod {POD}: Unschedulable: {NO_NODE} (pending for 61s))",
    ]
    assert result.failure is not None
    assert result.failure.reason == "Unschedulable"
    assert result.failure.message == (
        f"deployment/smartflow-proxy: pod {POD}: Unschedulable: {NO_NODE} (pending for 61s)"
    )


def test_an_unschedulable_pod_within_its_grace_does_not_fail_the_wait() -> None:
    cluster = Cluster(snapshots("deployment-unschedulable.json")[:2])
    result = cluster.wait(timeout=20)
    assert result.failure is not None
    assert result.failure.reason == "Timeout"
    assert result.failure.workloads == ("deployment/smartflow-proxy",)
    assert result.failure.message == (
        f"timed out after 20s waiting for deployment/smartflow-proxy: {ONE_OF_THREE} "
        f"(pod {POD}: Unschedulable: {NO_NODE} (pending for 30s))"
    )
    assert result.failure.problem is not None
    assert not result.failure.problem.fatal
    assert result.elapsed == 20
    assert cluster.sleeps == [2] * 10


def test_a_readiness_probe_failing_past_its_grace_fails_the_wait() -> None:
    cluster = Cluster(snapshots("deployment-readiness.json"))
    result = cluster.wait()
    assert cluster.count == 3
    assert result.failure is not None
    assert result.failure.message == (
        f'deployment/smartflow-proxy: pod {POD}: Unhealthy: container "proxy" running for '
        f"122s but not ready: {PROBE_503}"
    )


def test_the_progress_deadline_fails_the_wait_with_the_pods_pending_problem() -> None:
    cluster = Cluster(snapshots("deployment-progress-deadline.json"))
    result = cluster.wait()
    assert cluster.count == 3
    problem = PodProblem(
        POD,
        "proxy",
        "Unhealthy",
        f'container "proxy" running for 61s but not ready: {PROBE_503}',
        fatal=False,
    )
    assert result.failure == Failure(
        ("deployment/smartflow-proxy",),
        "ProgressDeadlineExceeded",
        'deployment "smartflow-proxy" exceeded its progress deadline (60s without progress) '
        f"({problem.line})",
        problem,
    )
    assert result.states[0].phase is Phase.FAILED


def test_a_rollout_superseded_mid_wait_is_followed_to_its_newest_generation() -> None:
    cluster = Cluster(snapshots("deployment-superseded.json"))
    result = cluster.wait()
    assert result.ok
    assert result.notes == (
        "deployment/smartflow-proxy was changed by someone else during the wait (generation "
        "2 -> 3): followed its newest generation",
    )
    assert lines(cluster) == [
        ONE_OF_THREE,
        'Waiting for deployment "smartflow-proxy" spec update to be observed... (superseded: '
        "generation 2 -> 3)",
        f"{ONE_OF_THREE} (superseded: generation 2 -> 3)",
        f"{DONE} (superseded: generation 2 -> 3)",
    ]
    assert (result.states[0].revision, result.states[0].generation) == ("3", 3)


def test_several_workloads_are_done_when_the_last_is() -> None:
    cluster = Cluster(merged("deployment-surge-one.json", "statefulset-ordered.json"))
    result = cluster.wait()
    assert result.ok
    assert cluster.count == 8
    assert [state.ref for state in result.states] == [
        "deployment/smartflow-proxy",
        "statefulset/smartflow-redis",
    ]
    assert cluster.progress[5][0][1] is Phase.DONE  # the Deployment, done first
    assert cluster.progress[5][1][1] is Phase.PROGRESSING


def test_a_timeout_names_every_workload_not_done_with_its_last_message() -> None:
    reads = merged("deployment-surge-one.json", "statefulset-ordered.json")[:3]
    cluster = Cluster(reads)
    result = cluster.wait(timeout=5, poll=2)
    assert cluster.sleeps == [2, 2, 1]
    assert result.failure == Failure(
        ("deployment/smartflow-proxy", "statefulset/smartflow-redis"),
        "Timeout",
        f"timed out after 5s waiting for deployment/smartflow-proxy: {ONE_OF_THREE}; "
        "statefulset/smartflow-redis: Waiting for 1 pods to be ready...",
    )


def test_a_failure_of_one_workload_ends_the_wait_for_all() -> None:
    reads = merged("deployment-crashloop.json", "statefulset-ordered.json")
    result = Cluster(reads).wait()
    assert result.failure is not None
    assert result.failure.reason == "CrashLoopBackOff"
    assert [s.phase for s in result.states] == [Phase.PROGRESSING, Phase.PROGRESSING]


def test_a_workload_deleted_during_the_wait_fails_it() -> None:
    first, second = snapshots("deployment-surge-one.json")[1:3]
    gone = Snapshot([], second.replicasets, second.pods, second.events, second.now)
    result = Cluster([first, gone]).wait()
    assert result.failure == Failure(
        ("deployment/smartflow-proxy",),
        "Deleted",
        "deployment/smartflow-proxy deleted during the wait",
    )


def test_a_paused_deployment_fails_at_once() -> None:
    snap = snapshots("deployment-surge-one.json")[3]
    snap.workloads[0]["spec"]["paused"] = True
    result = Cluster([snap]).wait()
    assert result.failure is not None
    assert result.failure.reason == "Paused"
    assert (
        "kubectl rollout resume deployment/smartflow-proxy -n smartflow" in result.failure.message
    )


def test_nothing_to_wait_for_is_done_at_once() -> None:
    snap = snapshots("deployment-surge-one.json")[0]
    cluster = Cluster([Snapshot([], [], [], [], snap.now)])
    result = cluster.wait()
    assert result.ok
    assert cluster.sleeps == []
    assert result.describe() == "rolled out in 0s: nothing to wait for"


def test_read_errors_reach_the_caller() -> None:
    class Refused(Exception):
        pass

    def read() -> Snapshot:
        raise Refused("connection refused")

    with pytest.raises(Refused):
        wait_for_rollout(
            read,
            timeout=10,
            poll=1,
            clock=lambda: 0.0,
            sleep=lambda _: None,
            on_progress=lambda _: None,
            logs=lambda pod, container: [],
        )


def test_reads_of_other_kinds_are_refused() -> None:
    snap = snapshots("deployment-surge-one.json")[0]
    daemonset: dict[str, Any] = {"kind": "DaemonSet", "metadata": {"name": "agent"}}
    with pytest.raises(ValueError, match="DaemonSet"):
        Cluster([Snapshot([daemonset], [], [], [], snap.now)]).wait()
