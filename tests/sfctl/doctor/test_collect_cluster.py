"""collect_cluster with the official Kubernetes client against a fake API server on loopback
(the one fake: no API server can run here). The fake answers as kube-apiserver does: List
objects with metadata.resourceVersion and continue tokens, items without kind/apiVersion,
metav1.Status bodies for 401/403/404/503."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from sfctl.doctor.checks.runtime import memory_pressure, pod_restarts
from sfctl.doctor.collect_cluster import RESOURCES, collect_cluster
from sfctl.errors import SfctlError

from support.json_server import json_server
from support.procs import free_port

FIXTURES = Path(__file__).parent / "fixtures" / "runtime"
TOKEN = "dop_v1_3c0e6f5d9b2a4e8c7f1d0b9a8e7c6d5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
PAGE = 3  # the fake pages every list, whatever `limit` asks (servers may return fewer)
KINDS = {
    "nodes": "Node", "namespaces": "Namespace", "pods": "Pod", "services": "Service",
    "configmaps": "ConfigMap", "deployments": "Deployment", "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet", "ingresses": "Ingress", "networkpolicies": "NetworkPolicy",
    "poddisruptionbudgets": "PodDisruptionBudget", "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
    "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
}  # fmt: skip


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    }  # fmt: skip


def raw_items(kubectl_list: dict[str, Any]) -> list[dict[str, Any]]:
    """kubectl prints items with kind/apiVersion; the API's own list items have neither."""
    return [
        {k: v for k, v in item.items() if k not in ("kind", "apiVersion")}
        for item in kubectl_list["items"]
    ]


class FakeKubeAPI:
    def __init__(self) -> None:
        self.lists: dict[str, list[dict[str, Any]]] = json.loads(
            (FIXTURES / "cluster-api.json").read_text()
        )
        self.lists["/api/v1/pods"] = raw_items(
            json.loads((FIXTURES / "pods-unhealthy.json").read_text())
        )
        metrics = json.loads((FIXTURES / "podmetrics-pressure.json").read_text())
        self.lists["/apis/metrics.k8s.io/v1beta1/pods"] = metrics["items"]
        self.errors: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []

    def answer(
        self, path: str, query: dict[str, list[str]], auth: str | None
    ) -> tuple[int, dict[str, Any]]:
        self.requests.append((path, query, auth))
        if auth != f"Bearer {TOKEN}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        if path in self.errors:
            return self.errors[path]
        items = self._items(path)
        if items is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        start = int(query.get("continue", ["0"])[0] or 0)
        page, rest = items[start : start + PAGE], items[start + PAGE :]
        meta: dict[str, Any] = {"resourceVersion": "4482001"}
        if rest:
            meta |= {"continue": str(start + PAGE), "remainingItemCount": len(rest)}
        kind = (
            "PodMetricsList"
            if "metrics.k8s.io" in path
            else KINDS[path.rsplit("/", 1)[-1]] + "List"
        )
        version = (
            path.removeprefix("/apis/").rsplit("/", 1)[0] if path.startswith("/apis/") else "v1"
        )
        return 200, {
            "kind": kind,
            "apiVersion": version.split("/namespaces/")[0],
            "metadata": meta,
            "items": page,
        }

    def _items(self, path: str) -> list[dict[str, Any]] | None:
        if path in self.lists:
            return self.lists[path]
        if "/namespaces/" in path:  # a namespaced list: the cluster-wide one, filtered
            head, _, tail = path.partition("/namespaces/")
            namespace, _, plural = tail.partition("/")
            every = self.lists.get(f"{head}/{plural}")
            if every is not None:
                return [i for i in every if i["metadata"].get("namespace") == namespace]
        return None


@pytest.fixture
def api() -> Iterator[tuple[FakeKubeAPI, str]]:
    fake = FakeKubeAPI()

    def answer(path: str, headers: Mapping[str, str]) -> tuple[int, Any]:
        url = urlsplit(path)
        return fake.answer(url.path, parse_qs(url.query), headers.get("Authorization"))

    with json_server(answer) as url:
        yield fake, url


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "do-fra1-smartflow", "cluster": {"server": server}}],
                "users": [
                    {"name": "do-fra1-smartflow-admin", "user": {"token": TOKEN}},
                    {"name": "revoked", "user": {"token": "dop_v1_revoked"}},
                ],
                "contexts": [
                    {
                        "name": "do-fra1-smartflow",
                        "context": {
                            "cluster": "do-fra1-smartflow",
                            "user": "do-fra1-smartflow-admin",
                        },
                    },
                    {
                        "name": "revoked",
                        "context": {"cluster": "do-fra1-smartflow", "user": "revoked"},
                    },
                ],
                "current-context": "do-fra1-smartflow",
            }
        )
    )
    return path


def test_every_kind_collected_as_the_api_serves_it(
    api: tuple[FakeKubeAPI, str], tmp_path: Path
) -> None:
    fake, server = api
    inventory = collect_cluster(kubeconfig(tmp_path, server), None)
    assert inventory.notes == []
    counts = {kind: len(list(inventory.of_kind(kind))) for kind, *_ in RESOURCES}
    assert counts == {
        "Node": 3, "Namespace": 5, "Pod": 9, "Service": 1, "ConfigMap": 2, "Deployment": 4,
        "StatefulSet": 1, "DaemonSet": 0, "Ingress": 0, "NetworkPolicy": 0,
        "PodDisruptionBudget": 0, "HorizontalPodAutoscaler": 0,
        "ValidatingWebhookConfiguration": 1, "MutatingWebhookConfiguration": 1,
    }  # fmt: skip
    assert len(inventory.pod_metrics) == 6
    assert not any(kind.endswith("List") for kind in inventory.objects)
    pod = next(inventory.of_kind("Pod"))
    assert (pod["kind"], pod["apiVersion"]) == ("Pod", "v1")
    assert "containerStatuses" in pod["status"]  # camelCase, as kubectl prints
    [webhook] = inventory.of_kind("ValidatingWebhookConfiguration")
    assert webhook["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert webhook["webhooks"][0]["timeoutSeconds"] == 30
    assert inventory.pod_metrics[0]["kind"] == "PodMetrics"
    assert inventory.pod_metrics[0]["apiVersion"] == "metrics.k8s.io/v1beta1"
    pages = [q.get("continue", [""])[0] for p, q, _ in fake.requests if p == "/api/v1/pods"]
    assert pages == ["", "3", "6"]  # continue tokens followed to the end
    assert all(q.get("limit") == ["500"] for _, q, _ in fake.requests)
    assert not any("secrets" in p for p, _, _ in fake.requests)


def test_collected_objects_feed_the_checks(api: tuple[FakeKubeAPI, str], tmp_path: Path) -> None:
    inventory = collect_cluster(kubeconfig(tmp_path, api[1]), "do-fra1-smartflow")
    assert [f.object.name for f in memory_pressure(inventory)] == [
        "smartflow-compliance-6f7b8c9d5-c2w6j"
    ]
    assert (
        "OOMKilled"
        in next(f for f in pod_restarts(inventory) if f.severity.label == "error").message
    )


def test_namespace_limits_namespaced_kinds_only(
    api: tuple[FakeKubeAPI, str], tmp_path: Path
) -> None:
    fake, server = api
    inventory = collect_cluster(kubeconfig(tmp_path, server), None, "kube-system")
    assert [p["metadata"]["name"] for p in inventory.of_kind("Pod")] == ["coredns-854895db77-8xkq2"]
    assert len(list(inventory.of_kind("Node"))) == 3  # cluster-scoped: listed anyway
    assert len(list(inventory.of_kind("ValidatingWebhookConfiguration"))) == 1
    paths = {p for p, _, _ in fake.requests}
    assert "/api/v1/namespaces/kube-system/pods" in paths
    assert "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods" in paths
    assert "/api/v1/pods" not in paths


@pytest.mark.parametrize(
    ("code", "reason", "message"),
    [
        (404, "NotFound", "the server could not find the requested resource"),
        (503, "ServiceUnavailable", "the server is currently unable to handle the request"),
    ],
)
def test_metrics_api_not_served_is_a_note(
    api: tuple[FakeKubeAPI, str], tmp_path: Path, code: int, reason: str, message: str
) -> None:
    fake, server = api
    fake.errors["/apis/metrics.k8s.io/v1beta1/pods"] = (code, status(code, reason, message))
    inventory = collect_cluster(kubeconfig(tmp_path, server), None)
    assert inventory.pod_metrics == []
    assert inventory.notes == [
        f"metrics.k8s.io is not served (HTTP {code}): memory-pressure was not checked "
        "(it needs metrics-server)"
    ]
    assert len(list(inventory.of_kind("Pod"))) == 9


def test_forbidden_is_one_line(api: tuple[FakeKubeAPI, str], tmp_path: Path) -> None:
    fake, server = api
    message = (
        "validatingwebhookconfigurations.admissionregistration.k8s.io is forbidden: User "
        '"system:serviceaccount:smartflow:doctor" cannot list resource '
        '"validatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the '
        "cluster scope"
    )
    path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    fake.errors[path] = (
        403,
        status(
            403,
            "Forbidden",
            message,
            group="admissionregistration.k8s.io",
            kind="validatingwebhookconfigurations",
        ),
    )
    with pytest.raises(SfctlError) as caught:
        collect_cluster(kubeconfig(tmp_path, server), None)
    assert str(caught.value) == (
        f"forbidden to list ValidatingWebhookConfiguration: {message}; sfctl needs list on it"
    )
    assert caught.value.exit_code == 2


def test_refused_credentials(api: tuple[FakeKubeAPI, str], tmp_path: Path) -> None:
    with pytest.raises(SfctlError) as caught:
        collect_cluster(kubeconfig(tmp_path, api[1]), "revoked")
    assert str(caught.value) == "the Kubernetes API refused the credentials (401): Unauthorized"
    assert caught.value.exit_code == 2


def test_unreachable_cluster(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(SfctlError) as caught:
        collect_cluster(kubeconfig(tmp_path, f"http://127.0.0.1:{port}"), None)
    assert (
        str(caught.value)
        == f"cannot reach the Kubernetes API at http://127.0.0.1:{port}: [Errno 111] Connection refused"
    )
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("setup", "context", "fragment"),
    [
        ("missing", None, "no kubeconfig at "),
        ("valid", "no-such-context", "no-such-context"),
        ("garbage", None, "cannot load the kubeconfig "),
    ],
)
def test_bad_kubeconfig(tmp_path: Path, setup: str, context: str | None, fragment: str) -> None:
    path = kubeconfig(tmp_path, "http://127.0.0.1:1")
    if setup == "missing":
        path = tmp_path / "nope"
    elif setup == "garbage":
        path.write_text("clusters: [\n")
    with pytest.raises(SfctlError) as caught:
        collect_cluster(path, context)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_no_kubeconfig_anywhere_says_how_to_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(SfctlError) as caught:
        collect_cluster(None, None)
    assert str(caught.value) == (
        f"no kubeconfig at $KUBECONFIG ({tmp_path / 'absent'}): pass --kubeconfig FILE, "
        "or set KUBECONFIG"
    )


def test_without_the_kubernetes_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # what an install without [k8s] sees
    with pytest.raises(SfctlError) as caught:
        collect_cluster(tmp_path / "kubeconfig", None)
    assert (
        str(caught.value) == "the Kubernetes client is not installed: pip install 'smartflow[k8s]'"
    )
    assert caught.value.exit_code == 2
