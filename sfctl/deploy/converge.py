"""Bring a Compose deployment to a target image without a gap: render the files, roll every
gateway service that runs another image (rollout), then `compose up --wait` for the rest
(first start, datastores, Caddy), and reload Caddy when its file changed. On a failed gate the
files are rendered back to the old image and the services already rolled are rolled back.
`deploy`, `upgrade` and `rollback` are all this, with different targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from python_on_whales import DockerException

from sfctl.deploy.compose_project import ComposeProject
from sfctl.deploy.deployment import Deployment, with_image
from sfctl.deploy.progress import Progress
from sfctl.deploy.rollout import ROLL_ORDER, changed_services, changes, plan_services
from sfctl.deploy.rollout_run import RolloutFailed, RolloutSettings, roll_services
from sfctl.errors import SfctlError
from sfctl.render.compose import COMPOSE_FILE, render_compose
from sfctl.spec import Spec

CADDYFILE = "Caddyfile"
GATEWAY_CONFIG = "smartflow.yaml"


@dataclass
class Converged:
    changed: list[str] = field(default_factory=list)  # one line per change; empty: none
    rolled: list[str] = field(default_factory=list)  # services rolled without a gap


def settings_of(spec: Spec, deadline_s: float | None = None) -> RolloutSettings:
    compose = spec.compose
    return RolloutSettings(
        deadline_s=deadline_s or compose.health_timeout_secs, drain_s=compose.drain_timeout_secs
    )


def converge(
    deployment: Deployment,
    reference: str,
    *,
    previous: str | None,
    settings: RolloutSettings,
    progress: Progress,
    step: Callable[[str], None],
    details: Callable[[Sequence[str]], None],
    whole_stack: bool = True,
) -> Converged:
    """Run `reference` everywhere; `previous` is what the gateway services ran (the image to
    go back to when a new container fails its gate). `whole_stack` False (upgrade, rollback):
    only the gateway services change; the datastores and Caddy are left as they run."""
    project = deployment.project()
    target = with_image(deployment.spec, reference)
    before = project.states()
    target_id = _image_id(project, reference)
    old = {name: _read(deployment, name) for name in (CADDYFILE, COMPOSE_FILE, GATEWAY_CONFIG)}
    step("render")
    render_compose(target, deployment.directory)
    changed = changed_services(
        _yaml(old[COMPOSE_FILE]),
        _yaml(_read(deployment, COMPOSE_FILE)) or {},
        old[GATEWAY_CONFIG] != _read(deployment, GATEWAY_CONFIG),
    )
    running: dict[str, list[str]] = {}
    for state in before:
        if state.status == "running":
            running.setdefault(state.service, []).append(state.image_id)
    todo = plan_services(running, target_id, ROLL_ORDER, changed)
    done: list[str] = []
    try:
        done += roll_services(
            project,
            todo,
            settings=settings,
            progress=progress,
            step=step,
            on_failure_details=details,
        )
    except BaseException as exc:
        _restore(
            deployment,
            previous,
            exc,
            settings=settings,
            progress=progress,
            step=step,
            details=details,
        )
        raise
    if whole_stack:
        step("compose up --wait")
        progress("stack", done=0, total=1, detail="compose up --wait")
        project.up(wait_timeout=int(settings.deadline_s) + 30)
        progress("stack", done=1, total=1, detail="every service healthy")
    result = Converged(changed=changes(before, project.states()), rolled=todo)
    if old[CADDYFILE] is not None and old[CADDYFILE] != _read(deployment, CADDYFILE):
        project.caddy_reload()  # the mounted file changed
        result.changed.append("reloaded Caddy's configuration")
    return result


def _restore(
    deployment: Deployment,
    previous: str | None,
    exc: BaseException,
    *,
    settings: RolloutSettings,
    progress: Progress,
    step: Callable[[str], None],
    details: Callable[[Sequence[str]], None],
) -> None:
    """After a failed gate (or an interrupt): files back to the old image; on a failed gate,
    the services already rolled go back the same zero-downtime way."""
    if previous is None:
        return
    old = with_image(deployment.spec, previous)
    render_compose(old, deployment.directory)
    if not isinstance(exc, RolloutFailed):
        return
    project = deployment.project()
    old_id = _image_id(project, previous)
    running: dict[str, list[str]] = {}
    for state in project.states():
        if state.status == "running":
            running.setdefault(state.service, []).append(state.image_id)
    back = plan_services(running, old_id, ROLL_ORDER)
    roll_services(
        project,
        back,
        settings=settings,
        progress=progress,
        step=step,
        on_failure_details=details,
    )


def _image_id(project: ComposeProject, reference: str) -> str:
    try:
        return project.image_id(reference)
    except DockerException:
        raise SfctlError(
            f"image {reference} is not on this engine: build it in the source checkout "
            f"(sfctl build --tag {reference.rpartition(':')[2]}), or docker load it"
        ) from None


def _yaml(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _read(deployment: Deployment, name: str) -> str | None:
    try:
        return (deployment.directory / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


__all__ = ["COMPOSE_FILE", "Converged", "converge", "settings_of"]
