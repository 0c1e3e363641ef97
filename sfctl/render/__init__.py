"""Rendering: the spec in, deployment files out. Pure apart from writing the files.

A target is a function `(spec, out_dir) -> written paths`. The built-in ones live here; the Helm
targets (`helm`, `k8s`) register themselves in `sfctl.render.helm.TARGETS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from sfctl.spec import Spec

Target = Callable[[Spec, Path], list[Path]]

#: the order `render all` uses (targets missing from the registry are skipped)
ORDER = ("compose", "caddy", "helm", "k8s", "cert-manager", "ingress-nginx")


def targets() -> dict[str, Target]:
    """Every registered target, by name, in ORDER."""
    from sfctl.render import caddy, compose, kube_addons

    found: dict[str, Target] = {
        "compose": compose.render_compose,
        "caddy": caddy.render_caddy,
        "cert-manager": kube_addons.render_cert_manager,
        "ingress-nginx": kube_addons.render_ingress_nginx,
    }
    found.update(_helm_targets())
    ordered = {name: found[name] for name in ORDER if name in found}
    ordered.update({name: target for name, target in found.items() if name not in ordered})
    return ordered


def render_all(spec: Spec, out_dir: Path) -> list[Path]:
    """Every target, each into its own folder under `out_dir` (their file names overlap)."""
    written: list[Path] = []
    for name, target in targets().items():
        written += target(spec, out_dir / name)
    return written


def _helm_targets() -> dict[str, Target]:
    """`sfctl.render.helm.TARGETS`; none while that module is absent (a partial checkout)."""
    try:
        helm = importlib.import_module("sfctl.render.helm")
    except ModuleNotFoundError as exc:
        if exc.name != "sfctl.render.helm":
            raise
        return {}
    registered: dict[str, Target] = helm.TARGETS
    return dict(registered)
