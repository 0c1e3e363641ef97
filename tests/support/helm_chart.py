"""Render the Smartflow chart with the real Helm engine (helm-python-sdk) and check the objects
against the official Kubernetes schemas (kubernetes-validate, strict), offline."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv

from sfctl.render.helm import split_manifests

CHART = Path(__file__).resolve().parents[2] / "templates" / "helm" / "smartflow"
CUSTOM_VALUES = (
    Path(__file__).resolve().parents[1] / "sfctl" / "render" / "data" / "helm-custom-values.yaml"
)
#: the oldest Kubernetes the guide supports and the newest the schemas know
KUBE_VERSIONS = ("1.29", kv.latest_version())
#: kinds from CRDs: not in the official schemas, checked structurally by the tests
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
GATEWAY = ("proxy", "api-server", "compliance", "policy-perfect")


def custom_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(CUSTOM_VALUES.read_text())
    return values


def render(
    values: dict[str, Any] | None = None,
    *,
    chart: Path = CHART,
    name: str = "smartflow",
    namespace: str = "smartflow",
) -> dict[str, str]:
    with helm.Chart.load(chart) as loaded:
        return loaded.render(values, name=name, namespace=namespace, is_install=True)


def objects(rendered: dict[str, str], *, hooks: bool = True) -> list[dict[str, Any]]:
    """Every object Helm rendered (with the test hook unless `hooks` is false)."""
    found = [obj for _, obj in split_manifests(rendered)]
    if hooks:
        for source, text in sorted(rendered.items()):
            if "/templates/tests/" in source and text.strip():
                found.append(yaml.load(text, Loader=yaml.CSafeLoader))
    return found


def by_kind(objs: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def validate_strict(obj: dict[str, Any]) -> list[str]:
    """Errors for `obj` against every version in KUBE_VERSIONS (strict: unknown fields fail)."""
    errors = []
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kv.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            errors.append(
                f"{obj['kind']}/{obj['metadata']['name']} @ {version}: {where}: {exc.message}"
            )
    return errors


def pod_specs(objs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod spec of every workload (and bare Pod), by object name."""
    specs = {}
    for obj in objs:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            specs[obj["metadata"]["name"]] = obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            specs[obj["metadata"]["name"]] = obj["spec"]
    return specs
