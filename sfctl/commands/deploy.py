"""`sfctl deploy compose` and `sfctl teardown compose`."""

from __future__ import annotations

from pathlib import Path

import typer

from sfctl import ui
from sfctl.commands import compose_run, kube_release
from sfctl.deploy import compose_ops, engine
from sfctl.deploy.compose_ops import Hooks, Outcome
from sfctl.deploy.deployment import Deployment, remember
from sfctl.deploy.history import Action
from sfctl.deploy.image import DEFAULT_BASE_IMAGE, BuildRequest, find_source_root
from sfctl.deploy.lock import HeldLock

app = typer.Typer(help="Deploy the stack the spec describes.", no_args_is_help=True)
teardown_app = typer.Typer(help="Stop and remove a deployment.", no_args_is_help=True)
app.command("k8s")(kube_release.deploy_k8s)
teardown_app.command("k8s")(kube_release.teardown_k8s)


@app.command("compose")
def deploy_compose(
    spec_file: Path | None = compose_run.SPEC_FILE,
    directory: Path = compose_run.DIRECTORY,
    env_file: Path | None = compose_run.ENV_FILE,
    force: bool = typer.Option(False, "--force", help="Deploy despite doctor errors."),
    force_unlock: bool = compose_run.FORCE_UNLOCK,
    base_image: str = typer.Option(
        DEFAULT_BASE_IMAGE, "--base-image", help="When the spec builds: the image to build on."
    ),
    wheels_from: Path | None = typer.Option(
        None, "--wheels-from", help="When the spec builds: take the wheels from this folder only."
    ),
) -> None:
    """Doctor, render, build when the spec builds, start, and wait until all is healthy.
    Run it twice: the second run changes nothing."""
    dep = compose_run.deployment(directory, spec_file, env_file)
    _doctor_gate(dep, force)
    reference = dep.spec.image.reference
    if dep.spec.image.build is not None:
        reference = _build(dep, base_image, wheels_from)
    remember(dep)

    def work(lock: HeldLock, before: tuple[compose_ops.ServiceImage, ...], hooks: Hooks) -> Outcome:
        outcome = compose_ops.rollout_to(dep, reference, lock=lock, before=before, hooks=hooks)
        compose_ops.prune(dep, hooks.note)
        return outcome

    outcome = compose_run.run(
        lambda hooks: compose_ops.recorded(
            dep,
            Action.DEPLOY,
            force_unlock=force_unlock,
            hooks=hooks,
            work=lambda lock, before: work(lock, before, hooks),
            target=lambda: compose_ops.target_images(dep, reference),
        )
    )
    compose_run.show(
        "deploy", outcome, unchanged=f"{dep.spec.name} already runs {reference}", table=False
    )
    compose_run.endpoints(dep)
    compose_run.verify_table(dep, outcome)


def _doctor_gate(dep: Deployment, force: bool) -> None:
    from sfctl.commands.doctor_gate import enforce
    from sfctl.deploy.preflight import preflight

    with engine.engine_errors("sfctl doctor"):
        report = preflight(dep.spec, dep.env_file)
    enforce(
        report, title="sfctl doctor", what="the rendered files", fix="fix sfctl.yaml", force=force
    )


def _build(dep: Deployment, base_image: str, wheels_from: Path | None) -> str:
    """The spec builds from source: build the image now (never a bare pull)."""
    build = dep.spec.image.build
    assert build is not None
    root = find_source_root(dep.spec_file.parent / build.context)
    request = BuildRequest(
        root=root,
        repository=dep.spec.image.repository,
        tag=dep.spec.image.tag,
        base_image=base_image,
        wheels_from=wheels_from,
    )
    return compose_run.build_gateway(request)


@teardown_app.command("compose")
def teardown_compose(
    directory: Path = compose_run.DIRECTORY,
    spec_file: Path | None = compose_run.SPEC_FILE,
    env_file: Path | None = compose_run.ENV_FILE,
    volumes: bool = typer.Option(
        False, "--volumes", help="Also delete the data: Redis, PostgreSQL, Caddy's certificates."
    ),
    force_unlock: bool = compose_run.FORCE_UNLOCK,
) -> None:
    """Stop and remove the deployment's containers and networks (volumes only when asked)."""
    dep = compose_run.deployment(directory, spec_file, env_file)
    outcome = compose_run.run(
        lambda hooks: compose_ops.recorded(
            dep,
            Action.TEARDOWN,
            force_unlock=force_unlock,
            hooks=hooks,
            work=lambda lock, before: compose_ops.teardown(dep, volumes=volumes),
        )
    )
    compose_run.show("teardown", outcome, unchanged=f"nothing of {dep.spec.name} was running")
    if not volumes:
        ui.info("the data volumes are kept; `--volumes` deletes them")
