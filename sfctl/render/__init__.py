"""Rendering: the spec in, deployment files out. Pure apart from writing the files.

A target is a function `(spec, out_dir) -> written paths`: Compose, Caddy and the cert-manager
and ingress-nginx add-ons here, the Helm targets (`helm`, `k8s`) in `sfctl.render.helm.TARGETS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sfctl.spec import Spec

Target = Callable[[Spec, Path], list[Path]]

#: the order `render all` uses
ORDER = ("compose", "caddy", "helm", "k8s", "cert-manager", "ingress-nginx")


def targets() -> dict[str, Target]:
    """Every registered target, by name, in ORDER."""
    from sfctl.render import caddy, compose, helm, kube_addons

    found: dict[str, Target] = {
        "compose": compose.render_compose,
        "caddy": caddy.render_caddy,
        "cert-manager": kube_addons.render_cert_manager,
        "ingress-nginx": kube_addons.render_ingress_nginx,
    }
    found.update(helm.TARGETS)
    ordered = {name: found[name] for name in ORDER if name in found}
    ordered.update({name: target for name, target in found.items() if name not in ordered})
    return ordered


def render_all(spec: Spec, out_dir: Path) -> list[Path]:
    """Every target, each into its own folder under `out_dir` (their file names overlap)."""
    written: list[Path] = []
    for name, target in targets().items():
        written += target(spec, out_dir / name)
    return written
