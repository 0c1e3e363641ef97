"""`sfctl deploy k8s`: seed 000's cluster runbook as one command. In order: cert-manager (with
its CRDs and the 29 s webhook timeout), ingress-nginx, the ACME ClusterIssuer (applied once
cert-manager's webhook admits it), the release namespace (Pod Security `restricted`), the
Secret from .env, and the Smartflow chart; each Helm release waited for the way `kubectl
rollout status` does. `dry_run`: the same steps, each only saying what it would change."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sfctl.errors import SfctlError
from sfctl.kube.addons import AddOn, addons, cluster_issuer
from sfctl.kube.api import ApiError, KubeTarget
from sfctl.kube.apply import get_object, server_side_apply
from sfctl.kube.env_secret import DATA_DIGEST, release_secrets
from sfctl.kube.flow import ReleaseChange, Reporter, Rolled, WaitOptions, refuse_pending
from sfctl.kube.manifest_diff import ObjectChange, diff_manifests
from sfctl.kube.release import Applied, DryRun, Releases
from sfctl.render.helm import CHART_NAME, namespace_manifest, values_from_spec, write_chart
from sfctl.spec import Spec

#: how long the ClusterIssuer may be refused while cert-manager's webhook starts serving
WEBHOOK_WAIT = 180.0


@dataclass(frozen=True, slots=True)
class DeployRequest:
    spec: Spec
    env_file: Path
    kubeconfig: Path | None
    context: str | None
    charts_from: Path | None = None
    dry_run: bool = False
    wait: WaitOptions = field(default_factory=WaitOptions)

    def target(self, namespace: str) -> KubeTarget:
        return KubeTarget(self.kubeconfig, self.context, namespace)


@dataclass(slots=True)
class DeployOutcome:
    """What each step did: release name -> revision (or the dry run's changes)."""

    revisions: dict[str, int] = field(default_factory=dict)
    changes: dict[str, list[ObjectChange]] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def deploy(
    request: DeployRequest,
    api: Any,
    reporter: Reporter,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DeployOutcome:
    spec = request.spec
    outcome = DeployOutcome()
    secrets = release_secrets(spec, request.env_file)  # a missing key fails before any change
    for addon in addons(spec):
        _addon(request, api, reporter, addon, outcome, sleep=sleep, clock=clock)
    if spec.tls.enabled:
        _issuer(request, api, reporter, outcome, sleep=sleep, clock=clock)
    namespace = spec.kubernetes.namespace
    _apply(request, api, reporter, namespace_manifest(spec), outcome)
    for secret in secrets:
        _apply(request, api, reporter, secret, outcome)
    _existing_secret(spec, api)
    with tempfile.TemporaryDirectory(prefix="sfctl-chart-") as scratch:
        write_chart(Path(scratch))
        chart = Path(scratch) / CHART_NAME
        _release(
            request,
            api,
            reporter,
            outcome,
            target=request.target(namespace),
            name=spec.name,
            apply=lambda rel, installed, dry_run: _chart_apply(
                rel,
                chart,
                spec.name,
                values_from_spec(spec),
                installed=installed,
                dry_run=dry_run,
            ),
            sleep=sleep,
            clock=clock,
        )
    return outcome


def _addon(
    request: DeployRequest,
    api: Any,
    reporter: Reporter,
    addon: AddOn,
    outcome: DeployOutcome,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    chart, repo_url, version = addon.source(request.charts_from)
    _apply(request, api, reporter, _plain_namespace(addon.namespace), outcome)
    _release(
        request,
        api,
        reporter,
        outcome,
        target=request.target(addon.namespace),
        name=addon.release,
        apply=lambda rel, installed, dry_run: _chart_apply(
            rel,
            chart,
            addon.release,
            addon.values,
            installed=installed,
            dry_run=dry_run,
            repo_url=repo_url,
            version=version,
        ),
        sleep=sleep,
        clock=clock,
    )


def _plain_namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "sfctl"}},
    }


def _chart_apply(
    releases: Releases,
    chart: Path | str,
    name: str,
    values: dict[str, Any],
    *,
    installed: bool,
    dry_run: DryRun,
    repo_url: str | None = None,
    version: str | None = None,
) -> Applied:
    action = releases.upgrade if installed else releases.install
    return action(
        chart,
        name,
        values,
        dry_run=dry_run,
        repo_url=repo_url,
        version=version,
        description="sfctl deploy k8s",
    )


def _release(
    request: DeployRequest,
    api: Any,
    reporter: Reporter,
    outcome: DeployOutcome,
    *,
    target: KubeTarget,
    name: str,
    apply: Callable[[Releases, bool, DryRun], Applied],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    with Releases(target) as releases:
        history = releases.history(name)
        installed = bool(history) and history[-1].status != "uninstalled"
        if request.dry_run or installed:
            refuse_pending(history[-1] if history else None, history)
            # the API server admits a dry run of an upgrade; a first install's namespace may not
            # exist yet, so that one (everything a create) is only rendered
            mode: DryRun = "server" if request.dry_run and installed else "client"
            proposed = apply(releases, installed, mode)
            current = releases.manifest(name) if installed else ""
            changes = diff_manifests(current, proposed.manifest, target.namespace)
            if request.dry_run:
                outcome.changes[name] = changes
                return
            if not changes and history[-1].status == "deployed":
                reporter.step(f"{name}: revision {history[-1].revision} is current; unchanged")
                outcome.unchanged.append(name)
                return
        verb = "upgrading" if installed else "installing"
        reporter.step(f"{name}: {verb} in namespace {target.namespace}")
        change = ReleaseChange(releases, api, reporter, request.wait, clock=clock, sleep=sleep)
        rolled: Rolled = change.run(name, lambda: apply(releases, installed, None))
        outcome.revisions[name] = rolled.summary.revision


def _apply(
    request: DeployRequest,
    api: Any,
    reporter: Reporter,
    obj: dict[str, Any],
    outcome: DeployOutcome,
) -> None:
    title = f"{obj['kind']} {obj['metadata']['name']}"
    if request.dry_run:
        live = get_object(
            api, obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")
        )
        outcome.applied.append(f"{title}: {_would(obj, live)}")
        return
    server_side_apply(api, obj)
    outcome.applied.append(title)


def _would(obj: dict[str, Any], live: dict[str, Any] | None) -> str:
    """A dry run's verdict on one object sfctl applies itself (Secrets by digest only)."""
    if live is None:
        return "would be created"
    if obj["kind"] == "Secret":
        before = ((live.get("metadata") or {}).get("annotations") or {}).get(DATA_DIGEST)
        after = obj["metadata"]["annotations"][DATA_DIGEST]
        return "unchanged" if before == after else "would change (values differ)"
    wanted = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    wanted["metadata"] = {"labels": obj["metadata"].get("labels") or {}}
    return "unchanged" if _contains(live, wanted) else "would be updated"


def _contains(live: Any, wanted: Any) -> bool:
    """Every field sfctl applies has the value it would apply (fields the server defaults or
    other managers own are not sfctl's to compare)."""
    if isinstance(wanted, dict):
        live = {} if live is None else live  # an absent map holds no fields, like an empty one
        return isinstance(live, dict) and all(_contains(live.get(k), v) for k, v in wanted.items())
    return bool(live == wanted)


def _existing_secret(spec: Spec, api: Any) -> None:
    """With `kubernetes.existing_secret`, sfctl does not write the Secret, but a missing one (or
    one without a key the chart reads) would leave every pod in CreateContainerConfigError."""
    name = spec.kubernetes.existing_secret
    if name is None:
        return
    live = get_object(api, "Secret", name, spec.kubernetes.namespace)
    if live is None:
        raise SfctlError(
            f"the Secret {name} (kubernetes.existing_secret) is not in namespace "
            f"{spec.kubernetes.namespace}: create it, or drop existing_secret to let sfctl "
            "make it from .env"
        )
    keys = set((live.get("data") or {}).keys())
    wanted = [n for n in spec.secret_names() if n != spec.management.basic_auth_hash_env]
    missing = [n for n in wanted if n not in keys]
    if missing:
        raise SfctlError(f"the Secret {name} lacks the key(s) {', '.join(missing)}")


def _issuer(
    request: DeployRequest,
    api: Any,
    reporter: Reporter,
    outcome: DeployOutcome,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    """Apply the ClusterIssuer; cert-manager's webhook refuses it until it serves (a fresh
    install takes tens of seconds), and the CRD may not be established yet: retry on those
    two answers only, for up to WEBHOOK_WAIT seconds."""
    issuer = cluster_issuer(request.spec)
    if request.dry_run:
        _apply(request, api, reporter, issuer, outcome)
        return
    reporter.step(f"ClusterIssuer {issuer['metadata']['name']}: applying")
    deadline = clock() + WEBHOOK_WAIT
    while True:
        try:
            server_side_apply(api, issuer)
        except ApiError as exc:
            if not _webhook_starting(exc) or clock() >= deadline:
                raise
            sleep(min(request.wait.poll, 5.0))
            continue
        outcome.applied.append(f"ClusterIssuer {issuer['metadata']['name']}")
        return


def _webhook_starting(exc: ApiError) -> bool:
    message = exc.server_message
    return (exc.status >= 500 and "webhook" in message) or exc.status == 404


def with_wait(request: DeployRequest, wait: WaitOptions) -> DeployRequest:
    return replace(request, wait=wait)
