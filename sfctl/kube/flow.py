"""One release change, done the way an operator would by hand but without the usual traps:
refuse a release stuck in a pending state (and say how to recover), apply through Helm, wait
the way `kubectl rollout status` does while failing fast on a pod's own reason, and roll back
when the rollout fails (Helm's rollback-on-failure) unless told not to.

The UI is a `Reporter` passed in, so this module prints nothing itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sfctl.errors import SfctlError
from sfctl.kube.cluster_read import ClusterReader
from sfctl.kube.release import Applied, Releases, ReleaseSummary
from sfctl.kube.rollout_status import WorkloadState
from sfctl.kube.rollout_wait import RolloutResult, wait_for_rollout

DEFAULT_TIMEOUT = 600.0  # seconds a rollout may take (Deployments' own progress deadline)
DEFAULT_POLL = 2.0


class Reporter(Protocol):
    """Where progress goes: `sfctl.commands.kube_output` prints it, tests record it."""

    def step(self, text: str) -> None: ...
    def note(self, text: str) -> None: ...
    def progress(self, states: Sequence[WorkloadState]) -> None: ...
    def log(self, lines: Sequence[str]) -> None: ...


class RolloutFailed(SfctlError):
    """The rollout did not finish; the message says why, and what was done about it."""


@dataclass(frozen=True, slots=True)
class Rolled:
    """A release change that finished: the revision now running and how the wait ended."""

    summary: ReleaseSummary
    result: RolloutResult | None  # None for a dry run
    manifest: str


@dataclass(frozen=True, slots=True)
class WaitOptions:
    timeout: float = DEFAULT_TIMEOUT
    poll: float = DEFAULT_POLL
    rollback_on_failure: bool = True


def last_deployed(history: Sequence[ReleaseSummary]) -> ReleaseSummary | None:
    """The newest revision that was fully deployed (what a failed change goes back to)."""
    done = [r for r in history if r.status in ("deployed", "superseded")]
    return max(done, key=lambda r: r.revision) if done else None


def refuse_pending(current: ReleaseSummary | None, history: Sequence[ReleaseSummary]) -> None:
    """Helm answers "another operation (install/upgrade/rollback) is in progress" for a release
    whose last run was killed mid-way, and stays stuck. Say what happened and the way out."""
    if current is None or not current.pending:
        return
    since = f" since {current.updated:%Y-%m-%d %H:%M} UTC" if current.updated else ""
    good = last_deployed(history)
    if good is not None:
        way_out = (
            f"`sfctl rollback k8s {good.revision}` (the last deployed revision, "
            f"{good.app_version or good.chart_version}) clears it"
        )
    else:
        way_out = "`sfctl teardown k8s` removes the unfinished install; then deploy again"
    raise SfctlError(
        f"release {current.name} is {current.status} at revision {current.revision}{since}: an "
        f"earlier run stopped mid-way (or one is running now). If none is running, {way_out}"
    )


class ReleaseChange:
    """Apply, wait, and undo on failure, for one release in one namespace."""

    def __init__(
        self,
        releases: Releases,
        api: Any,
        reporter: Reporter,
        options: WaitOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.releases = releases
        self.reader = ClusterReader(api, releases.target.namespace)
        self.reporter = reporter
        self.options = options
        self._clock = clock
        self._sleep = sleep

    def wait(self, release: str) -> RolloutResult:
        return wait_for_rollout(
            lambda: self.reader.snapshot(release),
            timeout=self.options.timeout,
            poll=self.options.poll,
            clock=self._clock,
            sleep=self._sleep,
            on_progress=self.reporter.progress,
            logs=self.reader.logs,
        )

    def run(self, release: str, apply: Callable[[], Applied]) -> Rolled:
        """`apply` installs or upgrades; then wait, and undo the change when the rollout fails:
        back to the last deployed revision, or uninstalled when there was none."""
        history = self.releases.history(release)
        refuse_pending(history[-1] if history else None, history)
        previous = last_deployed(history)
        applied = apply()
        self.reporter.step(
            f"{release}: revision {applied.summary.revision} applied; waiting for the rollout"
        )
        result = self.wait(release)
        if result.ok:
            return Rolled(applied.summary, result, applied.manifest)
        raise RolloutFailed(self._undo(release, previous, result))

    def _undo(self, release: str, previous: ReleaseSummary | None, result: RolloutResult) -> str:
        why = result.describe()
        if result.failure is not None and result.failure.logs:
            problem = result.failure.problem
            who = f"{problem.pod}/{problem.container}" if problem else "the container"
            self.reporter.note(f"last log lines of {who} before it crashed:")
            self.reporter.log(result.failure.logs)
        if not self.options.rollback_on_failure:
            return f"{why}; left as it is (--no-rollback): `sfctl rollback k8s` goes back"
        if previous is None:
            self.reporter.note(f"{release}: the first install failed: uninstalling it")
            self.releases.uninstall(release)
            return f"{why}; the failed install was removed (--no-rollback keeps it to debug)"
        self.reporter.note(f"{release}: rolling back to revision {previous.revision}")
        self.releases.rollback(release, previous.revision)
        again = self.wait(release)
        state = "it is healthy" if again.ok else f"and it is NOT healthy: {again.describe()}"
        return f"{why}; rolled back to revision {previous.revision}, {state}"
