"""`sfctl history k8s` (the release's revisions as Helm keeps them) and `sfctl scale k8s`
(replicas, or the proxy's autoscaling bounds, changed through a Helm upgrade so the next
upgrade keeps them instead of silently undoing a `kubectl scale`)."""

from __future__ import annotations

from pathlib import Path

import typer

from sfctl import ui
from sfctl.commands import kube_options as opt
from sfctl.commands.inspect_options import OUTPUT, Output
from sfctl.commands.kube_release import roll
from sfctl.errors import SfctlError, UsageError
from sfctl.kube.release import Releases, image_of
from sfctl.kube.scale import scaled_values
from sfctl.spec.models import SERVICES

scale_app = typer.Typer(help="Change replicas or autoscaling bounds.", no_args_is_help=True)

HISTORY_COLUMNS = ("rev", "updated (UTC)", "status", "chart", "image tag", "description")


def history_k8s(
    spec_file: Path | None = opt.SPEC_FILE,
    kubeconfig: Path | None = opt.KUBECONFIG,
    context: str | None = opt.CONTEXT,
    namespace: str | None = opt.NAMESPACE,
    release: str | None = opt.RELEASE,
    output: Output = OUTPUT,
) -> None:
    """The release's revisions, oldest first, with the image tag each ran."""
    where = opt.resolve(kubeconfig, context, namespace, release, spec_file)
    with Releases(where.target) as releases:
        revisions = releases.history(where.release)
        if not revisions:
            raise SfctlError(
                f"release {where.release} is not installed in namespace {where.target.namespace}"
            )
        recorded = {r.revision: releases.recorded(where.release, r.revision) for r in revisions}
    images = {rev: image_of(values) for rev, (values, _) in recorded.items()}
    described = {rev: text for rev, (_, text) in recorded.items()}
    if output is Output.json:
        ui.emit_json(
            {
                "release": where.release,
                "namespace": where.target.namespace,
                "revisions": [
                    r.to_json()
                    | {"image": images[r.revision], "description": described[r.revision]}
                    for r in revisions
                ],
            }
        )
        return
    rows = [
        [
            str(r.revision),
            f"{r.updated:%Y-%m-%d %H:%M}" if r.updated else "-",
            r.status,
            r.chart_version,
            _tag(images[r.revision]),
            described[r.revision] or "-",
        ]
        for r in revisions
    ]
    ui.narrow_table(
        f"{where.release} ({where.target.namespace})",
        HISTORY_COLUMNS,
        rows,
        wrap=("description",),
    )
    pending = revisions[-1]
    if pending.pending:
        ui.warn(
            f"revision {pending.revision} is {pending.status}: an earlier run stopped mid-way; "
            "`sfctl rollback k8s` recovers it"
        )


def _tag(reference: str | None) -> str:
    """The table shows the tag (the JSON has the whole reference): one repository is usual."""
    if not reference:
        return "-"
    name, _, digest = reference.partition("@")
    return digest[:19] if digest else name.rpartition(":")[2]


@scale_app.command("k8s")
def scale_k8s(
    replicas: int | None = typer.Option(None, "--replicas", min=0, help="Fixed replicas."),
    minimum: int | None = typer.Option(None, "--min", min=1, help="The proxy HPA's minimum."),
    maximum: int | None = typer.Option(None, "--max", min=1, help="The proxy HPA's maximum."),
    service: str = typer.Option(
        "proxy", "--service", help="proxy, api-server, compliance or policy-perfect."
    ),
    spec_file: Path | None = opt.SPEC_FILE,
    kubeconfig: Path | None = opt.KUBECONFIG,
    context: str | None = opt.CONTEXT,
    namespace: str | None = opt.NAMESPACE,
    release: str | None = opt.RELEASE,
    timeout: int = opt.TIMEOUT,
) -> None:
    """Set a service's replicas, or the proxy's autoscaling bounds; waited for."""
    info = next((s for s in SERVICES if s.service_type == service), None)
    if info is None:
        names = ", ".join(s.service_type for s in SERVICES)
        raise UsageError(f"--service {service!r}: one of {names}")
    if replicas is None and minimum is None and maximum is None:
        raise UsageError("pass --replicas N, or --min N and/or --max M (the proxy's HPA bounds)")
    where = opt.resolve(kubeconfig, context, namespace, release, spec_file)
    with Releases(where.target) as releases:
        if not releases.history(where.release):
            raise SfctlError(f"release {where.release} is not installed: nothing to scale")
        values = scaled_values(
            releases.values(where.release, None), info.values_key, replicas, minimum, maximum
        )
        roll(
            where,
            releases,
            timeout,
            False,
            lambda chart: releases.upgrade(
                chart, where.release, values, description=f"sfctl scale k8s ({service})"
            ),
        )
