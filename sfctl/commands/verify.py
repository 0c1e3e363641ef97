"""`sfctl verify compose|k8s`: does every container (every pod) run the build it should? One
row per container, mismatches marked, exit 1 on any ("never assume the running container
matches the source code", seed 000). The comparison is `sfctl.deploy.verify`'s; this reads the
facts and chooses the expectation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sfctl import ui
from sfctl.commands import kube_options as kopt
from sfctl.commands.inspect_options import DIRECTORY, OUTPUT, Output
from sfctl.deploy.compose_inspect import current_containers, inspect_deployment
from sfctl.deploy.history import read_history
from sfctl.deploy.image import find_source_root
from sfctl.deploy.state import compose_state_dir
from sfctl.deploy.verify import Expected, Report, exit_code, table, verify
from sfctl.deploy.verify_expect import Expectation, default_expectation, from_options
from sfctl.deploy.verify_facts import checkout_expected
from sfctl.errors import SfctlError, UsageError

if TYPE_CHECKING:
    from sfctl.kube.verify_k8s import K8sReport, PodExpectation

app = typer.Typer(
    help="Check that every container runs the build it should (exit 1 on any mismatch).",
    no_args_is_help=True,
)

EXPECT_VERSION = typer.Option(
    None, "--expect-version", help="The build version (as `sfctl build` printed it)."
)
EXPECT_COMMIT = typer.Option(
    None, "--expect-commit", help="The commit (7+ characters; `<sha>-dirty` for a dirty tree)."
)
EXPECT_FEATURE = typer.Option(
    [], "--expect-feature", help="A feature the gateway must run with (repeatable)."
)


@app.command("compose")
def compose(
    directory: Path = DIRECTORY,
    expect_version: str | None = EXPECT_VERSION,
    expect_commit: str | None = EXPECT_COMMIT,
    expect_feature: list[str] = EXPECT_FEATURE,
    checkout: bool = typer.Option(
        False, "--checkout", help="Expect this checkout's build even when a deploy is recorded."
    ),
    output: Output = OUTPUT,
) -> None:
    """Check every container of a Compose deployment against the expected build.

    The expected build: the options, else the release the deployment's history records, else
    this checkout's (`--checkout` chooses it over the history). Exit 1 on any mismatch."""
    expected = _expectation(directory, expect_version, expect_commit, expect_feature, checkout)
    deployment = inspect_deployment(directory)
    if not deployment.running:
        raise SfctlError(
            f"nothing of the compose project {deployment.project!r} is running: start it with "
            f"`sfctl deploy compose --dir {directory}` (see `sfctl status compose`)"
        )
    checked = current_containers(deployment.containers)
    facts = [item.facts for item in checked]
    report = verify(expected.build, facts, expected.images)
    image_only = [f.name for f in facts if f.answer is None]
    skipped = [i.facts.name for i in deployment.containers if i not in checked]
    if output is Output.json:
        payload = report.to_json()
        payload.update(
            project=deployment.project,
            dir=str(directory),
            image_store=deployment.image_store,
            image_only=image_only,
            skipped_stopped=skipped,
        )
        ui.emit_json(payload)
    else:
        _show(report, deployment.project, image_only, skipped)
    raise typer.Exit(exit_code(report))


def _expectation(
    directory: Path,
    version: str | None,
    commit: str | None,
    features: list[str],
    checkout: bool,
) -> Expectation:
    chosen = from_options(version, commit, features)
    if chosen is not None:
        if checkout:
            raise UsageError("--checkout and --expect-version/--expect-commit: choose one")
        return chosen
    records = () if checkout else read_history(compose_state_dir(directory)).records
    chosen = default_expectation(records, _checkout_build(required=checkout), features)
    if chosen is None:
        raise UsageError(
            f"no deploy recorded in {directory} and no source checkout here to compare with: "
            "pass --expect-version and/or --expect-commit, or run in the checkout"
        )
    return chosen


def _checkout_build(*, required: bool) -> Expected | None:
    try:
        return checkout_expected(find_source_root(Path.cwd()))
    except SfctlError:
        if required:
            raise
        return None


def _show(report: Report, project: str, image_only: list[str], skipped: list[str]) -> None:
    """The table with each name less the `<project>-` all share (the title names the project),
    so it stays within 80 columns; `-o json` has the full names."""
    _show_expected(report.expected, "the recorded images")

    def short(names: list[str]) -> str:
        return ", ".join(name.removeprefix(f"{project}-") for name in names)

    columns, cells, notes = table(report)
    for row in cells:
        row[0] = replace(row[0], text=short([row[0].text]))
    notes = [_shorten_note(note, short) for note in notes]
    ui.marked_table(f"verify {project}", columns, cells, notes)
    if image_only:
        ui.info(
            ui.literal(f"{short(image_only)}: not the gateway; image shown, version not checked")
        )
    if skipped:
        ui.info(ui.literal(f"{short(skipped)}: stopped, and the service runs another; not checked"))
    if report.ok:
        ui.success(f"{len(report.rows)} containers run the expected build")


def _show_expected(exp: Expected, nothing: str, *, digest: str | None = None) -> None:
    wanted = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("version", exp.label_version or exp.version),
            ("commit", exp.commit),
            ("features", ",".join(exp.features)),
            ("digest", digest),
        )
        if value
    )
    ui.info(ui.literal(f"expected: {wanted or nothing} ({exp.source})"))


def _shorten_note(note: str, short: Callable[[list[str]], str]) -> str:
    """`verify.table`'s notes start with the containers they are about: `a, b: text`."""
    names, sep, text = note.partition(": ")
    if not sep or names == "mixed builds":
        return note
    return f"{short(names.split(', '))}: {text}"


@app.command("k8s")
def k8s(
    kubeconfig: Path | None = kopt.KUBECONFIG,
    context: str | None = kopt.CONTEXT,
    namespace: str | None = kopt.NAMESPACE,
    release: str | None = kopt.RELEASE,
    spec_file: Path | None = kopt.SPEC_FILE,
    expect_version: str | None = EXPECT_VERSION,
    expect_commit: str | None = EXPECT_COMMIT,
    expect_feature: list[str] = EXPECT_FEATURE,
    expect_digest: str | None = typer.Option(
        None,
        "--expect-digest",
        help="The image digest the gateway pods must run (sha256:... or repo@sha256:...).",
    ),
    from_file: list[Path] = typer.Option(
        [],
        "--from-file",
        help="A saved `kubectl get pods -o json` to audit offline, instead of the cluster "
        "(repeatable; no exec, so what only the gateway can say is not checked).",
    ),
    output: Output = OUTPUT,
) -> None:
    """Check every pod of a Helm release against the expected build.

    Per pod: its image reference, the digest the runtime resolved (imageID),
    the image's labels when a local Docker engine holds it, and
    `smartflow-gateway --version --json` run in the pod. The expected build:
    the options, else the installed release's image, else this checkout's.
    Mixed builds fail. Exit 1 on any mismatch."""
    from sfctl.kube import verify_k8s as vk

    where = kopt.resolve(kubeconfig, context, namespace, release, spec_file)
    options = vk.from_options(expect_version, expect_commit, expect_feature, expect_digest)
    labels, now = vk.docker_labels(), datetime.now(UTC)
    if from_file:
        expected = vk.choose_expectation(options, lambda: None, _checkout_optional, expect_feature)
        report = vk.verify_files(
            from_file, where.release, namespace, expected, labels=labels, now=now
        )
        shown = ", ".join(path.name for path in from_file)
    else:
        expected = vk.choose_expectation(
            options, lambda: _installed(where), _checkout_optional, expect_feature
        )
        report = vk.verify_cluster(where.target, where.release, expected, labels=labels, now=now)
        shown = f"namespace {where.target.namespace}"
    if output is Output.json:
        payload = report.to_json()
        payload["expected"]["digest"] = expected.digest
        payload["from_files"] = [str(path) for path in from_file]
        ui.emit_json(payload)
    else:
        _show_k8s(report, expected, shown)
    raise typer.Exit(vk.exit_code(report))


def _checkout_optional() -> Expected | None:
    return _checkout_build(required=False)


def _installed(where: kopt.KubeRelease) -> PodExpectation | None:
    from sfctl.kube.release import installed_image
    from sfctl.kube.verify_k8s import installed_expectation

    return installed_expectation(installed_image, where.target, where.release)


def _show_k8s(report: K8sReport, expected: PodExpectation, where: str) -> None:
    """The table with pod names less the chart's `<release>-` prefix (the title names the
    release), so it stays within 80 columns; `-o json` has the full names."""
    from sfctl.kube.pods import name_shortener
    from sfctl.kube.verify_k8s import report_table

    short = name_shortener(report.release)
    _show_expected(expected.build, "nothing", digest=expected.digest)
    columns, cells, notes = report_table(report, short)
    mode = ", offline" if report.offline else ""
    ui.marked_table(f"verify {report.release} ({where}{mode})", columns, cells, notes)
    if report.image_only:
        names = ", ".join(short(n) for n in report.image_only)
        ui.info(ui.literal(f"{names}: not the gateway; image shown, version not checked"))
    if report.skipped:
        names = ", ".join(short(p.name) for p in report.skipped)
        ui.info(ui.literal(f"{names}: terminating or finished, others run; not checked"))
    for text in report.not_checked:
        ui.info(ui.literal(f"not checked: {text}"))
    if report.ok:
        ui.success(f"{len(report.pods)} pods run the expected build")
