"""The fake Kubernetes API server behaves like a v1.31 one where sfctl depends on it: the real
Helm v4 engine installs, upgrades, rolls back and uninstalls the Smartflow chart through it
(server-side apply, release Secrets, OpenAPI-driven field validation), and the official
kubernetes client sees the server's CRUD semantics, Status bodies, selectors, paging, patches,
subresources, discovery, watches, logs and exec over WebSocket."""

from __future__ import annotations

import base64
import copy
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from sfctl.render.helm import values_from_spec

from support.helm_chart import CHART, objects, render
from support.kube_fake import FakeCluster, kube_cluster
from support.sfctl_render import default_spec

NS = "smartflow"
RELEASE = "smartflow"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with kube_cluster(tmp_path) as fake:
        yield fake


@pytest.fixture
def api(cluster: FakeCluster) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig),
        context=cluster.context,
        client_configuration=configuration,
    )
    return client.ApiClient(configuration)


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "{}")
    return body


def raw(
    cluster: FakeCluster,
    path: str,
    *,
    method: str = "GET",
    token: str | None = None,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """A request without the kubernetes client (to send what it never sends)."""
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    ca = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(cluster.url + path, data, headers, method=method)
    context = ssl.create_default_context(cadata=ca.decode())
    try:
        with urllib.request.urlopen(request, context=context) as response:
            text = response.read().decode()
            code = response.status
    except urllib.error.HTTPError as exc:
        text, code = exc.read().decode(), exc.code
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text


def helm_config(cluster: FakeCluster, namespace: str = NS) -> helm.Config:
    return helm.Config(
        kubeconfig_path=str(cluster.kubeconfig), kube_context=cluster.context, namespace=namespace
    )


def namespace(cluster: FakeCluster, name: str) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def image_of(deployment: dict[str, Any]) -> str:
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


# --- the real Helm engine -----------------------------------------------------------------------


def test_helm_installs_upgrades_rolls_back_and_uninstalls_the_chart(cluster: FakeCluster) -> None:
    namespace(cluster, NS)
    values = values_from_spec(default_spec())
    rendered = objects(render(values, name=RELEASE, namespace=NS), hooks=False)
    cfg = helm_config(cluster)

    installed = cfg.install(CHART, RELEASE, values, namespace=NS, timeout=60)
    assert (installed["status"], installed["revision"]) == ("deployed", 1)
    for obj in rendered:
        live = cluster.get(obj["apiVersion"], obj["kind"], NS, obj["metadata"]["name"])
        assert live is not None, obj["kind"] + "/" + obj["metadata"]["name"]
        assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    release = cluster.get("v1", "Secret", NS, f"sh.helm.release.v1.{RELEASE}.v1")
    assert release is not None and release["type"] == "helm.sh/release.v1"
    assert {k: release["metadata"]["labels"][k] for k in ("owner", "name", "status")} == {
        "owner": "helm",
        "name": RELEASE,
        "status": "deployed",
    }
    applies = [r for r in cluster.requests if r.content_type == "application/apply-patch+yaml"]
    assert len(applies) == len(rendered)
    assert {r.query["fieldValidation"] for r in applies} == {"Strict"}

    api_server = cluster.get("apps/v1", "Deployment", NS, "smartflow-api-server")
    assert api_server is not None
    generation, uid, tag = (
        api_server["metadata"]["generation"],
        api_server["metadata"]["uid"],
        values["image"]["tag"],
    )
    assert generation == 1 and image_of(api_server).endswith(f":{tag}")
    assert api_server["metadata"]["managedFields"][0]["operation"] == "Apply"
    assert api_server["spec"]["progressDeadlineSeconds"] == 600  # defaulted by the server
    assert api_server["spec"]["template"]["spec"]["schedulerName"] == "default-scheduler"

    upgraded = copy.deepcopy(values)
    upgraded["image"]["tag"] = "9.9.9"
    assert cfg.upgrade(CHART, RELEASE, upgraded, namespace=NS, timeout=60)["revision"] == 2
    api_server = cluster.get("apps/v1", "Deployment", NS, "smartflow-api-server")
    assert api_server is not None
    assert image_of(api_server).endswith(":9.9.9")
    assert (api_server["metadata"]["generation"], api_server["metadata"]["uid"]) == (
        generation + 1,
        uid,
    )
    assert cfg.get_values(RELEASE)["image"]["tag"] == "9.9.9"
    assert [r["name"] for r in cfg.list()] == [RELEASE]

    cfg.rollback(RELEASE, version=1, timeout=60)
    api_server = cluster.get("apps/v1", "Deployment", NS, "smartflow-api-server")
    assert api_server is not None
    assert image_of(api_server).endswith(f":{tag}")
    assert api_server["metadata"]["generation"] == generation + 2
    history = [(r["revision"], r["status"]) for r in cfg.history(RELEASE)]
    assert history == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert cfg.status(RELEASE)["revision"] == 3

    cfg.uninstall(RELEASE, timeout=60)
    for obj in rendered:
        assert cluster.get(obj["apiVersion"], obj["kind"], NS, obj["metadata"]["name"]) is None
    helm_secrets = [
        s for s in cluster.list("v1", "Secret", NS) if s["metadata"].get("labels", {}).get("owner")
    ]
    assert helm_secrets == []
    assert cluster.list("apps/v1", "ReplicaSet", NS) == []  # garbage-collected with their owners


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          {extra}
"""


@pytest.mark.parametrize(
    ("replicas", "extra", "error"),
    [
        (
            "2",
            "bogusField: true",
            '.spec.template.spec.containers[name="web"].bogusField: field not declared in schema',
        ),
        ('"two"', "", ".spec.replicas: expected numeric (int or float), got string"),
    ],
    ids=["unknown-field", "wrong-type"],
)
def test_helm_validation_through_the_server_rejects_invalid_manifests(
    cluster: FakeCluster, tmp_path: Path, replicas: str, extra: str, error: str
) -> None:
    chart = tmp_path / "bad"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bad\nversion: 0.1.0\n")
    (chart / "templates" / "web.yaml").write_text(DEPLOYMENT.format(replicas=replicas, extra=extra))
    with pytest.raises(helm.HelmError) as failed:
        helm_config(cluster, "default").install(chart, "bad", {}, namespace="default", timeout=30)
    assert error in str(failed.value)
    assert "failed to create typed patch object (default/web; apps/v1, Kind=Deployment)" in str(
        failed.value
    )
    assert cluster.get("apps/v1", "Deployment", "default", "web") is None


# --- CRUD and Status bodies ---------------------------------------------------------------------


def test_crud_semantics_and_status_bodies(cluster: FakeCluster, api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    apps: Any = client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": "team"}})
    assert {"default", "kube-root-ca.crt"} <= {
        *[s.metadata.name for s in core.list_namespaced_service_account("team").items],
        *[c.metadata.name for c in core.list_namespaced_config_map("team").items],
    }
    created = core.create_namespaced_config_map(
        "team", {"metadata": {"name": "settings"}, "data": {"mode": "a"}}
    )
    first_rv = int(created.metadata.resource_version)
    assert created.metadata.uid and created.metadata.creation_timestamp <= cluster.now
    assert created.metadata.generation is None  # core objects without spec track none

    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("absent", "team")
    assert status_of(missing.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "absent" not found',
        "reason": "NotFound",
        "details": {"name": "absent", "kind": "configmaps"},
        "code": 404,
    }
    with pytest.raises(ApiException) as missing_apps:
        apps.read_namespaced_deployment("absent", "team")
    assert status_of(missing_apps.value)["details"] == {
        "name": "absent",
        "group": "apps",
        "kind": "deployments",
    }
    assert status_of(missing_apps.value)["message"] == 'deployments.apps "absent" not found'

    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map("team", {"metadata": {"name": "settings"}})
    assert (exists.value.status, status_of(exists.value)["reason"]) == (409, "AlreadyExists")

    body = {
        "metadata": {"name": "settings", "resourceVersion": str(first_rv)},
        "data": {"mode": "b"},
    }
    replaced = core.replace_namespaced_config_map("settings", "team", body)
    assert int(replaced.metadata.resource_version) > first_rv
    assert replaced.metadata.uid == created.metadata.uid
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("settings", "team", body)
    assert status_of(stale.value)["reason"] == "Conflict"
    assert "the object has been modified" in status_of(stale.value)["message"]

    with pytest.raises(ApiException) as nameless:
        core.create_namespaced_config_map("team", {"metadata": {}})
    assert nameless.value.status == 422
    assert status_of(nameless.value)["details"]["causes"][0]["field"] == "metadata.name"
    generated = core.create_namespaced_config_map("team", {"metadata": {"generateName": "run-"}})
    assert generated.metadata.name.startswith("run-") and len(generated.metadata.name) == 9

    with pytest.raises(ApiException) as no_namespace:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    assert status_of(no_namespace.value)["message"] == 'namespaces "nowhere" not found'

    listing = json.loads(core.list_namespaced_config_map("team", _preload_content=False).data)
    assert (listing["kind"], listing["apiVersion"]) == ("ConfigMapList", "v1")
    assert int(listing["metadata"]["resourceVersion"]) >= int(replaced.metadata.resource_version)
    assert all("kind" not in item for item in listing["items"])  # as the real server lists

    deleted = json.loads(
        core.delete_namespaced_config_map("settings", "team", _preload_content=False).data
    )
    assert (deleted["kind"], deleted["status"], deleted["details"]["uid"]) == (
        "Status",
        "Success",
        created.metadata.uid,
    )


def test_selectors_and_paging(cluster: FakeCluster, api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "sel"}})
    for i in range(7):
        labels = {"tier": ["web", "db", "cache"][i % 3], "idx": str(i)}
        if i % 2:
            labels["odd"] = "yes"
        core.create_namespaced_config_map(
            "sel", {"metadata": {"name": f"cm-{i}", "labels": labels}}
        )

    def names(**params: Any) -> list[str]:
        return [c.metadata.name for c in core.list_namespaced_config_map("sel", **params).items]

    assert names(label_selector="tier=web") == ["cm-0", "cm-3", "cm-6"]
    assert names(label_selector="tier==db,odd") == ["cm-1"]
    assert names(label_selector="tier!=web,!odd") == ["cm-2", "cm-4", "kube-root-ca.crt"]
    assert names(label_selector="idx in (1, 5),tier notin (cache)") == ["cm-1"]
    assert names(field_selector="metadata.name=cm-4") == ["cm-4"]
    assert names(field_selector="metadata.name!=cm-4", label_selector="tier=db") == ["cm-1"]
    with pytest.raises(ApiException) as bad:
        names(field_selector="data.color=red")
    assert (bad.value.status, status_of(bad.value)["reason"]) == (400, "BadRequest")
    with pytest.raises(ApiException):
        names(label_selector="tier in (web")

    page = core.list_namespaced_config_map("sel", limit=3, label_selector="idx")
    seen = [c.metadata.name for c in page.items]
    while page.metadata._continue:
        page = core.list_namespaced_config_map(
            "sel", limit=3, label_selector="idx", _continue=page.metadata._continue
        )
        seen += [c.metadata.name for c in page.items]
    assert seen == [f"cm-{i}" for i in range(7)]
    first = core.list_namespaced_config_map("sel", limit=2)
    assert first.metadata.remaining_item_count == 6  # 7 + kube-root-ca.crt - 2

    with cluster.paused():
        for name, phase in (("a", "Running"), ("b", "Pending")):
            cluster.upsert(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": "sel"},
                    "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
                    "status": {"phase": phase},
                }
            )
        cluster.upsert(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "a.1", "namespace": "sel"},
                "involvedObject": {"kind": "Pod", "name": "a", "namespace": "sel"},
                "reason": "BackOff",
                "type": "Warning",
            }
        )
        running = core.list_namespaced_pod("sel", field_selector="status.phase=Running")
        assert [p.metadata.name for p in running.items] == ["a"]
        events = core.list_namespaced_event(
            "sel", field_selector="involvedObject.kind=Pod,involvedObject.name=a"
        )
        assert [e.reason for e in events.items] == ["BackOff"]


# --- subresources and patches -------------------------------------------------------------------


def _deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                        {"name": "sidecar", "image": "busybox:1.36"},
                    ]
                },
            },
        },
    }


def test_scale_and_status_subresources_and_generation(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    apps: Any = client.AppsV1Api(api)
    with cluster.paused():
        created = apps.create_namespaced_deployment("default", _deployment("web", 2))
        assert created.metadata.generation == 1
        assert created.spec.strategy.rolling_update.max_surge == "25%"  # server defaults
        assert created.spec.template.spec.containers[0].ports[0].protocol == "TCP"
        assert created.status is None or created.status.replicas is None

        scale = apps.read_namespaced_deployment_scale("web", "default")
        assert (scale.kind, scale.spec.replicas, scale.status.selector) == ("Scale", 2, "app=web")
        scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
        assert scaled.spec.replicas == 5
        after_scale = apps.read_namespaced_deployment("web", "default")
        assert (after_scale.spec.replicas, after_scale.metadata.generation) == (5, 2)
        scale = apps.read_namespaced_deployment_scale("web", "default")
        scale.spec.replicas = 3
        assert apps.replace_namespaced_deployment_scale("web", "default", scale).spec.replicas == 3

        status = {"status": {"observedGeneration": 3, "replicas": 3, "readyReplicas": 1}}
        written = apps.patch_namespaced_deployment_status("web", "default", status)
        assert (written.status.ready_replicas, written.metadata.generation) == (1, 3)
        # the main resource ignores status; the status subresource ignores the spec
        main = apps.read_namespaced_deployment("web", "default")
        main.status.ready_replicas = 99
        main.spec.replicas = 4
        replaced = apps.replace_namespaced_deployment("web", "default", main)
        assert (replaced.status.ready_replicas, replaced.spec.replicas) == (1, 4)
        assert replaced.metadata.generation == 4
        sneaky = {"spec": {"replicas": 9}, "status": {"readyReplicas": 2}}
        written = apps.patch_namespaced_deployment_status("web", "default", sneaky)
        assert (written.spec.replicas, written.status.ready_replicas) == (4, 2)
        labelled = apps.patch_namespaced_deployment(
            "web", "default", {"metadata": {"labels": {"x": "y"}}}
        )
        assert labelled.metadata.generation == 4  # metadata only: no new generation


def test_strategic_merge_json_patch_and_server_side_apply(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core: Any = client.CoreV1Api(api)
    apps: Any = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", _deployment("web"))
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}
    }
    merged = apps.patch_namespaced_deployment("web", "default", patch)  # strategic by default
    containers = [(c.name, c.image) for c in merged.spec.template.spec.containers]
    assert containers == [("web", "nginx:1.28"), ("sidecar", "busybox:1.36")]
    removal = {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}
    }
    trimmed = apps.patch_namespaced_deployment("web", "default", removal)
    assert [c.name for c in trimmed.spec.template.spec.containers] == ["web"]

    replaced = apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "other", "image": "x:1"}]}}}},
        _content_type="application/merge-patch+json",
    )
    assert [c.name for c in replaced.spec.template.spec.containers] == ["other"]  # lists replace

    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 2},
    ]
    assert apps.patch_namespaced_deployment("web", "default", ops).spec.replicas == 2
    with pytest.raises(ApiException) as failed_test:
        apps.patch_namespaced_deployment("web", "default", ops)
    assert failed_test.value.status == 422

    def apply(manager: str, labels: dict[str, str], data: dict[str, str]) -> Any:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "applied", "labels": labels},
            "data": data,
        }
        return core.patch_namespaced_config_map(
            "applied",
            "default",
            body,
            field_manager=manager,
            force=True,
            _content_type="application/apply-patch+yaml",
        )

    first = apply("tool", {"a": "1", "b": "2"}, {"x": "1", "y": "2"})
    assert first.metadata.labels == {"a": "1", "b": "2"}
    apply("other", {"c": "3"}, {})
    second = apply("tool", {"a": "1"}, {"x": "1"})
    assert second.metadata.labels == {"a": "1", "c": "3"}  # b was the tool's: gone; c stays
    assert second.data == {"x": "1"}
    managers = {(f.manager, f.operation) for f in second.metadata.managed_fields}
    assert {("tool", "Apply"), ("other", "Apply")} <= managers
    unchanged = apply("tool", {"a": "1"}, {"x": "1"})
    assert unchanged.metadata.resource_version == second.metadata.resource_version

    with pytest.raises(ApiException) as no_manager:
        core.patch_namespaced_config_map(
            "applied",
            "default",
            {"apiVersion": "v1", "kind": "ConfigMap"},
            _content_type="application/apply-patch+yaml",
        )
    assert no_manager.value.status == 422


# --- discovery, CRDs, garbage collection --------------------------------------------------------


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def test_discovery_openapi_and_crd_registration(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    assert raw(cluster, "/version", token=cluster.token)[1]["gitVersion"].startswith("v1.31.")
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {
        "apps",
        "networking.k8s.io",
        "policy",
        "autoscaling",
        "rbac.authorization.k8s.io",
    } <= groups
    assert "metrics.k8s.io" not in groups
    code, body = raw(cluster, "/apis/metrics.k8s.io/v1beta1/nodes", token=cluster.token)
    assert (code, body["reason"]) == (404, "NotFound")
    resources = {r.name for r in client.AppsV1Api(api).get_api_resources().resources}
    assert {"deployments", "deployments/scale", "statefulsets/status"} <= resources
    index = raw(cluster, "/openapi/v3", token=cluster.token)[1]["paths"]
    url = index["apis/apps/v1"]["serverRelativeURL"]
    document = raw(cluster, url, token=cluster.token)[1]
    deployment = document["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    patch_op = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch_op["parameters"]}

    extensions: Any = client.ApiextensionsV1Api(api)
    crd = extensions.create_custom_resource_definition(CRD)
    established = {c.type: c.status for c in crd.status.conditions}
    assert established == {"NamesAccepted": "True", "Established": "True"}
    assert "example.com" in {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert "apis/example.com/v1" in raw(cluster, "/openapi/v3", token=cluster.token)[1]["paths"]
    custom: Any = client.CustomObjectsApi(api)
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    created = custom.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", widget
    )
    assert created["metadata"]["generation"] == 1
    with pytest.raises(ApiException) as wrong:
        bad = {**widget, "metadata": {"name": "w2"}, "spec": {"size": "big"}}
        custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", bad)
    assert wrong.value.status == 400
    code, strict = raw(
        cluster,
        "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict",
        method="POST",
        token=cluster.token,
        body={**widget, "metadata": {"name": "w3"}, "spec": {"size": 1, "colour": "red"}},
    )
    assert code == 400 and 'unknown field "spec.colour"' in strict["message"]

    extensions.delete_custom_resource_definition("widgets.example.com")
    assert "example.com" not in {g.name for g in client.ApisApi(api).get_api_versions().groups}
    with pytest.raises(ApiException) as gone:
        custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert gone.value.status == 404


def test_owner_references_and_namespace_deletion_cascade(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core: Any = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "doomed"}})
    with cluster.paused():
        owner = core.create_namespaced_config_map("doomed", {"metadata": {"name": "owner"}})
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
        child = core.create_namespaced_config_map(
            "doomed", {"metadata": {"name": "child", "ownerReferences": [ref]}}
        )
        child_ref = {**ref, "name": "child", "uid": child.metadata.uid}
        core.create_namespaced_secret(
            "doomed", {"metadata": {"name": "grandchild", "ownerReferences": [child_ref]}}
        )
        orphan_owner = core.create_namespaced_config_map("doomed", {"metadata": {"name": "keeper"}})
        keep_ref = {**ref, "name": "keeper", "uid": orphan_owner.metadata.uid}
        core.create_namespaced_config_map(
            "doomed", {"metadata": {"name": "kept", "ownerReferences": [keep_ref]}}
        )

        core.delete_namespaced_config_map("owner", "doomed", propagation_policy="Foreground")
        assert cluster.get("v1", "ConfigMap", "doomed", "child") is None
        assert cluster.get("v1", "Secret", "doomed", "grandchild") is None
        core.delete_namespaced_config_map("keeper", "doomed", propagation_policy="Orphan")
        kept = cluster.get("v1", "ConfigMap", "doomed", "kept")
        assert kept is not None and "ownerReferences" not in kept["metadata"]

        held = {"name": "held", "finalizers": ["example.com/cleanup"]}
        core.create_namespaced_config_map("doomed", {"metadata": held})
        core.delete_namespaced_config_map("held", "doomed")
        pending = core.read_namespaced_config_map("held", "doomed")  # waits for its finalizer
        assert pending.metadata.deletion_timestamp is not None
        core.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})
        assert cluster.get("v1", "ConfigMap", "doomed", "held") is None

        cluster.apply({**_deployment("web"), "metadata": {"name": "web", "namespace": "doomed"}})
        answer = json.loads(core.delete_namespace("doomed", _preload_content=False).data)
        assert (answer["kind"], answer["status"]["phase"]) == ("Namespace", "Terminating")
    assert cluster.get("v1", "Namespace", "", "doomed") is None
    assert cluster.list("v1", "ConfigMap", "doomed") == []
    assert cluster.list("apps/v1", "Deployment", "doomed") == []


# --- auth, injected failures, watch -------------------------------------------------------------


def test_tokens_are_required_and_failures_can_be_injected(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    for token in (None, "wrong"):
        code, body = raw(cluster, "/api/v1/namespaces", token=token)
        assert (code, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
    core: Any = client.CoreV1Api(api)
    cluster.fail(
        "GET",
        r"/api/v1/namespaces/default/pods$",
        403,
        'pods is forbidden: User "ci" cannot list resource "pods"',
    )
    with pytest.raises(ApiException) as forbidden:
        core.list_namespaced_pod("default")
    assert (forbidden.value.status, status_of(forbidden.value)["reason"]) == (403, "Forbidden")
    assert core.list_namespaced_pod("default").items == []  # once only
    assert cluster.requests[-1][:2] == ("GET", "/api/v1/namespaces/default/pods")


def test_watch_replays_and_streams_events(cluster: FakeCluster, api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "w", "labels": {"watched": "yes"}}}
    )
    core.patch_namespaced_config_map("w", "default", {"data": {"k": "v"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    seen: list[tuple[str, str]] = []
    watcher: Any = watch.Watch()  # type: ignore[no-untyped-call]
    for event in watcher.stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="watched=yes",
        resource_version=start,
        timeout_seconds=30,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:  # the replayed events are in: now one that happens live
            core.delete_namespaced_config_map("w", "default")
        if len(seen) == 3:
            watcher.stop()
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    code, expired = raw(
        cluster,
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc",
        token=cluster.token,
    )
    assert code == 400 and expired["reason"] == "BadRequest"


# --- pods: logs and exec ------------------------------------------------------------------------


def _pod(
    name: str, *, running: bool = True, containers: tuple[str, ...] = ("gateway",)
) -> dict[str, Any]:
    state: dict[str, Any] = (
        {"running": {"startedAt": "2026-01-12T09:00:00Z"}}
        if running
        else {"waiting": {"reason": "ImagePullBackOff"}}
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": "ip-10-0-1-11.eu-west-1.compute.internal",
            "containers": [
                {"name": c, "image": f"registry.example.com/{c}:1.2.0"} for c in containers
            ],
        },
        "status": {
            "phase": "Running" if running else "Pending",
            "containerStatuses": [
                {
                    "name": c,
                    "ready": running,
                    "restartCount": 0,
                    "image": "x",
                    "imageID": "",
                    "state": state,
                }
                for c in containers
            ],
        },
    }


def test_pod_logs(cluster: FakeCluster, api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    asked: list[tuple[str, str, bool]] = []

    def lines(pod: dict[str, Any], container: str, previous: bool) -> list[str]:
        asked.append((pod["metadata"]["name"], container, previous))
        return ["starting", "listening on :7775", "ready"]

    cluster.log_source = lines
    with cluster.paused():
        cluster.upsert(_pod("gw"))
        cluster.upsert(_pod("two", containers=("gateway", "proxy")))
        cluster.upsert(_pod("stuck", running=False))
        assert (
            core.read_namespaced_pod_log("gw", "default") == "starting\nlistening on :7775\nready\n"
        )
        assert core.read_namespaced_pod_log("gw", "default", tail_lines=1) == "ready\n"
        assert core.read_namespaced_pod_log("two", "default", container="proxy").startswith(
            "starting"
        )
        with pytest.raises(ApiException) as ambiguous:
            core.read_namespaced_pod_log("two", "default")
        assert (
            "a container name must be specified for pod two"
            in status_of(ambiguous.value)["message"]
        )
        with pytest.raises(ApiException) as waiting:
            core.read_namespaced_pod_log("stuck", "default")
        assert status_of(waiting.value)["message"] == (
            'container "gateway" in pod "stuck" is waiting to start: trying and failing to pull image'
        )
        with pytest.raises(ApiException) as previous:
            core.read_namespaced_pod_log("gw", "default", previous=True)
        assert previous.value.status == 400
    assert asked == [("gw", "gateway", False), ("gw", "gateway", False), ("two", "proxy", False)]


def test_exec_over_websocket(cluster: FakeCluster, api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    calls: list[tuple[str, str, list[str]]] = []

    def run(pod: dict[str, Any], container: str, command: list[str]) -> tuple[int, str, str]:
        calls.append((pod["metadata"]["name"], container, command))
        if command[-1] == "--json":
            return 0, '{"version": "1.2.0", "commit": "abc1234"}\n', ""
        return 2, "", "smartflow-gateway: error: unrecognized arguments\n"

    cluster.exec_handler = run
    with cluster.paused():
        cluster.upsert(_pod("gw"))
        cluster.upsert(_pod("stuck", running=False))
        version = ["smartflow-gateway", "--version", "--json"]
        out = stream(
            core.connect_get_namespaced_pod_exec,
            "gw",
            "default",
            command=version,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
        assert json.loads(out) == {"version": "1.2.0", "commit": "abc1234"}
        session = stream(
            core.connect_get_namespaced_pod_exec,
            "gw",
            "default",
            command=["smartflow-gateway", "--bogus"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        session.run_forever(timeout=30)
        assert (session.returncode, session.read_stderr()) == (
            2,
            "smartflow-gateway: error: unrecognized arguments\n",
        )
        assert session.subprotocol == "v5.channel.k8s.io"
        for pod, status, message in (
            ("absent", "404 Not Found", 'pods \\"absent\\" not found'),
            ("stuck", "400 Bad Request", 'container not found (\\"gateway\\")'),
        ):
            with pytest.raises(ApiException) as refused:
                stream(
                    core.connect_get_namespaced_pod_exec,
                    pod,
                    "default",
                    command=version,
                    stderr=True,
                    stdin=False,
                    stdout=True,
                    tty=False,
                )
            assert status in str(refused.value) and message in str(refused.value)
    assert calls == [
        ("gw", "gateway", version),
        ("gw", "gateway", ["smartflow-gateway", "--bogus"]),
    ]


def test_clock_nodes_and_kubeconfig(cluster: FakeCluster) -> None:
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    assert kubeconfig["current-context"] == cluster.context == "fake"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == cluster.url
    assert cluster.url.startswith("https://127.0.0.1:")
    nodes = cluster.list("v1", "Node")
    assert len(nodes) == 3
    assert all(
        n["metadata"]["labels"]["kubernetes.io/hostname"] == n["metadata"]["name"] for n in nodes
    )
    ready = [c for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready"]
    assert [c["status"] for c in ready] == ["True"] * 3
    with cluster.paused():
        before = cluster.now
        cluster.tick(3)
        assert (cluster.now - before).total_seconds() == 15
        created = cluster.apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t"}}
        )
        assert datetime.fromisoformat(created["metadata"]["creationTimestamp"]) == cluster.now
    assert len(cluster.nodes(count=1, cpu="2", memory="4Gi")) == 1
