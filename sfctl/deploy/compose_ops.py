"""deploy, upgrade, rollback and teardown of a Compose deployment: each under the deploy lock,
turning SIGTERM/SIGINT into an orderly stop, and leaving one history record however it ends."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from python_on_whales import DockerException

from sfctl.deploy.buildinfo import REVISION_LABEL, VERSION_LABEL
from sfctl.deploy.converge import converge, settings_of
from sfctl.deploy.deployment import (
    Deployment,
    orderly_stop,
    release_version,
    running_images,
    split_reference,
)
from sfctl.deploy.history import (
    Action,
    Record,
    Result,
    ServiceImage,
    append,
    named_release,
    previous_release,
    read_history,
    rollback_images,
)
from sfctl.deploy.lock import HeldLock, deploy_lock, utc_now
from sfctl.deploy.progress import Progress
from sfctl.deploy.rollout import ROLL_ORDER, prune_candidates, stop_timeout
from sfctl.deploy.rollout_run import RolloutFailed
from sfctl.errors import SfctlError


@dataclass
class Outcome:
    after: tuple[ServiceImage, ...] = ()
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Hooks:
    """How a run reports: progress rows, notes (one line each), failure details."""

    progress: Progress
    note: Callable[[str], None]
    details: Callable[[Sequence[str]], None]


def recorded(
    deployment: Deployment,
    action: Action,
    *,
    force_unlock: bool,
    hooks: Hooks,
    work: Callable[[HeldLock, tuple[ServiceImage, ...]], Outcome],
    target: Callable[[], tuple[ServiceImage, ...]] = tuple,
) -> Outcome:
    """Run `work` under the lock and append its record: ok, failed, or rolled back (the new
    build never became ready). `target` says what a failed run tried to deploy."""
    command = shlex.join(["sfctl", *sys.argv[1:]]) if sys.argv else f"sfctl {action}"
    deployment.state_dir.mkdir(parents=True, exist_ok=True)
    with (
        orderly_stop(),
        deploy_lock(deployment.state_dir, command, force_unlock=force_unlock) as lock,
    ):
        if lock.broken:
            hooks.note(lock.broken)
        at, started = utc_now(), time.monotonic()
        before = _engine(lambda: running_images(deployment.project()))
        try:
            outcome = _engine(lambda: work(lock, before))
        except BaseException as exc:
            result = Result.ROLLED_BACK if isinstance(exc, RolloutFailed) else Result.FAILED
            tried = _quiet(target)
            reason = str(exc) or type(exc).__name__
            append(
                deployment.state_dir,
                _record(
                    action,
                    result,
                    at=at,
                    started=started,
                    lock=lock,
                    before=before,
                    after=tried,
                    command=command,
                    reason=reason,
                ),
            )
            raise
        append(
            deployment.state_dir,
            _record(
                Action(action),
                Result.OK,
                at=at,
                started=started,
                lock=lock,
                before=before,
                after=outcome.after,
                command=command,
                reason=None,
            ),
        )
        return outcome


def _record(
    action: Action,
    result: Result,
    *,
    at: datetime,
    started: float,
    lock: HeldLock,
    before: tuple[ServiceImage, ...],
    after: tuple[ServiceImage, ...],
    command: str,
    reason: str | None,
) -> Record:
    return Record(
        at=at,
        user=lock.holder.user,
        host=lock.holder.host,
        action=action,
        result=result,
        from_version=release_version(before),
        to_version=release_version(after),
        duration_s=time.monotonic() - started,
        reason=reason,
        before=before,
        after=after,
        command=command,
    )


def rollout_to(
    deployment: Deployment,
    reference: str,
    *,
    lock: HeldLock,
    before: tuple[ServiceImage, ...],
    hooks: Hooks,
    deadline_s: float | None = None,
    whole_stack: bool = True,
) -> Outcome:
    """converge on `reference` and say what runs after; prune images past the kept releases."""
    previous = before[0].image if before else None
    done = converge(
        deployment,
        reference,
        previous=previous,
        settings=settings_of(deployment.spec, deadline_s),
        progress=hooks.progress,
        step=lock.step,
        details=hooks.details,
        whole_stack=whole_stack,
    )
    outcome = Outcome(after=running_images(deployment.project()), changed=done.changed)
    if done.rolled:
        outcome.changed.insert(0, f"rolled {', '.join(done.rolled)} with no gap")
    return outcome


def target_images(deployment: Deployment, reference: str) -> tuple[ServiceImage, ...]:
    """What a run deploying `reference` tries to run (for the record of a failed run)."""
    project = deployment.project()
    inspected = project.image_labels(reference)
    return tuple(
        ServiceImage(
            service=service,
            image=reference,
            image_id=project.image_id(reference),
            version=inspected.get(VERSION_LABEL),
            commit=inspected.get(REVISION_LABEL),
        )
        for service in ROLL_ORDER
    )


def rollback_reference(deployment: Deployment, to_version: str | None) -> tuple[str, str]:
    """The image to go back to (and its version): the previous release or the named one. The
    tag it was deployed under may have moved since, so the image id decides; a moved tag gets
    a rollback tag pointing at the recorded image."""
    records = read_history(deployment.state_dir).records
    release = named_release(records, to_version) if to_version else previous_release(records)
    if release is None:
        if to_version:
            raise SfctlError(
                f"no release {to_version} in the history: `sfctl history compose` lists them"
            )
        raise SfctlError("no earlier release to go back to: `sfctl history compose` lists them")
    proxy = next((s for s in release.after if s.service == "proxy"), release.after[0])
    project = deployment.project()
    try:
        current = project.image_id(proxy.image)
    except DockerException:
        current = None
    if current == proxy.image_id:
        return proxy.image, release.to_version or proxy.image
    try:
        project.image_id(proxy.image_id)
    except DockerException:
        raise SfctlError(
            f"the image of release {release.to_version} ({proxy.image_id[:19]}) is gone from "
            "this engine: load or build it again"
        ) from None
    repository, _ = split_reference(proxy.image)
    tag = f"{repository}:rollback-{proxy.image_id.removeprefix('sha256:')[:12]}"
    project.tag(proxy.image_id, tag)
    return tag, release.to_version or tag


def prune(deployment: Deployment, note: Callable[[str], None]) -> None:
    """Delete images sfctl deployed here once that are no rollback target any more (the last
    `compose.keep_releases` releases) and run nowhere; an image in use stays."""
    records = read_history(deployment.state_dir).records
    deployed = [s.image_id for r in records for s in r.after]
    keep = rollback_images(records, deployment.spec.compose.keep_releases)
    project = deployment.project()
    running = frozenset(c.image for c in project.containers())
    for image in prune_candidates(deployed, keep, running):
        try:
            project.remove_image(image)
            note(f"pruned {image.removeprefix('sha256:')[:12]} (older than the kept releases)")
        except DockerException:
            continue  # in use elsewhere, or already gone


def teardown(deployment: Deployment, *, volumes: bool) -> Outcome:
    project = deployment.project()
    had = [c.name for c in project.containers()]
    project.down(volumes=volumes, timeout=stop_timeout(deployment.spec.compose.drain_timeout_secs))
    changed = [f"removed {name}" for name in sorted(had)]
    if volumes:
        changed.append("removed the volumes (Redis and PostgreSQL data, Caddy's certificates)")
    return Outcome(after=(), changed=changed)


_T = TypeVar("_T")


def _engine(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except DockerException as exc:
        raise SfctlError(docker_reason(exc)) from None


def _quiet(call: Callable[[], tuple[ServiceImage, ...]]) -> tuple[ServiceImage, ...]:
    try:
        return call()
    except Exception:
        return ()


__all__ = ["HeldLock", "Hooks", "Outcome", "ServiceImage", "recorded", "rollout_to"]


def docker_reason(exc: DockerException) -> str:
    """The engine's last line, with what to do for the failures a new host meets first."""
    lines = (exc.stderr or str(exc)).strip().splitlines()
    reason = lines[-1] if lines else str(exc)
    if "rlimit type 7" in reason:
        return (
            "this host's open-files limit is below compose.nofile in sfctl.yaml: set it to "
            "`ulimit -Hn` or less, or raise the host's limit"
        )
    return f"docker said: {reason}"
