"""The options every `sfctl ... k8s` command shares (which cluster, namespace and release), and
how they resolve: the options, else ./sfctl.yaml (or -f), else Smartflow's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from sfctl.kube.api import KubeTarget
from sfctl.spec import Spec, load_spec

DEFAULT_NAME = "smartflow"

KUBECONFIG = typer.Option(
    None, "--kubeconfig", help="The kubeconfig (default: $KUBECONFIG, else ~/.kube/config)."
)
CONTEXT = typer.Option(None, "--context", help="The kubeconfig context (default: its current).")
NAMESPACE = typer.Option(
    None, "--namespace", "-n", help="The release namespace (default: the spec's, else smartflow)."
)
RELEASE = typer.Option(
    None, "--release", help="The Helm release (default: the spec's name, else smartflow)."
)
SPEC_FILE = typer.Option(
    None, "--file", "-f", help="The deployment spec (default: ./sfctl.yaml when there is one)."
)
TIMEOUT = typer.Option(
    600, "--timeout", min=10, help="Seconds the rollout may take before it counts as failed."
)
NO_ROLLBACK = typer.Option(
    False, "--no-rollback", help="On a failed rollout, leave the release as it is (to debug)."
)


@dataclass(frozen=True, slots=True)
class KubeRelease:
    """A release on a cluster: where it is, and the spec it came from when one is at hand."""

    target: KubeTarget
    release: str
    spec: Spec | None


def resolve(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    release: str | None,
    spec_file: Path | None,
) -> KubeRelease:
    spec = _spec(spec_file)
    ns = namespace or (spec.kubernetes.namespace if spec else DEFAULT_NAME)
    name = release or (spec.name if spec else DEFAULT_NAME)
    return KubeRelease(KubeTarget(kubeconfig, context, ns), name, spec)


def _spec(spec_file: Path | None) -> Spec | None:
    if spec_file is not None:
        return load_spec(spec_file)
    default = Path("sfctl.yaml")
    return load_spec(default) if default.is_file() else None
