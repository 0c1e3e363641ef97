"""`sfctl deploy|upgrade|rollback|teardown k8s`: Helm releases changed through the real Helm
engine, waited for the way `kubectl rollout status` does, rolled back when they fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sfctl import ui
from sfctl.commands import kube_options as opt
from sfctl.commands.kube_output import ConsoleReporter
from sfctl.errors import SfctlError, UsageError
from sfctl.kube.api import api_client
from sfctl.kube.flow import ReleaseChange, WaitOptions, last_deployed
from sfctl.kube.manifest_diff import ObjectChange
from sfctl.kube.release import MAX_HISTORY, Releases


def deploy_k8s(
    spec_file: Path | None = opt.SPEC_FILE,
    env_file: Path | None = typer.Option(
        None, "--env-file", help="The secrets file (default: .env beside the spec)."
    ),
    kubeconfig: Path | None = opt.KUBECONFIG,
    context: str | None = opt.CONTEXT,
    namespace: str | None = opt.NAMESPACE,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would change; change nothing."
    ),
    force: bool = typer.Option(False, "--force", help="Deploy despite doctor errors."),
    charts_from: Path | None = typer.Option(
        None, "--charts-from", help="Take the add-on charts from this folder (air-gapped)."
    ),
    timeout: int = opt.TIMEOUT,
    no_rollback: bool = opt.NO_ROLLBACK,
) -> None:
    """cert-manager, ingress-nginx, the ClusterIssuer, the Secret from .env and Smartflow, in
    order, each waited for. Run it twice: the second run changes nothing."""
    from sfctl.kube.deploy_k8s import DeployRequest, deploy

    spec_path = spec_file or Path("sfctl.yaml")
    resolved = opt.resolve(kubeconfig, context, None, None, spec_path)
    spec = resolved.spec
    assert spec is not None
    if namespace:
        spec = spec.model_copy(
            update={"kubernetes": spec.kubernetes.model_copy(update={"namespace": namespace})}
        )
    if spec.image.build is not None:
        raise UsageError(
            "sfctl.yaml builds the image from source (image.build): a cluster pulls from a "
            "registry. Build it (`sfctl build`), push it, and set image.repository/tag"
        )
    secrets = env_file or spec_path.parent / ".env"
    if not secrets.is_file():
        raise SfctlError(f"no secrets file {secrets}: pass --env-file (sfctl init writes .env)")
    _doctor_gate(kubeconfig, context, force)
    request = DeployRequest(
        spec=spec,
        env_file=secrets,
        kubeconfig=kubeconfig,
        context=context,
        charts_from=charts_from,
        dry_run=dry_run,
        wait=WaitOptions(timeout=float(timeout), poll=_poll(), rollback_on_failure=not no_rollback),
    )
    api = api_client(kubeconfig, context)
    try:
        with ConsoleReporter() as reporter:
            outcome = deploy(request, api, reporter)
    finally:
        api.close()
    if dry_run:
        _show_dry_run(outcome.changes, outcome.applied)
        return
    for name, revision in outcome.revisions.items():
        ui.success(f"{name}: revision {revision} is rolled out")
    ui.info(f"check it: sfctl status k8s -n {spec.kubernetes.namespace}")


def _poll() -> float:
    """Seconds between reads of the rollout (SFCTL_KUBE_POLL: tests against the fake cluster,
    whose controllers move in milliseconds, poll faster)."""
    import os

    try:
        return max(0.01, float(os.environ.get("SFCTL_KUBE_POLL", "2")))
    except ValueError:
        return 2.0


def _doctor_gate(kubeconfig: Path | None, context: str | None, force: bool) -> None:
    """`sfctl doctor --upgrade` on the live cluster: its errors stop the deploy unless --force."""
    from sfctl.commands.doctor_gate import enforce
    from sfctl.doctor.checks import all_checks
    from sfctl.doctor.collect_cluster import collect_cluster
    from sfctl.doctor.engine import UPGRADE_GROUP, diagnose, select_checks

    checks = select_checks(all_checks(), groups=[UPGRADE_GROUP])
    report = diagnose(collect_cluster(kubeconfig, context, None), checks)
    enforce(
        report,
        title="sfctl doctor --upgrade",
        what="the cluster",
        fix="fix them (`sfctl doctor --upgrade --explain` says how)",
        force=force,
    )


def _show_dry_run(changes: dict[str, list[ObjectChange]], applied: list[str]) -> None:
    for line in applied:
        ui.info(ui.literal(line))
    for release, objects in changes.items():
        if not objects:
            ui.info(ui.literal(f"{release}: no change"))
            continue
        ui.info(ui.literal(f"{release}: {len(objects)} object(s) would change"))
        for change in objects:
            ui.plain(ui.literal(f"  {change.change:<6} {change.title}"))
            for line in change.diff:
                ui.plain(ui.literal(f"      {line}"))


def upgrade_k8s(
    image_tag: str | None = typer.Option(None, "--image-tag", help="Run this tag of the image."),
    set_values: list[str] = typer.Option(
        [], "--set", help="A chart value, Helm's syntax: key=value (repeatable)."
    ),
    spec_file: Path | None = opt.SPEC_FILE,
    kubeconfig: Path | None = opt.KUBECONFIG,
    context: str | None = opt.CONTEXT,
    namespace: str | None = opt.NAMESPACE,
    release: str | None = opt.RELEASE,
    timeout: int = opt.TIMEOUT,
    no_rollback: bool = opt.NO_ROLLBACK,
) -> None:
    """A new revision with the installed values, changed only by --image-tag and --set."""
    from sfctl.kube.upgrade_values import merged_values

    if image_tag is None and not set_values:
        raise UsageError("nothing to change: pass --image-tag and/or --set key=value")
    where = opt.resolve(kubeconfig, context, namespace, release, spec_file)
    with Releases(where.target) as releases:
        history = releases.history(where.release)
        if not history:
            raise SfctlError(
                f"release {where.release} is not installed in namespace "
                f"{where.target.namespace}: `sfctl deploy k8s` installs it"
            )
        values = merged_values(releases.values(where.release), image_tag, set_values)
        roll(
            where,
            releases,
            timeout,
            no_rollback,
            lambda chart: releases.upgrade(
                chart, where.release, values, description="sfctl upgrade k8s"
            ),
        )


def roll(
    where: opt.KubeRelease, releases: Releases, timeout: int, no_rollback: bool, apply: Any
) -> None:
    """Apply (`apply(chart_dir)`), wait, roll back on failure; the chart is the one sfctl
    ships, written to a scratch folder for the Helm engine."""
    import tempfile

    from sfctl.render.helm import CHART_NAME, write_chart

    api = api_client(where.target.kubeconfig, where.target.context)
    options = WaitOptions(timeout=float(timeout), poll=_poll(), rollback_on_failure=not no_rollback)
    try:
        with tempfile.TemporaryDirectory(prefix="sfctl-chart-") as scratch:
            write_chart(Path(scratch))
            with ConsoleReporter() as reporter:
                change = ReleaseChange(releases, api, reporter, options)
                rolled = change.run(where.release, lambda: apply(Path(scratch) / CHART_NAME))
    finally:
        api.close()
    ui.success(f"{where.release}: revision {rolled.summary.revision} is rolled out")


def rollback_k8s(
    revision: int | None = typer.Argument(
        None, help="The revision to go back to (default: the last deployed before the current)."
    ),
    spec_file: Path | None = opt.SPEC_FILE,
    kubeconfig: Path | None = opt.KUBECONFIG,
    context: str | None = opt.CONTEXT,
    namespace: str | None = opt.NAMESPACE,
    release: str | None = opt.RELEASE,
    timeout: int = opt.TIMEOUT,
) -> None:
    """Back to an earlier revision (a stuck pending release included), waited for."""
    where = opt.resolve(kubeconfig, context, namespace, release, spec_file)
    with Releases(where.target) as releases:
        history = releases.history(where.release)
        if not history:
            raise SfctlError(f"release {where.release} is not installed: nothing to roll back")
        target = _rollback_target(history, revision)
        api = api_client(where.target.kubeconfig, where.target.context)
        options = WaitOptions(timeout=float(timeout), poll=_poll(), rollback_on_failure=False)
        try:
            with ConsoleReporter() as reporter:
                reporter.step(f"{where.release}: rolling back to revision {target}")
                releases.rollback(where.release, target)
                result = ReleaseChange(releases, api, reporter, options).wait(where.release)
        finally:
            api.close()
    if not result.ok:
        raise SfctlError(f"rolled back to revision {target}, but {result.describe()}")
    ui.success(f"{where.release}: back on revision {target}'s release, rolled out")


def _rollback_target(history: list[Any], revision: int | None) -> int:
    current = history[-1]
    kept = [r.revision for r in history]
    if revision is None:
        earlier = last_deployed([r for r in history if r.revision < current.revision])
        if current.pending:
            earlier = last_deployed(history[:-1])
        if earlier is None:
            raise SfctlError(
                f"release {current.name} has no earlier deployed revision (kept: "
                f"{', '.join(map(str, kept))})"
            )
        return int(earlier.revision)
    if revision not in kept:
        raise SfctlError(
            f"revision {revision} of {current.name} is not kept (kept: "
            f"{', '.join(map(str, kept))}; sfctl keeps the last {MAX_HISTORY}); "
            "`sfctl history k8s` lists them"
        )
    return revision


def teardown_k8s(
    spec_file: Path | None = opt.SPEC_FILE,
    kubeconfig: Path | None = opt.KUBECONFIG,
    context: str | None = opt.CONTEXT,
    namespace: str | None = opt.NAMESPACE,
    release: str | None = opt.RELEASE,
    volumes: bool = typer.Option(
        False, "--volumes", help="Also delete the data: Redis and PostgreSQL volumes."
    ),
    addons: bool = typer.Option(
        False, "--addons", help="Also uninstall cert-manager and ingress-nginx (shared!)."
    ),
) -> None:
    """Uninstall Smartflow and the Secrets sfctl made; data and add-ons stay unless asked."""
    from sfctl.kube.teardown import teardown

    where = opt.resolve(kubeconfig, context, namespace, release, spec_file)
    api = api_client(where.target.kubeconfig, where.target.context)
    try:
        lines = teardown(where.target, api, where.release, volumes=volumes, addons=addons)
    finally:
        api.close()
    for line in lines:
        ui.info(ui.literal(line))
    if not volumes:
        ui.info("the data volumes are kept; `--volumes` deletes them")
