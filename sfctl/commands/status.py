"""`sfctl status compose|k8s`: what runs and whether it is healthy. Compose: each service's
containers (two while an upgrade runs), their health, the build their gateway says it runs,
image, uptime and restarts, in one 80-column table. Kubernetes: the Helm release, its
workloads, autoscalers, pods and ingress certificate; exit 1 when something is not healthy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sfctl import ui
from sfctl.commands import kube_options as kopt
from sfctl.commands.inspect_options import DIRECTORY, OUTPUT, Output
from sfctl.deploy.compose_inspect import inspect_deployment
from sfctl.deploy.compose_status import (
    COLUMNS,
    LEGEND,
    any_dirty,
    container_status,
    project_json,
    table_rows,
)

if TYPE_CHECKING:
    from sfctl.kube.api import KubeTarget
    from sfctl.kube.status_k8s import ReleaseInfo

app = typer.Typer(help="What runs: containers, health, versions, images.", no_args_is_help=True)


@app.command("compose")
def compose(directory: Path = DIRECTORY, output: Output = OUTPUT) -> None:
    """Show each service's containers: health, version, image, uptime, restarts."""
    deployment = inspect_deployment(directory)
    now = datetime.now(UTC)
    statuses = [container_status(item, now) for item in deployment.containers]
    if output is Output.json:
        shape = project_json(deployment.project, statuses)
        ui.emit_json({"dir": str(directory), "image_store": deployment.image_store, **shape})
        return
    ui.narrow_table(
        f"{deployment.project} ({directory})",
        COLUMNS,
        table_rows(deployment.project, statuses),
        wrap=("container", "version"),
    )
    if any_dirty(statuses):
        ui.info(LEGEND)
    for status in statuses:
        if status.build_problem and status.state == "running":
            ui.warn(f"{status.container}: cannot read its build: {status.build_problem}")


@app.command("k8s")
def k8s(
    kubeconfig: Path | None = kopt.KUBECONFIG,
    context: str | None = kopt.CONTEXT,
    namespace: str | None = kopt.NAMESPACE,
    release: str | None = kopt.RELEASE,
    spec_file: Path | None = kopt.SPEC_FILE,
    no_exec: bool = typer.Option(
        False, "--no-exec", help="Do not ask the gateways their build (no pods/exec needed)."
    ),
    output: Output = OUTPUT,
) -> None:
    """Show a Helm release: revision and chart, workloads, autoscalers, pods
    (build, digest, restarts, age), the ingress host and its certificate.

    Exit 1 when something is not healthy: a workload not fully available, a
    pod with a problem, a certificate not ready."""
    from sfctl.kube import status_k8s as sk
    from sfctl.kube.pods import name_shortener

    where = kopt.resolve(kubeconfig, context, namespace, release, spec_file)
    status = sk.read_status(where.target, where.release, _helm_summary, ask=not no_exec)
    if output is Output.json:
        ui.emit_json(status.to_json())
        raise typer.Exit(0 if status.ok else 1)
    short = name_shortener(status.release)
    ui.info(ui.literal(sk.summary_line(status)))
    if status.workloads:
        ui.narrow_table("workloads", sk.WORKLOAD_COLUMNS, sk.workload_rows(status, short))
    if status.autoscalers:
        ui.narrow_table("autoscalers", sk.AUTOSCALER_COLUMNS, sk.autoscaler_rows(status, short))
    ui.split_table("pods", sk.pod_columns(status), sk.pod_rows(status, short))
    if sk.any_dirty(status):
        ui.info(LEGEND)
    for line in sk.ingress_lines(status):
        ui.info(ui.literal(line))
    for note in status.notes:
        ui.warn(note)
    for problem in status.problems:
        ui.error(problem)
    if status.ok:
        ui.success(f"{status.release} is healthy")
    raise typer.Exit(0 if status.ok else 1)


def _helm_summary(target: KubeTarget, release: str) -> ReleaseInfo | None:
    """Helm's record of the release's latest revision."""
    from sfctl.kube.release import Releases

    with Releases(target) as releases:
        return releases.current(release)
