"""The chart itself: Helm lint (strict), values.schema.json, and every rendered object against the
official Kubernetes schemas for 1.29 and the newest version kubernetes-validate knows."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from support.helm_chart import (
    CHART,
    CRD_KINDS,
    KUBE_VERSIONS,
    by_kind,
    custom_values,
    objects,
    render,
    validate_strict,
)

CASES = {"default": None, "custom": "custom"}


def _values(case: str) -> dict[str, Any] | None:
    return custom_values() if case == "custom" else None


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_lint_strict_passes(case: str, kube: str) -> None:
    report = helm.lint(CHART, _values(case), strict=True, kube_version=f"v{kube}.0")
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # strict: warnings count as failures; only the informational "icon is recommended" remains
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_lint_fails_on_a_typo() -> None:
    report = helm.lint(CHART, {"proxy": {"replica": 3}}, strict=True)
    assert any("replica" in error for error in report["errors"])


@pytest.mark.parametrize("case", CASES)
def test_every_manifest_passes_kubernetes_validate_strict(case: str) -> None:
    objs = objects(render(_values(case)))
    checked = [o for o in objs if (o["apiVersion"], o["kind"]) not in CRD_KINDS]
    errors = [error for obj in checked for error in validate_strict(obj)]
    assert errors == []
    kinds = {o["kind"] for o in checked}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {
        "NetworkPolicy",
        "Ingress",
        "ConfigMap",
        "ServiceAccount",
        "StatefulSet",
        "Pod",
    } <= kinds


def test_validation_catches_a_wrong_field() -> None:
    """The check the test above relies on does fail on an unknown field (strict)."""
    deployment = by_kind(objects(render()), "Deployment")["smartflow-proxy"]
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    assert len(validate_strict(deployment)) == len(KUBE_VERSIONS)


def test_service_monitor_is_structurally_sound() -> None:
    """ServiceMonitor is a CRD kind (no official schema): its selector must pick exactly the four
    gateway Services, and its endpoint must name a port they all have."""
    objs = objects(render(custom_values()))
    (monitor,) = by_kind(objs, "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["smartflow"]}
    assert set(spec) == {"namespaceSelector", "selector", "endpoints"}
    (endpoint,) = spec["endpoints"]
    assert endpoint == {
        "port": "http",
        "path": "/metrics",
        "interval": "15s",
        "scrapeTimeout": "5s",
    }

    def selected(service: dict[str, Any]) -> bool:
        labels = service["metadata"]["labels"]
        match = spec["selector"]["matchLabels"].items() <= labels.items()
        exprs = all(
            labels.get(e["key"]) in e["values"] for e in spec["selector"]["matchExpressions"]
        )
        return match and exprs

    services = [s for s in by_kind(objs, "Service").values() if selected(s)]
    assert sorted(s["metadata"]["name"] for s in services) == [
        "acme-llm-api-server",
        "acme-llm-compliance",
        "acme-llm-policy-perfect",
        "acme-llm-proxy",
    ]
    for service in services:
        assert "http" in [p["name"] for p in service["spec"]["ports"]]


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"proxy": {"replica": 3}}, "replica"),
        ({"serviceMonitr": {"enabled": True}}, "serviceMonitr"),
        ({"ingress": {"annotaions": {}}}, "annotaions"),
        ({"proxy": {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}}, "cpu"),
        ({"apiServer": {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}}, "cpu"),
        ({"compliance": {"resources": {"limits": {"memory": None}}}}, "memory"),
        ({"proxy": {"pdb": {"minAvailable": 2}}}, "minAvailable"),
        ({"proxy": {"pdb": {"maxUnavailable": 0}}}, "maxUnavailable"),
        ({"config": {"semanticCacheThreshold": 1.5}}, "semanticCacheThreshold"),
        ({"nodeAffinity": {"mode": "always"}}, "mode"),
        ({"redis": {"bundled": False}}, "external"),
        ({"ingress": {"management": {"enabled": True}}}, "management"),
        ({"secrets": {"existingSecret": "prod", "adminApiKey": "x" * 32}}, "adminApiKey"),
        ({"secrets": {"redisPassword": "p@ss/word"}}, "redisPassword"),
    ],
)
def test_schema_rejects(override: dict[str, Any], complaint: str) -> None:
    """values.schema.json refuses the values before anything renders (helm install/template)."""
    with pytest.raises(helm.HelmValuesError) as caught:
        render(override)
    assert "values don't meet the specifications of the schema" in str(caught.value)
    assert complaint in str(caught.value)


@pytest.mark.parametrize("case", CASES)
def test_schema_accepts_the_shipped_cases(case: str) -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(_values(case))
