"""What deploy, upgrade, rollback and teardown on Compose share: their options, the progress
display, and how a run's outcome is printed (changes, endpoints, what runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer

from sfctl import ui
from sfctl.deploy import engine
from sfctl.deploy.compose_ops import Hooks, Outcome
from sfctl.deploy.deployment import Deployment, resolve

__all__ = ["Deployment", "deployment", "endpoints", "hooks", "release_table", "run", "show"]
from sfctl.deploy.history import ServiceImage
from sfctl.deploy.image import BuildRequest, build_runtime_image
from sfctl.deploy.rollout_run import RolloutFailed
from sfctl.deploy.state import DEFAULT_COMPOSE_DIR
from sfctl.errors import SfctlError

DIRECTORY = typer.Option(
    DEFAULT_COMPOSE_DIR, "--dir", help="The deployment's folder (its rendered Compose files)."
)
SPEC_FILE = typer.Option(
    None,
    "--file",
    "-f",
    help="The deployment spec (default: the last deploy's, else ./sfctl.yaml).",
)
ENV_FILE = typer.Option(
    None, "--env-file", help="The secrets file (default: the last deploy's, else .env by the spec)."
)
FORCE_UNLOCK = typer.Option(
    False, "--force-unlock", help="Break a deploy lock whose holder is gone (a crashed run)."
)
TIMEOUT = typer.Option(
    None, "--timeout", min=5, help="Seconds a new container has to answer /ready "
    "(default compose.health_timeout_secs).",
)  # fmt: skip


def build_gateway(request: BuildRequest) -> str:
    """Build the runtime image (wheelhouse, then image) with progress; its reference."""
    docker = engine.connect()
    with engine.engine_errors("build"), ui.live_tasks() as live:
        built = build_runtime_image(docker, request, now=datetime.now(UTC), progress=live.update)
    ui.success(f"built {ui.literal(built.reference)} ({ui.literal(built.info.build_version)})")
    return built.reference


def deployment(directory: Path, spec_file: Path | None, env_file: Path | None) -> Deployment:
    return resolve(directory, spec_file, env_file)


@contextmanager
def hooks() -> Iterator[Hooks]:
    """A live progress display; notes and failure details are printed after it ends, so they
    never tear through it."""
    notes: list[str] = []
    details: list[str] = []
    try:
        with ui.live_tasks() as live:
            yield Hooks(progress=live.update, note=notes.append, details=details.extend)
    finally:
        if details:
            ui.warn("why the new container was not ready (its last log lines, its health check):")
            for line in details:
                ui.plain(f"  {line}")
        for note in notes:
            ui.info(ui.literal(note))


def run(action: Callable[[Hooks], Outcome]) -> Outcome:
    """Run with progress; a rollout that failed its gate says so before its one-line error."""
    with hooks() as hook:
        try:
            return action(hook)
        except RolloutFailed as failed:
            hook.note(f"automatic rollback: {failed.service} stays on the build it ran")
            raise


def show(title: str, outcome: Outcome, *, unchanged: str, table: bool = True) -> None:
    for line in outcome.notes:
        ui.info(ui.literal(line))
    if outcome.changed:
        ui.success(f"{title}: {len(outcome.changed)} change(s)")
        for line in outcome.changed:
            ui.plain(f"  {line}")
    else:
        ui.success(f"{title}: nothing changed ({unchanged})")
    if outcome.after and table:
        release_table(outcome.after)


def release_table(images: Sequence[ServiceImage]) -> None:
    rows = [
        (
            image.service,
            image.version or "-",
            (image.commit or "-")[:8],
            image.image_id.removeprefix("sha256:")[:12],
        )
        for image in images
    ]
    ui.narrow_table(
        "what runs", ("service", "version", "commit", "image id"), rows, wrap=("version",)
    )


def verify_table(dep: Deployment, outcome: Outcome) -> None:
    """`sfctl verify compose` on what was just deployed: what really runs in each container
    against the release just recorded; a mismatch is shown, and the deploy still succeeded."""
    from sfctl.commands import verify
    from sfctl.commands.inspect_options import Output

    try:
        verify.compose(
            directory=dep.directory,
            expect_version=None,
            expect_commit=None,
            expect_feature=[],
            checkout=False,
            output=Output.table,
        )
    except typer.Exit as done:
        if done.exit_code:
            ui.warn("the running containers differ from the release (above): sfctl verify compose")
    except SfctlError as exc:
        ui.warn(f"could not verify: {exc}")
        release_table(outcome.after)


def endpoints(dep: Deployment) -> None:
    """Where the deployment answers, as a client would call it."""
    spec = dep.spec
    scheme = "https" if spec.tls.enabled else "http"
    port = spec.compose.https_port if spec.tls.enabled else spec.compose.http_port
    default = 443 if spec.tls.enabled else 80
    base = f"{scheme}://{spec.domain}{'' if port == default else f':{port}'}"
    pairs = [("OpenAI API", f"{base}/v1"), ("Anthropic API", f"{base}/anthropic")]
    if spec.management.expose:
        pairs.append(("management", f"{base}/api/enterprise (sfctl keys --url {base})"))
    where = spec.compose.bind_address or "every interface"
    pairs.append(
        ("published on", f"{where}, ports {spec.compose.http_port}/{spec.compose.https_port}")
    )
    ui.fields("endpoints", pairs)
