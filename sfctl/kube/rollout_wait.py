"""Wait for every Deployment and StatefulSet of a release to finish rolling out, the way
`kubectl rollout status` decides (see rollout_status), failing fast on the first fatal problem
of a pod of a current rollout (see pod_problems) instead of sitting out the timeout.

The loop only decides: reading the cluster, the clock, sleeping, showing progress and fetching
logs are passed in, so every path runs in tests on recorded snapshots with a fake clock. Errors
raised by `read` or `logs` propagate untouched: the caller maps them to its error lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sfctl.kube.pod_problems import DEFAULT_GRACE, Grace, PodProblem, current_pods, pod_problem
from sfctl.kube.rollout_status import Phase, WorkloadState, workload_state

__all__ = ["LOG_TAIL", "Failure", "RolloutResult", "Snapshot", "wait_for_rollout"]

#: log lines of the crashed container's previous instance kept in a failure
LOG_TAIL = 20

Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One read of the release: its Deployments and StatefulSets, and the ReplicaSets, pods and
    events of its namespace, as API JSON; `now` is the API server's time of the read."""

    workloads: Sequence[Mapping[str, Any]]
    replicasets: Sequence[Mapping[str, Any]]
    pods: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]
    now: datetime


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the wait failed. `reason`: a pod's own reason (CrashLoopBackOff, ImagePullBackOff,
    Unschedulable, Unhealthy, ...), a workload's (ProgressDeadlineExceeded, Paused, OnDelete),
    Deleted, or Timeout. `problem`: the pod behind it, fatal or, for a deadline or a timeout,
    the pending problem that best explains it. `logs`: the previous container's last lines."""

    workloads: tuple[str, ...]
    reason: str
    message: str
    problem: PodProblem | None = None
    logs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RolloutResult:
    ok: bool
    states: tuple[WorkloadState, ...]
    failure: Failure | None
    elapsed: float
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: what failed and why (the log tail, `failure.logs`, is for the caller to
        print below it), or what rolled out."""
        if self.failure is None:
            refs = ", ".join(state.ref for state in self.states) or "nothing to wait for"
            return f"rolled out in {self.elapsed:.0f}s: {refs}"
        return self.failure.message


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def _problems(workload: Mapping[str, Any], snap: Snapshot, grace: Grace) -> list[PodProblem]:
    pods = current_pods(workload, snap.replicasets, snap.pods)
    found = (pod_problem(pod, snap.events, snap.now, grace) for pod in pods)
    return [problem for problem in found if problem is not None]


class _Tracker:
    """What the wait remembers across reads: the generation each workload was first seen at
    (a newer one means someone changed it mid-wait: we follow the newest and say so)."""

    def __init__(self) -> None:
        self.first: dict[Key, WorkloadState] = {}
        self.newest: dict[Key, int] = {}
        self.notes: list[str] = []

    def see(self, key: Key, state: WorkloadState) -> str:
        """Remember `state`; the note for it ("" unless superseded)."""
        first = self.first.setdefault(key, state)
        newest = self.newest.setdefault(key, first.generation)
        if state.generation > newest:
            self.newest[key] = state.generation
            self.notes.append(
                f"{state.ref} was changed by someone else during the wait (generation "
                f"{newest} -> {state.generation}): followed its newest generation"
            )
        if state.generation > first.generation:
            return f"superseded: generation {first.generation} -> {state.generation}"
        return ""

    def gone(self, seen: set[Key]) -> list[str]:
        return [state.ref for key, state in self.first.items() if key not in seen]


@dataclass(frozen=True, slots=True)
class _Read:
    """One read judged: the states (with notes), the failure it shows, if any, and the first
    pending (not yet fatal) pod problem of each workload still rolling."""

    states: list[WorkloadState]
    failure: Failure | None
    pending: dict[str, PodProblem]


def _evaluate(snap: Snapshot, tracker: _Tracker, grace: Grace) -> _Read:
    states: list[WorkloadState] = []
    fatal: Failure | None = None
    pending: dict[str, PodProblem] = {}
    for workload in snap.workloads:
        state = workload_state(workload)
        notes = [tracker.see(_key(workload), state)]
        if state.phase in (Phase.PROGRESSING, Phase.FAILED):
            problems = _problems(workload, snap, grace)
            worst = next((p for p in problems if p.fatal), None)
            if worst is not None and fatal is None:
                fatal = Failure((state.ref,), worst.reason, f"{state.ref}: {worst.line}", worst)
            if problems:
                pending[state.ref] = problems[0]
                notes.append(problems[0].line)
        states.append(replace(state, note="; ".join(note for note in notes if note)))
    if fatal is not None:
        return _Read(states, fatal, pending)
    for state in states:
        if state.phase is Phase.FAILED:
            failure = Failure((state.ref,), state.reason, state.line, pending.get(state.ref))
            return _Read(states, failure, pending)
    gone = tuple(tracker.gone({_key(workload) for workload in snap.workloads}))
    if gone:
        failure = Failure(gone, "Deleted", f"{', '.join(gone)} deleted during the wait")
        return _Read(states, failure, pending)
    return _Read(states, None, pending)


def wait_for_rollout(
    read: Callable[[], Snapshot],
    *,
    timeout: float,
    poll: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_progress: Callable[[list[WorkloadState]], None],
    logs: Callable[[str, str], list[str]],
    grace: Grace = DEFAULT_GRACE,
) -> RolloutResult:
    """Read until every workload is DONE, one fails, a current pod has a fatal problem, or
    `timeout` seconds (of `clock`) pass; `on_progress` sees the states of every read. `logs`
    (pod name, container) returns the previous container's log lines, called for a crash loop
    only (an empty list when there is no previous instance)."""
    start = clock()
    tracker = _Tracker()
    while True:
        judged = _evaluate(read(), tracker, grace)
        states = tuple(judged.states)
        on_progress(judged.states)
        elapsed = clock() - start
        failure = judged.failure
        if failure is None and all(state.phase is Phase.DONE for state in states):
            return RolloutResult(True, states, None, elapsed, tuple(tracker.notes))
        if failure is None and elapsed >= timeout:
            waiting = [state for state in states if state.phase is not Phase.DONE]
            failure = Failure(
                tuple(state.ref for state in waiting),
                "Timeout",
                f"timed out after {timeout:g}s waiting for "
                + "; ".join(f"{state.ref}: {state.line}" for state in waiting),
                next((judged.pending[s.ref] for s in waiting if s.ref in judged.pending), None),
            )
        if failure is not None:
            problem = failure.problem
            if problem is not None and problem.fatal and problem.wants_logs and problem.container:
                tail = logs(problem.pod, problem.container)[-LOG_TAIL:]
                failure = replace(failure, logs=tuple(tail))
            return RolloutResult(False, states, failure, elapsed, tuple(tracker.notes))
        sleep(min(poll, timeout - elapsed))
