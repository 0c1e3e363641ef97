"""`sfctl upgrade compose` and `sfctl rollback compose`: a new (or an earlier) build with no
failed request: each gateway service's new container starts beside the old one, takes the
traffic once it answers /ready, and the old one drains; a build that never becomes ready is
removed and the old one keeps serving (exit 1)."""

from __future__ import annotations

from pathlib import Path

import typer

from sfctl import ui
from sfctl.commands import compose_run, kube_release
from sfctl.deploy import compose_ops, engine
from sfctl.deploy.history import Action
from sfctl.deploy.image import DEFAULT_BASE_IMAGE, BuildRequest, find_source_root
from sfctl.errors import UsageError

app = typer.Typer(help="Move a deployment to a new build, with no gap.", no_args_is_help=True)
rollback_app = typer.Typer(help="Go back to an earlier release, with no gap.", no_args_is_help=True)
app.command("k8s")(kube_release.upgrade_k8s)
rollback_app.command("k8s")(kube_release.rollback_k8s)


@app.command("compose")
def upgrade_compose(
    image: str | None = typer.Option(None, "--image", help="Run this image (already built)."),
    build: bool = typer.Option(False, "--build", help="Build this checkout first, then run it."),
    directory: Path = compose_run.DIRECTORY,
    spec_file: Path | None = compose_run.SPEC_FILE,
    env_file: Path | None = compose_run.ENV_FILE,
    timeout: int | None = compose_run.TIMEOUT,
    force_unlock: bool = compose_run.FORCE_UNLOCK,
    tag: str | None = typer.Option(None, "--tag", help="--build: the tag (default the version)."),
    commit: str | None = typer.Option(None, "--commit", help="--build: the commit, if not git's."),
    base_image: str = typer.Option(DEFAULT_BASE_IMAGE, "--base-image", help="--build: the base."),
    wheels_from: Path | None = typer.Option(
        None, "--wheels-from", help="--build: take the wheels from this folder only."
    ),
    source: Path | None = typer.Option(None, "--source", help="--build: the source checkout."),
) -> None:
    """Upgrade the gateway services one at a time, the proxy last, with zero failed requests."""
    if (image is None) == (not build):
        raise UsageError("pass either --image REF (a built image) or --build (build this checkout)")
    dep = compose_run.deployment(directory, spec_file, env_file)
    _require_running(dep)
    if build:
        request = BuildRequest(
            root=find_source_root(source or Path.cwd()),
            repository=dep.spec.image.repository,
            tag=tag,
            base_image=base_image,
            commit=commit,
            wheels_from=wheels_from,
        )
        image = compose_run.build_gateway(request)
    assert image is not None
    _roll(dep, image, Action.UPGRADE, timeout, force_unlock)


@rollback_app.command("compose")
def rollback_compose(
    to: str | None = typer.Option(
        None, "--to", help="The version to go back to (default: the previous release)."
    ),
    directory: Path = compose_run.DIRECTORY,
    spec_file: Path | None = compose_run.SPEC_FILE,
    env_file: Path | None = compose_run.ENV_FILE,
    timeout: int | None = compose_run.TIMEOUT,
    force_unlock: bool = compose_run.FORCE_UNLOCK,
) -> None:
    """Back to the previous release (or --to VERSION), the same zero-downtime way."""
    dep = compose_run.deployment(directory, spec_file, env_file)
    _require_running(dep)
    with engine.engine_errors("rollback"):
        reference, version = compose_ops.rollback_reference(dep, to)
    ui.info(f"rolling back to {ui.literal(version)} ({ui.literal(reference)})")
    _roll(dep, reference, Action.ROLLBACK, timeout, force_unlock)


def _roll(
    dep: compose_run.Deployment,
    reference: str,
    action: Action,
    timeout: int | None,
    force_unlock: bool,
) -> None:
    def work(hooks: compose_ops.Hooks) -> compose_ops.Outcome:
        def body(
            lock: compose_ops.HeldLock, before: tuple[compose_ops.ServiceImage, ...]
        ) -> compose_ops.Outcome:
            outcome = compose_ops.rollout_to(
                dep,
                reference,
                lock=lock,
                before=before,
                hooks=hooks,
                deadline_s=timeout,
                whole_stack=False,
            )
            compose_ops.prune(dep, hooks.note)
            return outcome

        return compose_ops.recorded(
            dep,
            action,
            force_unlock=force_unlock,
            hooks=hooks,
            work=body,
            target=lambda: compose_ops.target_images(dep, reference),
        )

    outcome = compose_run.run(work)
    compose_run.show(
        action.value, outcome, unchanged=f"{dep.spec.name} already runs {reference}", table=False
    )
    compose_run.verify_table(dep, outcome)


def _require_running(dep: compose_run.Deployment) -> None:
    with engine.engine_errors("sfctl"):
        running = [c for c in dep.project().containers() if c.state.status == "running"]
    if not running:
        raise UsageError(
            f"nothing of {dep.spec.name} runs (deployment folder {dep.directory}): run "
            "`sfctl deploy compose` first"
        )
