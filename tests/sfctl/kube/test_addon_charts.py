"""The add-on charts `sfctl deploy k8s` installs, through the real Helm engine: pulled by name and
pinned version from a chart repository on loopback (stand-ins for jetstack/cert-manager v1.19.4
and ingress-nginx 4.14.1), rendered with the values sfctl renders, and checked against the
official Kubernetes schemas (strict) and the settings the guide asks for."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate import utils as kv

from sfctl.render.kube_addons import (
    CERT_MANAGER_VERSION,
    INGRESS_NGINX_VERSION,
    render_cert_manager,
    render_ingress_nginx,
)
from sfctl.spec import Spec

from support.helm_chart import validate_strict
from support.kube_charts import (
    CERT_MANAGER,
    CERT_MANAGER_IMAGES,
    CHARTS,
    INGRESS_NGINX,
    INGRESS_NGINX_IMAGES,
    AddonChart,
    ChartRepoURL,
    chart_archives,
    chart_repo,
)
from support.sfctl_render import custom_spec, default_spec

#: Helm's own manifest splitter (pkg/release/util/manifest.go): a separator may run straight
#: into the next line's text, as in cert-manager's rbac.yaml ("---# Permission to ...")
_HELM_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")
#: kinds defined by CRDs, which the official schemas do not cover
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
SPECS = {"default": default_spec, "custom": custom_spec}


@pytest.fixture(scope="module", autouse=True)
def _schemas_read_once() -> Iterator[None]:
    """kubernetes-validate re-reads its JSON schemas (megabytes) for every object; the files
    never change, so read each once (about 10x faster, the checks are the same)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kv, "schema_contents", functools.cache(kv.schema_contents))
        yield


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepoURL]:
    with chart_repo(tmp_path_factory.mktemp("repo")) as url:
        yield url


def _pull(repo: ChartRepoURL, chart: AddonChart, dest: Path) -> Path:
    """`helm pull NAME --repo URL --version V`, as sfctl does; returns the archive."""
    dest.mkdir(parents=True, exist_ok=True)
    helm.pull(chart.name, repo_url=repo, version=chart.version, destination=dest)
    (archive,) = dest.iterdir()
    return archive


def _render(archive: Path, values: dict[str, Any], release: str) -> dict[str, str]:
    with helm.Chart.load(archive) as loaded:
        return loaded.render(values, name=release, namespace=release, is_install=True)


def _objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every object Helm would send (hooks included), split the way Helm splits."""
    found = []
    for source in sorted(rendered):
        if source.endswith(".yaml"):
            for chunk in _HELM_SEPARATOR.split(rendered[source]):
                obj = yaml.load(chunk, Loader=yaml.CSafeLoader)
                if obj:
                    found.append(obj)
    return found


def _by(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def _hook(obj: dict[str, Any]) -> str | None:
    annotations = obj["metadata"].get("annotations") or {}
    hook: str | None = annotations.get("helm.sh/hook")
    return hook


def _values(render: Callable[[Spec, Path], list[Path]], spec: Spec, out: Path) -> dict[str, Any]:
    render(spec, out)
    values: dict[str, Any] = yaml.safe_load((out / "values.yaml").read_text())
    return values


def _schema_errors(objs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for obj in objs:
        if (obj["apiVersion"], obj["kind"]) not in CRD_KINDS:
            errors += validate_strict(obj)
    return errors


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_stand_ins_are_the_versions_sfctl_pins() -> None:
    assert CERT_MANAGER.version == CERT_MANAGER_VERSION
    assert INGRESS_NGINX.version == INGRESS_NGINX_VERSION
    for chart in CHARTS:
        with helm.Chart.load(chart.source) as loaded:
            meta = loaded.metadata
        assert (meta["name"], meta["version"], meta["appVersion"]) == (
            chart.name,
            chart.version,
            chart.app_version,
        )


def test_the_repository_indexes_both_charts_like_the_real_ones(repo: ChartRepoURL) -> None:
    index = helm.repo_index(repo)
    entries = index["entries"]
    assert {name: sorted(e["version"] for e in entries[name]) for name in entries} == {
        "cert-manager": ["v1.19.4", "v1.20.3"],
        "ingress-nginx": ["4.14.1", "4.15.1"],
    }
    pinned = {
        e["name"]: e
        for name in entries
        for e in entries[name]
        if e["version"] in {CERT_MANAGER.version, INGRESS_NGINX.version}
    }
    # archive URLs relative to the repository, as jetstack's index has them
    assert pinned["cert-manager"]["urls"] == ["charts/cert-manager-v1.19.4.tgz"]
    assert pinned["ingress-nginx"]["urls"] == ["charts/ingress-nginx-4.14.1.tgz"]
    assert "/index.yaml" in repo.requests


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_helm_pulls_the_pinned_version_by_name(
    repo: ChartRepoURL, tmp_path: Path, chart: AddonChart
) -> None:
    before = len(repo.requests)
    archive = _pull(repo, chart, tmp_path)
    # the index first, then the archive the index points at: the newer release is not fetched
    assert repo.requests[before:] == ["/index.yaml", f"/charts/{chart.archive_name}"]
    assert archive.name == chart.archive_name
    index = helm.repo_index(repo)
    (entry,) = [e for e in index["entries"][chart.name] if e["version"] == chart.version]
    assert helm.digest(archive) == f"sha256:{entry['digest']}"
    with helm.Chart.load(archive) as loaded:
        assert (loaded.name, loaded.version) == (chart.name, chart.version)


def test_an_unpinned_pull_would_get_the_newer_release(repo: ChartRepoURL, tmp_path: Path) -> None:
    helm.pull("ingress-nginx", repo_url=repo, destination=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["ingress-nginx-4.15.1.tgz"]


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("cert-manager", "v1.19.99", 'chart "cert-manager" version "v1.19.99" not found in'),
        ("ingress-nginx", "4.14.99", 'chart "ingress-nginx" version "4.14.99" not found in'),
        ("ingress-nginx-typo", "4.14.1", 'chart "ingress-nginx-typo" version "4.14.1" not found'),
    ],
)
def test_a_version_the_repository_lacks_fails_with_helms_error(
    repo: ChartRepoURL, tmp_path: Path, name: str, version: str, message: str
) -> None:
    before = len(repo.requests)
    with pytest.raises(helm.HelmRepoError) as err:
        helm.pull(name, repo_url=repo, version=version, destination=tmp_path)
    assert message in str(err.value)
    assert f"{repo} repository" in str(err.value)
    assert repo.requests[before:] == ["/index.yaml"]
    assert list(tmp_path.iterdir()) == []


def test_chart_archives_for_air_gapped_installs_match_the_repository(
    repo: ChartRepoURL, tmp_path: Path
) -> None:
    archives = chart_archives(tmp_path / "offline")
    assert {name: path.name for name, path in archives.items()} == {
        "cert-manager": "cert-manager-v1.19.4.tgz",
        "ingress-nginx": "ingress-nginx-4.14.1.tgz",
    }
    index = helm.repo_index(repo)["entries"]
    for chart in CHARTS:
        (entry,) = [e for e in index[chart.name] if e["version"] == chart.version]
        # byte-identical to what the repository serves
        assert helm.digest(archives[chart.name]) == f"sha256:{entry['digest']}"


@pytest.fixture(scope="module")
def cert_manager_archive(repo: ChartRepoURL, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pull(repo, CERT_MANAGER, tmp_path_factory.mktemp("cert-manager"))


@pytest.fixture(scope="module")
def ingress_nginx_archive(repo: ChartRepoURL, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pull(repo, INGRESS_NGINX, tmp_path_factory.mktemp("ingress-nginx"))


@pytest.mark.parametrize("which", SPECS)
def test_cert_manager_with_our_values(
    cert_manager_archive: Path, tmp_path: Path, which: str
) -> None:
    values = _values(render_cert_manager, SPECS[which](), tmp_path)
    rendered = _render(cert_manager_archive, values, "cert-manager")
    objs = _objects(rendered)
    assert _schema_errors(objs) == []

    # every admission webhook answers within 29 s (DigitalOcean's node upgrades need <= 29)
    configs = [*_by(objs, "ValidatingWebhookConfiguration").values()]
    configs += _by(objs, "MutatingWebhookConfiguration").values()
    assert [c["metadata"]["name"] for c in configs] == ["cert-manager-webhook"] * 2
    assert [w["timeoutSeconds"] for c in configs for w in c["webhooks"]] == [29, 29]

    crds = _by(objs, "CustomResourceDefinition")
    assert sorted(crds) == [
        "certificaterequests.cert-manager.io",
        "certificates.cert-manager.io",
        "challenges.acme.cert-manager.io",
        "clusterissuers.cert-manager.io",
        "issuers.cert-manager.io",
        "orders.acme.cert-manager.io",
    ]
    for crd in crds.values():
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}

    deployments = _by(objs, "Deployment")
    assert sorted(deployments) == [
        "cert-manager",
        "cert-manager-cainjector",
        "cert-manager-webhook",
    ]
    for component, name in [
        ("controller", "cert-manager"),
        ("cainjector", "cert-manager-cainjector"),
        ("webhook", "cert-manager-webhook"),
    ]:
        deployment = deployments[name]
        assert deployment["metadata"]["namespace"] == "cert-manager"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == component
        assert labels["app.kubernetes.io/instance"] == "cert-manager"
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        container = _container(deployment)
        assert container["image"] == CERT_MANAGER_IMAGES[component]
        wanted = (
            values["resources"] if component == "controller" else values[component]["resources"]
        )
        assert container["resources"] == wanted

    webhook = _container(deployments["cert-manager-webhook"])
    ports = {p["name"]: p["containerPort"] for p in webhook["ports"]}
    probe = webhook["readinessProbe"]["httpGet"]
    assert (probe["path"], ports[probe["port"]]) == ("/healthz", 6080)
    service = _by(objs, "Service")["cert-manager-webhook"]
    (https,) = [p for p in service["spec"]["ports"] if p["name"] == "https"]
    assert (https["port"], ports[https["targetPort"]]) == (443, 10250)

    # the startup check is a post-install hook (sfctl may switch it off and wait itself)
    jobs = _by(objs, "Job")
    if values.get("startupapicheck", {}).get("enabled", True):
        assert _hook(jobs["cert-manager-startupapicheck"]) == "post-install"
    else:
        assert jobs == {}
    monitors = _by(objs, "ServiceMonitor")
    assert bool(monitors) == SPECS[which]().kubernetes.service_monitor


def test_cert_manager_defaults_and_switches(cert_manager_archive: Path) -> None:
    objs = _objects(_render(cert_manager_archive, {}, "cert-manager"))
    # the chart's defaults: no CRDs, the maximum webhook timeout, the startup check hook
    assert _by(objs, "CustomResourceDefinition") == {}
    config = _by(objs, "ValidatingWebhookConfiguration")["cert-manager-webhook"]
    assert [w["timeoutSeconds"] for w in config["webhooks"]] == [30]
    (job,) = _by(objs, "Job").values()
    assert _container(job)["image"] == CERT_MANAGER_IMAGES["startupapicheck"]
    assert {_hook(o) for o in objs if o["metadata"]["name"].endswith("startupapicheck")} == {
        "post-install"
    }

    off = _objects(
        _render(
            cert_manager_archive,
            {"startupapicheck": {"enabled": False}, "crds": {"enabled": True, "keep": False}},
            "cert-manager",
        )
    )
    assert [o for o in off if _hook(o)] == []
    for crd in _by(off, "CustomResourceDefinition").values():
        assert "annotations" not in crd["metadata"]

    # leader election happens where the values say (kube-system is off limits on Autopilot)
    moved = _objects(
        _render(
            cert_manager_archive,
            {"global": {"leaderElection": {"namespace": "cert-manager"}}},
            "cert-manager",
        )
    )
    roles = _by(moved, "Role")
    assert roles["cert-manager:leaderelection"]["metadata"]["namespace"] == "cert-manager"
    args = _container(_by(moved, "Deployment")["cert-manager"])["args"]
    assert "--leader-election-namespace=cert-manager" in args


def test_cert_manager_keeps_the_real_charts_quirks(cert_manager_archive: Path) -> None:
    rendered = _render(cert_manager_archive, {}, "cert-manager")
    rbac = rendered["cert-manager/templates/rbac.yaml"]
    # a document separator glued to a comment: only a Helm-style split finds the role after it
    assert "\n---# Permission to approve" in rbac
    assert "cert-manager-controller-approve:cert-manager-io" in _by(
        _objects(rendered), "ClusterRole"
    )
    # a line-anchored split leaves two YAML documents in one chunk
    with pytest.raises(yaml.YAMLError, match="could not find expected ':'"):
        for chunk in re.split(r"^---[ \t]*$", rbac, flags=re.MULTILINE):
            yaml.safe_load(chunk)
    assert rendered["cert-manager/templates/NOTES.txt"].startswith("cert-manager v1.19.4")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # a misspelt key: the chart's values.schema.json rejects it, as the real one does
        ({"webhook": {"timeoutSecond": 29}}, "additional properties 'timeoutSecond' not allowed"),
        ({"crds": {"enable": True}}, "additional properties 'enable' not allowed"),
        ({"webhook": {"timeoutSeconds": "29"}}, "timeoutSeconds"),
    ],
)
def test_cert_manager_rejects_values_the_real_chart_rejects(
    cert_manager_archive: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as err:
        _render(cert_manager_archive, values, "cert-manager")
    assert message in str(err.value)


def test_cert_manager_refuses_both_crd_switches(cert_manager_archive: Path) -> None:
    with pytest.raises(helm.HelmError) as err:
        _render(cert_manager_archive, {"installCRDs": True, "crds": {"enabled": True}}, "cm")
    assert "the deprecated .installCRDs option cannot be enabled" in str(err.value)


@pytest.mark.parametrize("which", SPECS)
def test_our_cluster_issuer_fits_the_charts_crd(
    cert_manager_archive: Path, tmp_path: Path, which: str
) -> None:
    spec = SPECS[which]()
    values = _values(render_cert_manager, spec, tmp_path)
    crd = _by(
        _objects(_render(cert_manager_archive, values, "cert-manager")), "CustomResourceDefinition"
    )["clusterissuers.cert-manager.io"]
    assert crd["spec"]["scope"] == "Cluster"
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    issuer = yaml.safe_load((tmp_path / "cluster-issuer.yaml").read_text())
    assert issuer["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
    assert issuer["kind"] == crd["spec"]["names"]["kind"]
    jsonschema.validate(issuer, schema)
    broken = {**issuer, "spec": {"acme": {**issuer["spec"]["acme"]}}}
    del broken["spec"]["acme"]["server"]
    with pytest.raises(jsonschema.ValidationError, match="'server' is a required property"):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("which", SPECS)
def test_ingress_nginx_with_our_values(
    ingress_nginx_archive: Path, tmp_path: Path, which: str
) -> None:
    spec = SPECS[which]()
    values = _values(render_ingress_nginx, spec, tmp_path)
    rendered = _render(ingress_nginx_archive, values, "ingress-nginx")
    objs = _objects(rendered)
    assert _schema_errors(objs) == []
    ingress = spec.kubernetes.ingress

    (webhook_config,) = _by(objs, "ValidatingWebhookConfiguration").values()
    assert webhook_config["metadata"]["name"] == "ingress-nginx-admission"
    assert [w["timeoutSeconds"] for w in webhook_config["webhooks"]] == [10]

    config = _by(objs, "ConfigMap")["ingress-nginx-controller"]["data"]
    assert config["proxy-buffering"] == "off"
    assert config["proxy-request-buffering"] == "off"
    assert config["proxy-body-size"] == ingress.body_size
    assert config["proxy-read-timeout"] == str(ingress.timeout_secs)
    assert "allow-snippet-annotations" not in config

    deployment = _by(objs, "Deployment")["ingress-nginx-controller"]
    assert deployment["spec"]["replicas"] == 2
    container = _container(deployment)
    assert container["image"] == INGRESS_NGINX_IMAGES["controller"]
    assert f"--ingress-class={ingress.class_name}" in container["args"]
    assert "--configmap=$(POD_NAMESPACE)/ingress-nginx-controller" in container["args"]
    probe = container["readinessProbe"]["httpGet"]
    assert (probe["path"], probe["port"]) == ("/healthz", 10254)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["dnsConfig"] == {
        "options": [{"name": "ndots", "value": str(spec.kubernetes.dns_ndots)}]
    }
    assert container["resources"] == values["controller"]["resources"]

    service = _by(objs, "Service")["ingress-nginx-controller"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == spec.kubernetes.external_traffic_policy
    (ingress_class,) = _by(objs, "IngressClass").values()
    assert ingress_class["metadata"]["name"] == ingress.class_name
    assert ingress_class["spec"] == {"controller": "k8s.io/ingress-nginx"}
    (pdb,) = _by(objs, "PodDisruptionBudget").values()
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )

    jobs = _by(objs, "Job")
    assert {name: _hook(job) for name, job in jobs.items()} == {
        "ingress-nginx-admission-create": "pre-install,pre-upgrade",
        "ingress-nginx-admission-patch": "post-install,post-upgrade",
    }
    for job in jobs.values():
        assert _container(job)["image"] == INGRESS_NGINX_IMAGES["kube-webhook-certgen"]
    assert bool(_by(objs, "ServiceMonitor")) == spec.kubernetes.service_monitor


def test_ingress_nginx_defaults(ingress_nginx_archive: Path) -> None:
    objs = _objects(_render(ingress_nginx_archive, {}, "ingress-nginx"))
    # one replica: no PodDisruptionBudget; no timeout set: the API server's default applies
    assert _by(objs, "PodDisruptionBudget") == {}
    (webhook_config,) = _by(objs, "ValidatingWebhookConfiguration").values()
    assert "timeoutSeconds" not in webhook_config["webhooks"][0]
    assert _by(objs, "ConfigMap")["ingress-nginx-controller"]["data"] is None
    # the real chart's `annotations:` left empty (null), not absent
    service = _by(objs, "Service")["ingress-nginx-controller"]
    assert service["metadata"]["annotations"] is None
    assert "externalTrafficPolicy" not in service["spec"]
    assert _by(objs, "IngressClass")["nginx"]["spec"]["controller"] == "k8s.io/ingress-nginx"
