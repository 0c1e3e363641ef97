"""proxy-cpu-limit, memory-limit-missing, probe-missing, image-latest-tag and dns-ndots on the
healthy install, each broken one way at a time; objects outside Smartflow are left alone."""

from __future__ import annotations

import pytest

from sfctl.doctor.model import Severity

from support.doctor_objects import cluster, container, get, pod_spec, refs, run

PROXY = "Deployment/smartflow/smartflow-proxy"


@pytest.mark.parametrize(
    "check",
    ["proxy-cpu-limit", "memory-limit-missing", "probe-missing", "image-latest-tag", "dns-ndots"],
)
def test_healthy_install_is_clean(check: str) -> None:
    assert run(check, cluster("healthy")) == []


# --- proxy-cpu-limit -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["smartflow-proxy", "smartflow-api-server"])
def test_cpu_limit_on_proxy_or_api_server_is_found(name: str) -> None:
    inv = cluster("healthy")
    container(get(inv, "Deployment", name))["resources"]["limits"]["cpu"] = "500m"
    [finding] = run("proxy-cpu-limit", inv)
    assert str(finding.object) == f"Deployment/smartflow/{name}"
    assert "CPU limit of 500m" in finding.message and "CFS" in finding.message
    assert "Remove resources.limits.cpu" in finding.message


def test_cpu_limit_on_compliance_is_fine() -> None:
    inv = cluster("healthy")
    assert container(get(inv, "Deployment", "smartflow-compliance"))["resources"]["limits"]["cpu"]
    assert run("proxy-cpu-limit", inv) == []


def test_cpu_limit_on_a_sidecar_is_not_the_proxy() -> None:
    inv = cluster("healthy")
    pod_spec(get(inv, "Deployment", "smartflow-proxy"))["containers"].append(
        {
            "name": "linkerd-proxy",
            "image": "cr.l5d.io/linkerd/proxy:edge-24.11.8",
            "resources": {"limits": {"cpu": "1", "memory": "250Mi"}, "requests": {"cpu": "100m"}},
        }
    )
    assert run("proxy-cpu-limit", inv) == []


# --- memory-limit-missing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("Deployment", "smartflow-proxy"),
        ("StatefulSet", "smartflow-redis"),
        ("StatefulSet", "smartflow-timescaledb"),
    ],
)
def test_missing_memory_limit_is_found(kind: str, name: str) -> None:
    inv = cluster("healthy")
    del container(get(inv, kind, name))["resources"]["limits"]["memory"]
    [finding] = run("memory-limit-missing", inv)
    assert str(finding.object) == f"{kind}/smartflow/{name}"
    assert finding.severity is Severity.ERROR
    assert "no memory limit" in finding.message and "resources.limits.memory" in finding.message


def test_workloads_outside_smartflow_are_not_judged() -> None:
    inv = cluster("healthy")
    controller = get(inv, "Deployment", "ingress-nginx-controller", "ingress-nginx")
    assert "limits" not in container(controller)["resources"]  # as ingress-nginx ships
    assert run("memory-limit-missing", inv) == []


def test_datastore_of_another_chart_in_the_smartflow_namespace_counts() -> None:
    inv = cluster("healthy")
    redis = get(inv, "StatefulSet", "smartflow-redis")
    labels = redis["spec"]["template"]["metadata"]["labels"]
    del labels["app.kubernetes.io/part-of"]  # e.g. a separate Bitnami release
    del container(redis)["resources"]["limits"]
    assert refs(run("memory-limit-missing", inv)) == ["StatefulSet/smartflow/smartflow-redis"]


# --- probe-missing ---------------------------------------------------------------------------


def test_missing_readiness_probe_is_found_with_the_service_port() -> None:
    inv = cluster("healthy")
    del container(get(inv, "Deployment", "smartflow-api-server"))["readinessProbe"]
    [finding] = run("probe-missing", inv)
    assert str(finding.object) == "Deployment/smartflow/smartflow-api-server"
    assert "no readinessProbe" in finding.message
    assert "/ready port 7778" in finding.message


def test_missing_both_probes_is_one_finding() -> None:
    inv = cluster("healthy")
    proxy = container(get(inv, "Deployment", "smartflow-proxy"))
    del proxy["readinessProbe"], proxy["livenessProbe"]
    [finding] = run("probe-missing", inv)
    assert "no readinessProbe and no livenessProbe" in finding.message
    assert "/health port 7775" in finding.message


def test_probes_are_not_required_of_non_gateway_pods() -> None:
    inv = cluster("healthy")
    redis = container(get(inv, "StatefulSet", "smartflow-redis"))
    del redis["readinessProbe"], redis["livenessProbe"]
    assert run("probe-missing", inv) == []


# --- image-latest-tag ------------------------------------------------------------------------


def test_latest_with_pull_always_explains_the_drain_risk() -> None:
    inv = cluster("healthy")
    proxy = container(get(inv, "Deployment", "smartflow-proxy"))
    proxy.update(image="langsmartai/safechat-enterprise:latest", imagePullPolicy="Always")
    [finding] = run("image-latest-tag", inv)
    assert str(finding.object) == PROXY
    assert finding.severity is Severity.WARNING
    assert "imagePullPolicy: Always" in finding.message
    assert "node drain during a cluster upgrade" in finding.message
    assert "Pin a version tag or a digest" in finding.message


def test_untagged_image_with_if_not_present() -> None:
    inv = cluster("healthy")
    redis = container(get(inv, "StatefulSet", "smartflow-redis"))
    redis.update(image="docker.io/library/redis", imagePullPolicy="IfNotPresent")
    [finding] = run("image-latest-tag", inv)
    assert "has no tag (so :latest)" in finding.message
    assert "what each node has cached" in finding.message


def test_untagged_image_without_pull_policy_defaults_to_always() -> None:
    inv = cluster("healthy")
    proxy = container(get(inv, "Deployment", "smartflow-proxy"))
    proxy["image"] = "ghcr.io/smartflow-ai/smartflow"
    del proxy["imagePullPolicy"]
    assert "imagePullPolicy: Always" in run("image-latest-tag", inv)[0].message


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/smartflow-ai/smartflow:1.4.2",
        "ghcr.io/smartflow-ai/smartflow@sha256:3fa6b8c4d1e2f30405a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8012",
        "registry.internal:5000/smartflow:1.4.2",
    ],
)
def test_pinned_images_are_fine(image: str) -> None:
    inv = cluster("healthy")
    container(get(inv, "Deployment", "smartflow-proxy"))["image"] = image
    assert run("image-latest-tag", inv) == []


def test_registry_port_is_not_a_tag() -> None:
    inv = cluster("healthy")
    container(get(inv, "Deployment", "smartflow-proxy"))["image"] = (
        "registry.internal:5000/smartflow"
    )
    assert len(run("image-latest-tag", inv)) == 1


def test_latest_outside_smartflow_is_not_judged() -> None:
    inv = cluster("healthy")
    container(get(inv, "Deployment", "coredns", "kube-system"))["image"] = "coredns/coredns:latest"
    assert run("image-latest-tag", inv) == []


# --- dns-ndots -------------------------------------------------------------------------------


def test_default_ndots_is_found_as_info() -> None:
    inv = cluster("healthy")
    del pod_spec(get(inv, "Deployment", "smartflow-compliance"))["dnsConfig"]
    [finding] = run("dns-ndots", inv)
    assert str(finding.object) == "Deployment/smartflow/smartflow-compliance"
    assert finding.severity is Severity.INFO
    assert "the default ndots 5" in finding.message and 'value: "2"' in finding.message


@pytest.mark.parametrize(("value", "found"), [("1", False), ("2", False), ("3", True), ("5", True)])
def test_ndots_threshold(value: str, found: bool) -> None:
    inv = cluster("healthy")
    pod_spec(get(inv, "Deployment", "smartflow-proxy"))["dnsConfig"]["options"][0]["value"] = value
    assert bool(run("dns-ndots", inv)) is found


def test_node_resolver_has_no_search_path() -> None:
    inv = cluster("healthy")
    spec = pod_spec(get(inv, "Deployment", "smartflow-proxy"))
    del spec["dnsConfig"]
    spec["dnsPolicy"] = "Default"
    assert run("dns-ndots", inv) == []
