"""What counts as Smartflow's, decided in one place (`sfctl.doctor.smartflow`) for every check,
and decided the same on a partial dump (`kubectl get ingress -o json`, no Services, no
Deployments) as on the whole cluster: by labels, names, images, backend names and ports."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sfctl.doctor.k8s import PodSource, pod_sources
from sfctl.doctor.model import Inventory
from sfctl.doctor.smartflow import compose_service, gateway_service, ingress_is_ours, labelled

from support.doctor_objects import cluster, get, partial, run

NGINX = "nginx.ingress.kubernetes.io/"

# None: the whole cluster; else the kinds a `kubectl get <kinds>` dumped
DUMPS: dict[str, tuple[str, ...] | None] = {
    "everything": None,
    "ingress only": ("Ingress",),
    "ingress and deployments": ("Ingress", "Deployment"),
    "ingress and pods": ("Ingress", "Pod"),
    "ingress and services": ("Ingress", "Service"),
    "ingress, services and deployments": ("Ingress", "Service", "Deployment"),
}


def view(inv: Inventory, dump: str) -> Inventory:
    kinds = DUMPS[dump]
    return inv if kinds is None else partial(inv, *kinds)


def route(inv: Inventory, path: str, service: str, port: dict[str, Any]) -> None:
    ingress = get(inv, "Ingress", "smartflow")
    ingress["spec"]["rules"][0]["http"]["paths"].append(
        {
            "path": path,
            "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": port}},
        }
    )


def ingress_findings(inv: Inventory) -> list[tuple[str, str, str]]:
    found = run("ingress-streaming-buffering", inv) + run("mgmt-api-exposed", inv)
    return [(f.check, str(f.object), f.message) for f in found]


# --- ingresses -------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", ["the chart's labels", "no labels"])
@pytest.mark.parametrize("dump", DUMPS)
def test_a_smartflow_ingress_is_judged_the_same_on_every_dump(dump: str, labels: str) -> None:
    """Both ingress checks see the same Smartflow ingress whatever else was dumped: before, the
    streaming check needed the Services and pods behind it while mgmt-api-exposed did not."""
    inv = cluster("healthy")
    ingress = get(inv, "Ingress", "smartflow")
    if labels == "no labels":
        ingress["metadata"]["labels"] = {}
    del ingress["metadata"]["annotations"][NGINX + "proxy-buffering"]
    route(inv, "/api/enterprise", "smartflow-api-server", {"number": 7778})
    whole = ingress_findings(inv)
    assert [check for check, _, _ in whole] == ["ingress-streaming-buffering", "mgmt-api-exposed"]
    assert ingress_findings(view(inv, dump)) == whole
    assert ingress_is_ours(view(inv, dump), ingress, pod_sources(view(inv, dump)))


@pytest.mark.parametrize("dump", DUMPS)
@pytest.mark.parametrize(
    ("port", "named"), [({"number": 7778}, "port 7778"), ({"name": "http"}, "port http")]
)
def test_the_backend_is_named_as_the_ingress_names_it(
    dump: str, port: dict[str, Any], named: str
) -> None:
    inv = cluster("healthy")
    route(inv, "/api", "smartflow-api-server", port)
    [finding] = run("mgmt-api-exposed", view(inv, dump))
    assert f"path /api routes to service smartflow-api-server {named}, which" in finding.message
    assert "?" not in finding.message.split(",")[0]


@pytest.mark.parametrize("dump", DUMPS)
def test_an_all_in_one_gateway_behind_the_root_path_is_found_by_what_it_runs(dump: str) -> None:
    """A hand-written Service named after the app, not the chart's pattern: the Deployment of
    the same name (no Services dumped) or the Service's selector (no pods) says it is `all`."""
    inv = cluster("healthy")
    proxy = get(inv, "Deployment", "smartflow-proxy")
    proxy["metadata"]["name"] = "llm-gateway"
    template = proxy["spec"]["template"]
    template["metadata"]["labels"]["app.kubernetes.io/component"] = "all"
    for env in template["spec"]["containers"][0]["env"]:
        if env["name"] == "SERVICE_TYPE":
            env["value"] = "all"
    service = get(inv, "Service", "smartflow-proxy")
    service["metadata"]["name"] = "llm-gateway"
    service["spec"]["selector"]["app.kubernetes.io/component"] = "all"
    service["spec"]["ports"][0]["port"] = 80
    backend = get(inv, "Ingress", "smartflow")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    backend["service"] = {"name": "llm-gateway", "port": {"number": 80}}
    if DUMPS[dump] in (("Ingress",), ("Ingress", "Pod")):
        return  # nothing in such a dump tells what llm-gateway:80 is: see the next test
    [finding] = run("mgmt-api-exposed", view(inv, dump))
    assert "path / routes to service llm-gateway port 80, which serves" in finding.message


def test_an_unknown_backend_is_not_smartflows() -> None:
    """Without the Service, a workload of its name, a Smartflow port or name, an unlabelled
    ingress to llm-gateway:80 is nobody's business."""
    inv = cluster("healthy")
    ingress = get(inv, "Ingress", "smartflow")
    ingress["metadata"]["labels"] = {}
    ingress["metadata"]["annotations"] = {}
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] = {
        "name": "llm-gateway",
        "port": {"number": 80},
    }
    only = partial(inv, "Ingress")
    assert not ingress_is_ours(only, ingress, [])
    assert ingress_findings(only) == []


@pytest.mark.parametrize("dump", DUMPS)
def test_another_apps_ingress_is_never_smartflows(dump: str) -> None:
    inv = cluster("healthy")
    other = copy.deepcopy(get(inv, "Ingress", "smartflow"))
    other["metadata"].update(name="grafana", namespace="monitoring", labels={}, annotations={})
    other["spec"]["rules"][0]["http"]["paths"] = [
        {
            "path": path,
            "pathType": "Prefix",
            "backend": {"service": {"name": "grafana", "port": port}},
        }
        for path, port in (("/", {"number": 3000}), ("/api/enterprise", {"name": "http"}))
    ]
    inv.add(other)
    seen = view(inv, dump)
    assert not ingress_is_ours(seen, other, pod_sources(seen))
    assert ingress_findings(seen) == []


# --- public Services -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kinds", [None, ("Service",), ("Service", "Deployment"), ("Service", "Pod")]
)
def test_a_public_api_server_service_on_another_port_is_found_on_partial_dumps(
    kinds: tuple[str, ...] | None,
) -> None:
    """The Service says what it selects (component: api-server), whether or not the pods were
    dumped: port 80 in front of the management API is still the management API."""
    inv = cluster("healthy")
    service = get(inv, "Service", "smartflow-api-server")
    service["spec"]["type"] = "LoadBalancer"
    service["spec"]["ports"][0]["port"] = 80
    seen = inv if kinds is None else partial(inv, *kinds)
    [finding] = run("mgmt-api-exposed", seen)
    assert str(finding.object) == "Service/smartflow/smartflow-api-server"
    assert "this LoadBalancer Service publishes port 80" in finding.message


def test_a_public_service_of_another_app_is_not_smartflows() -> None:
    inv = cluster("healthy")
    service = copy.deepcopy(get(inv, "Service", "smartflow-api-server"))
    service["metadata"].update(name="grafana", labels={"app.kubernetes.io/name": "grafana"})
    service["spec"].update(type="LoadBalancer", selector={"app.kubernetes.io/name": "grafana"})
    service["spec"]["ports"] = [{"name": "http", "port": 80, "targetPort": 3000}]
    inv.add(service)
    assert run("mgmt-api-exposed", partial(inv, "Service")) == []
    assert run("mgmt-api-exposed", inv) == []


# --- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "ours"),
    [
        ({"app.kubernetes.io/part-of": "smartflow"}, True),
        ({"app.kubernetes.io/name": "smartflow"}, True),
        ({"helm.sh/chart": "smartflow-1.4.2"}, True),
        ({"helm.sh/chart": "smartflow-gateway-0.3.0"}, False),
        ({"app.kubernetes.io/name": "grafana", "helm.sh/chart": "grafana-8.5.1"}, False),
        ({"app.kubernetes.io/instance": "smartflow"}, False),  # a release name: anything
        ({}, False),
    ],
)
def test_labels_that_say_smartflow(labels: dict[str, str], ours: bool) -> None:
    assert labelled(labels) is ours


@pytest.mark.parametrize(
    "labels",
    [{"app.kubernetes.io/name": "smartflow"}, {"helm.sh/chart": "smartflow-1.3.0"}],
)
@pytest.mark.parametrize("kinds", [None, ("ConfigMap",)])
def test_a_chart_configmap_is_read_on_a_configmap_only_dump(
    labels: dict[str, str], kinds: tuple[str, ...] | None
) -> None:
    """An older chart set no part-of label: its name and chart labels say whose it is."""
    inv = cluster("healthy")
    extra = copy.deepcopy(get(inv, "ConfigMap", "smartflow-env"))
    extra["metadata"].update(name="smartflow-extra", labels=labels)
    extra["data"] = {"OPENAI_API_KEY": "sk-proj-abcdefghijklmnopqrstuvwx"}
    inv.add(extra)
    seen = inv if kinds is None else partial(inv, *kinds)
    [finding] = run("secret-in-env", seen)
    assert str(finding.object) == "ConfigMap/smartflow/smartflow-extra"


# --- workloads, in a cluster and in Compose ---------------------------------------------------

# (image, SERVICE_TYPE, port it listens on, the gateway service it runs)
WORKLOADS: list[tuple[str, str | None, int | None, str | None]] = [
    ("ghcr.io/smartflow-ai/smartflow:1.4.2", "proxy", 7775, "proxy"),
    ("ghcr.io/smartflow-ai/smartflow:1.4.2", None, 7775, "all"),
    ("smartflow/gateway:0.1.0", None, None, "all"),
    ("langsmartai/safechat-enterprise:latest", "chat", 3600, None),  # the seed's chat frontend
    ("registry.example.com/llm/gw:2.0", "api-server", 7778, "api-server"),
    ("redis:7", "proxy", None, None),  # SERVICE_TYPE alone is too common a name to trust
    ("redis:7.2", None, 6379, None),
]


@pytest.mark.parametrize(("image", "service_type", "port", "expected"), WORKLOADS)
def test_a_pod_and_a_compose_service_get_the_same_answer(
    image: str, service_type: str | None, port: int | None, expected: str | None
) -> None:
    env = {"SERVICE_TYPE": service_type} if service_type else {}
    pod = {
        "kind": "Pod",
        "metadata": {"name": "gw", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "gw",
                    "image": image,
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "ports": [{"containerPort": port}] if port else [],
                }
            ]
        },
    }
    compose = {"image": image, "environment": env, "expose": [str(port)] if port else []}
    assert gateway_service(PodSource.of_pod(pod)) == expected
    assert compose_service(compose) == expected


def test_the_chat_frontend_is_smartflows_but_not_a_gateway() -> None:
    """The seed's chat UI runs the Smartflow image with SERVICE_TYPE=chat: its memory limit
    and image tag are judged (it is part of the install), gateway probes are not."""
    inv = cluster("healthy")
    chat = copy.deepcopy(get(inv, "Deployment", "smartflow-compliance"))
    chat["metadata"].update(name="chat", labels={})
    template = chat["spec"]["template"]
    template["metadata"]["labels"] = {"app": "chat"}
    container = template["spec"]["containers"][0]
    container.update(
        image="langsmartai/safechat-enterprise:2.1.0",
        env=[{"name": "SERVICE_TYPE", "value": "chat"}],
        ports=[{"containerPort": 3600}],
        resources={},
    )
    del container["readinessProbe"], container["livenessProbe"]
    inv.add(chat)
    assert [str(f.object) for f in run("memory-limit-missing", inv)] == [
        "Deployment/smartflow/chat"
    ]
    assert run("probe-missing", inv) == []
