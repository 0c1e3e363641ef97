"""ingress-streaming-buffering and mgmt-api-exposed: the healthy install's ingress (the guide's
annotations, only the proxy routed) broken one way at a time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sfctl.doctor.checks.ingress import nginx_size
from sfctl.doctor.model import Inventory, Severity

from support.doctor_objects import cluster, container, get, refs, run

NGINX = "nginx.ingress.kubernetes.io/"
INGRESS = "Ingress/smartflow/smartflow"


def ingress(inv: Inventory) -> dict[str, Any]:
    return get(inv, "Ingress", "smartflow")


def add_path(inv: Inventory, path: str, service: str, port: int, path_type: str = "Prefix") -> None:
    ingress(inv)["spec"]["rules"][0]["http"]["paths"].append(
        {
            "path": path,
            "pathType": path_type,
            "backend": {"service": {"name": service, "port": {"number": port}}},
        }
    )


def test_healthy_ingress_is_clean() -> None:
    inv = cluster("healthy")
    assert run("ingress-streaming-buffering", inv) == []
    assert run("mgmt-api-exposed", inv) == []


# --- ingress-streaming-buffering -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("proxy-buffering", None, 'proxy-buffering is not set (needs "off")'),
        ("proxy-buffering", "on", 'proxy-buffering is "on" (needs "off")'),
        ("proxy-request-buffering", None, "proxy-request-buffering is not set"),
        ("proxy-read-timeout", "60", 'proxy-read-timeout is "60" (needs "300" or more)'),
        ("proxy-send-timeout", "120", 'proxy-send-timeout is "120"'),
        ("proxy-body-size", "8m", 'proxy-body-size is "8m" (needs "50m" or more)'),
        ("proxy-body-size", "1m ", 'proxy-body-size is "1m "'),
    ],
)
def test_each_missing_setting_is_named(key: str, value: str | None, expected: str) -> None:
    inv = cluster("healthy")
    notes = ingress(inv)["metadata"]["annotations"]
    if value is None:
        del notes[NGINX + key]
    else:
        notes[NGINX + key] = value
    [finding] = run("ingress-streaming-buffering", inv)
    assert str(finding.object) == INGRESS
    assert finding.severity is Severity.WARNING
    assert expected in finding.message
    assert finding.message.count("needs") == 1


def test_bare_ingress_lists_all_five() -> None:
    inv = cluster("healthy")
    notes = ingress(inv)["metadata"]["annotations"]
    for key in list(notes):
        if key.startswith(NGINX):
            del notes[key]
    [finding] = run("ingress-streaming-buffering", inv)
    assert finding.message.count("is not set") == 5


@pytest.mark.parametrize("size", ["0", "50m", "64M", "1g", "52428800", "102400k"])
def test_large_enough_bodies(size: str) -> None:
    inv = cluster("healthy")
    ingress(inv)["metadata"]["annotations"][NGINX + "proxy-body-size"] = size
    assert run("ingress-streaming-buffering", inv) == []


def test_controller_configmap_settings_count() -> None:
    inv = cluster("healthy")
    del ingress(inv)["metadata"]["annotations"][NGINX + "proxy-request-buffering"]
    get(inv, "ConfigMap", "ingress-nginx-controller", "ingress-nginx")["data"][
        "proxy-request-buffering"
    ] = "off"
    assert run("ingress-streaming-buffering", inv) == []


def test_other_ingress_controllers_are_not_judged() -> None:
    inv = cluster("healthy")
    ing = ingress(inv)
    ing["metadata"]["annotations"] = {}
    ing["spec"]["ingressClassName"] = "traefik"
    assert run("ingress-streaming-buffering", inv) == []


def test_ingresses_of_other_apps_are_not_judged() -> None:
    inv = cluster("healthy")
    other = copy.deepcopy(ingress(inv))
    other["metadata"].update(name="grafana", namespace="monitoring", labels={}, annotations={})
    other["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] = {
        "name": "grafana",
        "port": {"number": 80},
    }
    inv.add(other)
    assert run("ingress-streaming-buffering", inv) == []


# --- mgmt-api-exposed ------------------------------------------------------------------------


def test_management_route_on_the_public_ingress_is_found() -> None:
    inv = cluster("healthy")
    add_path(inv, "/api/enterprise", "smartflow-api-server", 7778)
    [finding] = run("mgmt-api-exposed", inv)
    assert str(finding.object) == INGRESS
    assert finding.severity is Severity.ERROR
    assert (
        "path /api/enterprise routes to service smartflow-api-server port 7778" in finding.message
    )
    assert "port-forward" in finding.message


def test_named_service_port_to_the_api_server_is_found() -> None:
    inv = cluster("healthy")
    paths = ingress(inv)["spec"]["rules"][0]["http"]["paths"]
    paths.append(
        {
            "path": "/api",
            "pathType": "Prefix",
            "backend": {"service": {"name": "smartflow-api-server", "port": {"name": "http"}}},
        }
    )
    assert refs(run("mgmt-api-exposed", inv)) == [INGRESS]


def test_auth_layer_in_front_is_accepted() -> None:
    inv = cluster("healthy")
    add_path(inv, "/api/enterprise", "smartflow-api-server", 7778)
    ingress(inv)["metadata"]["annotations"][NGINX + "auth-url"] = (
        "https://oauth2-proxy.example.com/oauth2/auth"
    )
    assert run("mgmt-api-exposed", inv) == []


def all_in_one(inv: Inventory) -> None:
    """Turn the proxy into SERVICE_TYPE=all: every route, management included, on 7775."""
    proxy = get(inv, "Deployment", "smartflow-proxy")
    proxy["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "all"
    for env in container(proxy)["env"]:
        if env["name"] == "SERVICE_TYPE":
            env["value"] = "all"
    get(inv, "Service", "smartflow-proxy")["spec"]["selector"]["app.kubernetes.io/component"] = (
        "all"
    )


def test_all_in_one_gateway_behind_the_root_path_is_found() -> None:
    inv = cluster("healthy")
    all_in_one(inv)
    [finding] = run("mgmt-api-exposed", inv)
    assert "path / routes to service smartflow-proxy port 7775" in finding.message


def test_all_in_one_gateway_behind_v1_only_is_fine() -> None:
    inv = cluster("healthy")
    all_in_one(inv)
    ingress(inv)["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/v1"
    assert run("mgmt-api-exposed", inv) == []


@pytest.mark.parametrize("kind", ["LoadBalancer", "NodePort"])
def test_public_service_for_the_api_server_is_found(kind: str) -> None:
    inv = cluster("healthy")
    get(inv, "Service", "smartflow-api-server")["spec"]["type"] = kind
    [finding] = run("mgmt-api-exposed", inv)
    assert str(finding.object) == "Service/smartflow/smartflow-api-server"
    assert f"this {kind} Service publishes port 7778" in finding.message


@pytest.mark.parametrize(
    "restrict",
    [
        {"spec": {"loadBalancerSourceRanges": ["10.0.0.0/8"]}},
        {"annotations": {"service.beta.kubernetes.io/do-loadbalancer-network": "INTERNAL"}},
        {"annotations": {"networking.gke.io/load-balancer-type": "Internal"}},
        {"annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}},
    ],
)
def test_private_load_balancer_is_accepted(restrict: dict[str, Any]) -> None:
    inv = cluster("healthy")
    service = get(inv, "Service", "smartflow-api-server")
    service["spec"]["type"] = "LoadBalancer"
    service["spec"].update(restrict.get("spec", {}))
    service["metadata"].setdefault("annotations", {}).update(restrict.get("annotations", {}))
    assert run("mgmt-api-exposed", inv) == []


def test_proxy_load_balancer_is_fine() -> None:
    inv = cluster("healthy")
    get(inv, "Service", "smartflow-proxy")["spec"]["type"] = "LoadBalancer"
    assert run("mgmt-api-exposed", inv) == []


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("50m", 50 * 2**20),
        ("1g", 2**30),
        ("512k", 512 * 2**10),
        ("100", 100),
        ("0", 0),
        ("50mb", None),
        ("", None),
    ],
)
def test_nginx_size(text: str, size: int | None) -> None:
    assert nginx_size(text) == size
