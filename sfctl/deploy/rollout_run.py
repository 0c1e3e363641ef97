"""The thin driver of a rollout: executes the steps `rollout` decides, one service at a time,
against a ComposeProject, and undoes a service's half-done rollout on failure or interrupt."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from python_on_whales import Container

from sfctl.deploy.compose_project import ComposeProject
from sfctl.deploy.progress import Progress
from sfctl.deploy.rollout import (
    LOG_TAIL,
    PORTS,
    SERVICE_STEPS,
    Step,
    Verdict,
    judge_new,
    stop_timeout,
    undo_steps,
)
from sfctl.errors import SfctlError


class RolloutFailed(SfctlError):
    """A new container never became ready; it was removed and the old one kept serving."""

    def __init__(self, service: str, reason: str, details: Sequence[str]) -> None:
        super().__init__(
            f"{service}: the new container never became ready: {reason}; it was removed and "
            "the old one kept serving (see the log lines above; fix the build, then retry)"
        )
        self.service = service
        self.reason = reason
        self.details = tuple(details)


@dataclass(frozen=True, slots=True)
class RolloutSettings:
    deadline_s: float  # for a new container to answer /ready
    drain_s: int  # SMARTFLOW_SHUTDOWN_TIMEOUT_SECS of the old one
    poll_s: float = 0.5


def roll_services(
    project: ComposeProject,
    services: Sequence[str],
    *,
    settings: RolloutSettings,
    progress: Progress,
    step: Callable[[str], None],
    on_failure_details: Callable[[Sequence[str]], None],
) -> list[str]:
    """Roll `services` in order; returns those done. RolloutFailed (after undoing that
    service) stops the run: the caller decides whether to revert the ones already done."""
    done: list[str] = []
    for service in services:
        try:
            _roll_one(project, service, settings=settings, progress=progress, step=step)
        except RolloutFailed as failed:
            on_failure_details(failed.details)
            raise
        done.append(service)
    return done


def _roll_one(
    project: ComposeProject,
    service: str,
    *,
    settings: RolloutSettings,
    progress: Progress,
    step: Callable[[str], None],
) -> None:
    total = len(SERVICE_STEPS)
    old = [c for c in project.containers(service) if c.state.status == "running"]
    new: Container | None = None
    current = Step.START_NEW
    try:
        for index, current in enumerate(SERVICE_STEPS):
            progress(service, done=index, total=total, detail=current.value)
            step(f"{service}: {current.value}")
            new = _do(project, service, current, old=old, new=new, settings=settings)
        progress(service, done=total, total=total, detail="done")
    except BaseException:
        for undo in undo_steps(current):
            _best_effort(project, service, undo, old, new)
        raise


def _do(
    project: ComposeProject,
    service: str,
    current: Step,
    *,
    old: list[Container],
    new: Container | None,
    settings: RolloutSettings,
) -> Container | None:
    if current is Step.START_NEW:
        return project.start_beside(service, old)
    assert new is not None  # START_NEW ran first
    if current is Step.AWAIT_READY:
        _await_ready(project, service, new, settings)
    elif current is Step.DRAIN_OLD:
        for container in old:
            project.stop(container, stop_timeout(settings.drain_s))
    elif current is Step.REMOVE_OLD:
        for container in old:
            project.remove(container)
    return new


def _await_ready(
    project: ComposeProject, service: str, new: Container, settings: RolloutSettings
) -> None:
    started = time.monotonic()
    while True:
        seen = project.observe(new, PORTS[service], time.monotonic() - started)
        decision = judge_new(seen, settings.deadline_s)
        if decision.verdict is Verdict.SWITCH:
            return
        if decision.verdict is Verdict.ABORT:
            details = project.failure_report(new, LOG_TAIL)
            raise RolloutFailed(service, decision.reason, details)
        time.sleep(settings.poll_s)


def _best_effort(
    project: ComposeProject,
    service: str,
    undo: Step,
    old: list[Container],
    new: Container | None,
) -> None:
    """Undo one step; an error here must not hide the one that made us undo."""
    try:
        if undo is Step.REMOVE_NEW and new is not None:
            project.remove(new)
        elif undo is Step.REMOVE_OLD:
            for container in old:
                project.remove(container)
    except Exception:  # noqa: S110 - reported by the error being raised
        pass
