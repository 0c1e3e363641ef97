"""The pure parts of `sfctl ... k8s`: the values an upgrade or a scale runs with, the add-ons a
spec needs and where their charts come from, the Secret made from .env, and the dry run's
object diff."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sfctl.errors import SfctlError, UsageError
from sfctl.kube.addons import addons
from sfctl.kube.env_secret import DATA_DIGEST, read_env_file, release_secrets
from sfctl.kube.manifest_diff import diff_manifests
from sfctl.kube.scale import scaled_values
from sfctl.kube.upgrade_values import merged_values
from sfctl.spec import parse_spec

BASE = "domain: gw.example.com\nacme_email: ops@example.com\n"
INSTALLED = {
    "image": {"repository": "registry.example.com/smartflow/gateway", "tag": "1.2.0"},
    "proxy": {"replicas": 2, "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 8}},
    "apiServer": {"replicas": 2},
}


# --- upgrade values ---------------------------------------------------------------------------


def test_upgrade_keeps_the_installed_values_and_changes_only_what_is_asked() -> None:
    values = merged_values(
        INSTALLED, "1.3.0", ["apiServer.replicas=3,config.mcpGatewayEnabled=true"]
    )
    assert values["image"] == {
        "repository": "registry.example.com/smartflow/gateway",
        "tag": "1.3.0",
    }
    assert values["apiServer"] == {"replicas": 3}
    assert values["config"] == {"mcpGatewayEnabled": True}
    assert values["proxy"] == INSTALLED["proxy"]
    assert INSTALLED["image"]["tag"] == "1.2.0"  # the installed values are not mutated


@pytest.mark.parametrize("tag", ["", "1.3 .0", "registry/gw:1.3", "gw@sha256:abc"])
def test_an_image_tag_that_is_a_reference_is_refused(tag: str) -> None:
    with pytest.raises(UsageError, match="--image-tag"):
        merged_values(INSTALLED, tag, [])


@pytest.mark.parametrize("expression", ["replicas", "a.b[=1"])
def test_a_malformed_set_is_a_usage_error(expression: str) -> None:
    with pytest.raises(UsageError, match="--set"):
        merged_values(INSTALLED, None, [expression])


# --- scale ------------------------------------------------------------------------------------


def test_scale_sets_the_hpa_bounds_and_keeps_the_rest() -> None:
    values = scaled_values(INSTALLED, "proxy", None, 3, None)
    assert values["proxy"]["autoscaling"] == {"enabled": True, "minReplicas": 3, "maxReplicas": 8}
    assert values["image"] == INSTALLED["image"]


def test_scale_refuses_fixed_replicas_on_the_autoscaled_proxy() -> None:
    with pytest.raises(UsageError, match="--min/--max"):
        scaled_values(INSTALLED, "proxy", 4, None, None)


def test_scale_sets_replicas_of_a_service_without_hpa() -> None:
    assert scaled_values(INSTALLED, "apiServer", 4, None, None)["apiServer"] == {"replicas": 4}


@pytest.mark.parametrize(
    ("key", "replicas", "low", "high", "message"),
    [
        ("proxy", None, 9, None, "below"),
        ("apiServer", None, 1, 2, "only the proxy"),
        ("proxy", 3, 1, 2, "choose one"),
    ],
)
def test_scale_refuses_bounds_that_cannot_work(
    key: str, replicas: int | None, low: int | None, high: int | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        scaled_values(INSTALLED, key, replicas, low, high)


# --- add-ons ----------------------------------------------------------------------------------


def test_the_addons_carry_the_guides_values_and_pinned_versions() -> None:
    cert_manager, ingress = addons(parse_spec(BASE))
    assert (cert_manager.chart, cert_manager.version) == ("cert-manager", "v1.19.4")
    assert cert_manager.repo_url == "https://charts.jetstack.io"
    assert cert_manager.values["webhook"]["timeoutSeconds"] == 29
    assert cert_manager.values["crds"] == {"enabled": True}
    assert cert_manager.values["startupapicheck"] == {"enabled": False}
    assert (ingress.chart, ingress.version) == ("ingress-nginx", "4.14.1")
    assert ingress.values["controller"]["config"]["proxy-buffering"] == "off"


def test_addons_the_cluster_already_has_are_skipped_and_a_mirror_is_used() -> None:
    spec = parse_spec(
        BASE + "kubernetes:\n  cert_manager: {install: false}\n"
        "  ingress_nginx: {chart_repo: 'https://charts.internal.example/ingress'}\n"
    )
    [ingress] = addons(spec)
    assert ingress.repo_url == "https://charts.internal.example/ingress"


def test_no_tls_means_no_cert_manager() -> None:
    assert [a.chart for a in addons(parse_spec(BASE + "tls: {enabled: false}\n"))] == [
        "ingress-nginx"
    ]


def test_another_ingress_class_needs_its_own_controller() -> None:
    spec = parse_spec(BASE + "kubernetes:\n  ingress: {class_name: traefik}\n")
    with pytest.raises(UsageError, match=r"ingress_nginx\.install: false"):
        addons(spec)


def test_charts_from_a_folder_never_fall_back_to_the_internet(tmp_path: Path) -> None:
    cert_manager = addons(parse_spec(BASE))[0]
    with pytest.raises(SfctlError, match=r"no cert-manager-v1\.19\.4\.tgz there"):
        cert_manager.source(tmp_path)
    (tmp_path / "cert-manager-v1.19.4.tgz").write_bytes(b"archive")
    chart, repo, version = cert_manager.source(tmp_path)
    assert (chart, repo, version) == ((tmp_path / "cert-manager-v1.19.4.tgz").resolve(), None, None)


# --- the Secret from .env ---------------------------------------------------------------------

ENV = (
    "# written by sfctl init\n"
    "ADMIN_API_KEY=sk-admin-0123456789\n"
    "REDIS_PASSWORD='r3d1s'\n"
    'POSTGRES_PASSWORD="pg pass"\n'
    "\n"
    "OPENAI_API_KEY=sk-proj-abc\n"
)


def test_the_secret_holds_exactly_the_keys_the_spec_reads(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(ENV + "UNRELATED=1\n")
    spec = parse_spec(
        BASE + "providers:\n  - {name: openai, type: openai, api_key_env: OPENAI_API_KEY}\n"
    )
    [secret] = release_secrets(spec, env)
    assert secret["metadata"]["name"] == "smartflow-secrets"
    assert secret["metadata"]["namespace"] == "smartflow"
    assert secret["stringData"] == {
        "ADMIN_API_KEY": "sk-admin-0123456789",
        "REDIS_PASSWORD": "r3d1s",
        "POSTGRES_PASSWORD": "pg pass",
        "OPENAI_API_KEY": "sk-proj-abc",
    }
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == "smartflow"
    digest = secret["metadata"]["annotations"][DATA_DIGEST]
    assert len(digest) == 64 and "sk-admin" not in digest


def test_a_missing_key_names_every_missing_one_and_no_value(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("ADMIN_API_KEY=sk-admin-0123456789\n")
    with pytest.raises(SfctlError) as caught:
        release_secrets(parse_spec(BASE), env)
    assert "REDIS_PASSWORD, POSTGRES_PASSWORD" in str(caught.value)
    assert "sk-admin" not in str(caught.value)


def test_a_malformed_line_is_named_by_number_never_shown(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("ADMIN_API_KEY=ok\nsk-live-secret-without-a-key\n")
    with pytest.raises(SfctlError, match=r"\.env:2: not a KEY=VALUE line") as caught:
        read_env_file(env)
    assert "sk-live" not in str(caught.value)


def test_an_existing_secret_is_left_alone(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(ENV)
    spec = parse_spec(BASE + "kubernetes: {existing_secret: vault-synced}\n")
    assert release_secrets(spec, env) == []


# --- the dry run's diff -----------------------------------------------------------------------

INSTALLED_MANIFEST = """\
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: smartflow-proxy, namespace: smartflow}
spec:
  replicas: 2
  template: {spec: {containers: [{name: gateway, image: "gw:1.2.0"}]}}
---
apiVersion: v1
kind: Secret
metadata: {name: smartflow-dev}
data: {ADMIN_API_KEY: c2stb2xk}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: smartflow-old}
"""


def test_the_diff_names_creates_updates_and_deletes_and_never_a_secret_value() -> None:
    proposed = yaml.safe_dump_all(
        [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "smartflow-proxy", "namespace": "smartflow"},
                "spec": {
                    "replicas": 2,
                    "template": {"spec": {"containers": [{"name": "gateway", "image": "gw:1.3.0"}]}},
                },
            },
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "smartflow-dev"},
             "data": {"ADMIN_API_KEY": "c2stbmV3"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "smartflow-proxy"}},
        ]
    )  # fmt: skip
    changes = diff_manifests(INSTALLED_MANIFEST, proposed, "smartflow")
    summary = [(c.change, c.title) for c in changes]
    assert summary == [
        ("delete", "ConfigMap smartflow/smartflow-old"),
        ("update", "Deployment smartflow/smartflow-proxy"),
        ("update", "Secret smartflow/smartflow-dev"),
        ("create", "Service smartflow/smartflow-proxy"),
    ]
    deployment = changes[1].diff
    assert "-      - image: gw:1.2.0" in deployment
    assert "+      - image: gw:1.3.0" in deployment
    secret_diff = "\n".join(changes[2].diff)
    assert "c2stb2xk" not in secret_diff and "c2stbmV3" not in secret_diff
    assert "sha256:" in secret_diff


def test_the_same_manifest_is_no_change() -> None:
    assert diff_manifests(INSTALLED_MANIFEST, INSTALLED_MANIFEST) == []


def test_a_cluster_lost_mid_wait_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """The rollout wait reads through the same API layer as the doctor; a server that stops
    answering must not surface as an internal error."""
    from sfctl.kube.api import api_client
    from sfctl.kube.cluster_read import ClusterReader

    from support.procs import free_port

    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    api = api_client(config, None)
    try:
        with pytest.raises(SfctlError) as caught:
            ClusterReader(api, "smartflow").snapshot("smartflow")
    finally:
        api.close()
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("cannot reach the Kubernetes API: ")
    assert "\n" not in str(caught.value)
