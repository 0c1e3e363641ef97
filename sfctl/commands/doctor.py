"""`sfctl doctor`: lint a cluster, saved dumps, a Compose project, a Caddyfile or a running
gateway before an upgrade and while it runs. Exit 0 when clean, 1 when a finding at or above
--fail-on is not suppressed, 2 when the doctor itself could not run."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from sfctl import ui
from sfctl.doctor.checks import all_checks
from sfctl.doctor.engine import UPGRADE_GROUP, diagnose, exit_code, select_checks
from sfctl.doctor.model import Check, Inventory, Severity
from sfctl.doctor.output import print_table, to_json, to_sarif
from sfctl.doctor.suppress import load_config
from sfctl.errors import SfctlError, UsageError

__all__ = ["collect", "doctor"]


class Output(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"


NO_SOURCE = (
    "nothing to lint: pass --from-file (kubectl get ... -o json|yaml dumps), --cluster, "
    "--kubeconfig or --context (a live cluster), --compose DIR, --caddyfile FILE or "
    "--gateway URL"
)


def collect(
    *,
    from_file: list[Path],
    cluster: bool,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    compose: list[Path],
    caddyfile: list[Path],
    gateway: list[str],
    admin_key: str | None,
    env_file: Path | None = None,
) -> Inventory:
    """One inventory from every source given. A collector's failure is exit 2: a lint over a
    partial view would report a false clean."""
    live = cluster or kubeconfig is not None or context is not None
    if not (from_file or live or compose or caddyfile or gateway):
        raise UsageError(NO_SOURCE)
    if namespace is not None and not live:
        raise UsageError("--namespace applies to a live cluster (--cluster, --context)")
    inventory = Inventory()
    try:
        _collect_into(inventory, from_file, live, kubeconfig, context, namespace)
        _collect_services(inventory, compose, env_file, caddyfile, gateway, admin_key)
    except SfctlError as exc:
        if exc.exit_code == 2:
            raise
        raise SfctlError(str(exc), exit_code=2) from exc
    return inventory


def _collect_into(
    inventory: Inventory,
    from_file: list[Path],
    live: bool,
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
) -> None:
    if from_file:
        from sfctl.doctor.collect_files import collect_files

        collect_files(from_file, inventory)
    if live:
        from sfctl.doctor.collect_cluster import collect_cluster

        inventory.merge(collect_cluster(kubeconfig, context, namespace))


def _collect_services(
    inventory: Inventory,
    compose: list[Path],
    env_file: Path | None,
    caddyfile: list[Path],
    gateway: list[str],
    admin_key: str | None,
) -> None:
    if compose:
        from sfctl.doctor.collect_compose import collect_compose

        for project in compose:
            inventory.merge(collect_compose(project, env_file=env_file))
    if caddyfile:
        from sfctl.doctor.collect_caddy import collect_caddyfile

        for path in caddyfile:
            inventory.merge(collect_caddyfile(path))
    if gateway:
        from sfctl.client import resolve_target
        from sfctl.doctor.collect_gateway import collect_gateway
        from sfctl.spec import cli_environment

        for url in gateway:
            target = resolve_target(url, admin_key, cli_environment(), None)
            inventory.merge(collect_gateway(target.url, target.admin_key))


def _list(checks: list[Check], output: Output) -> None:
    if output is Output.table:
        rows = [(c.id, c.severity.label, ", ".join(sorted(c.groups)), c.summary) for c in checks]
        columns = ("check", "severity", "groups", "what it finds")
        ui.table("sfctl doctor checks", columns, rows, literal=True)
        return
    listed = [
        {"id": c.id, "severity": c.severity.label, "groups": sorted(c.groups), "summary": c.summary}
        for c in checks
    ]
    ui.emit_json({"checks": listed})


def doctor(
    from_file: list[Path] | None = typer.Option(
        None,
        "--from-file",
        "-f",
        help="A kubectl get -o json|yaml dump, a manifest, a folder of them (sfctl render "
        "k8s output), or the JSON of /api/health/comprehensive (repeatable).",
    ),
    cluster: bool = typer.Option(
        False, "--cluster", help="Lint the live cluster of the current kubeconfig context."
    ),
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", help="Kubeconfig of a live cluster."
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context to lint."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Live cluster: namespaced objects from this one only."
    ),
    compose: list[Path] | None = typer.Option(
        None, "--compose", help="A Compose project directory or file (repeatable)."
    ),
    env_file: Path | None = typer.Option(
        None, "--env-file", help="--compose: the secrets file (default: .env beside it)."
    ),
    caddyfile: list[Path] | None = typer.Option(
        None, "--caddyfile", help="A Caddyfile (repeatable)."
    ),
    gateway: list[str] | None = typer.Option(
        None, "--gateway", help="A running gateway's management API URL (repeatable)."
    ),
    admin_key: str | None = typer.Option(
        None, "--admin-key", help="Admin key for --gateway (default $ADMIN_API_KEY)."
    ),
    check: list[str] | None = typer.Option(None, "--check", help="Run only these check ids."),
    skip: list[str] | None = typer.Option(None, "--skip", help="Do not run these check ids."),
    group: list[str] | None = typer.Option(None, "--group", help="Run the checks of these groups."),
    upgrade: bool = typer.Option(
        False, "--upgrade", help=f"The pre-upgrade subset (--group {UPGRADE_GROUP})."
    ),
    list_checks: bool = typer.Option(False, "--list", help="List the checks and exit."),
    config: Path | None = typer.Option(
        None, "--config", help="doctor.yaml: suppressions (check, kind, namespace, name, reason)."
    ),
    fail_on: FailOn = typer.Option(
        FailOn.error, "--fail-on", help="Exit 1 when a finding of this severity or above is found."
    ),
    output: Output = typer.Option(Output.table, "--output", "-o", help="table, json or sarif."),
    explain: bool = typer.Option(
        False, "--explain", help="Table: why each finding matters and what to change."
    ),
) -> None:
    """Lint Smartflow's cluster, Compose host, Caddyfile or gateway; --upgrade before upgrades."""
    known = all_checks()
    groups = [*(group or []), *([UPGRADE_GROUP] if upgrade else [])]
    selected = select_checks(known, only=check or [], skip=skip or [], groups=groups)
    if list_checks:
        _list(selected, output)
        return
    rules = load_config(config, known) if config is not None else []
    inventory = collect(
        from_file=from_file or [], cluster=cluster, kubeconfig=kubeconfig, context=context,
        namespace=namespace, compose=compose or [], caddyfile=caddyfile or [],
        gateway=gateway or [], admin_key=admin_key, env_file=env_file,
    )  # fmt: skip
    report = diagnose(inventory, selected, rules)
    threshold = Severity.parse(fail_on.value)
    if output is Output.json:
        ui.emit_json(to_json(report, threshold))
    elif output is Output.sarif:
        ui.emit_json(to_sarif(report))
    else:
        print_table(report, threshold, explain=explain)
    raise typer.Exit(exit_code(report.findings, threshold))
