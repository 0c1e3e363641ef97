"""cert-manager (Helm values with the guide's resources and webhook timeout, the ACME
ClusterIssuer) and ingress-nginx values (the guide's streaming and latency tuning)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sfctl.render.kube_addons import render_cert_manager, render_ingress_nginx

from support.sfctl_render import custom_spec, default_spec

VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_cert_manager_values_follow_the_guide(tmp_path: Path) -> None:
    render_cert_manager(default_spec(), tmp_path)
    values = _load(tmp_path / "values.yaml")
    assert values["crds"] == {"enabled": True}
    assert values["resources"] == {
        "requests": {"cpu": "10m", "memory": "64Mi"},
        "limits": {"cpu": "100m", "memory": "128Mi"},
    }
    small = {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "50m", "memory": "64Mi"},
    }
    assert values["webhook"]["resources"] == small
    assert values["cainjector"]["resources"] == small
    assert values["webhook"]["timeoutSeconds"] == 29
    assert "prometheus" not in values
    assert _load_custom_cert_manager(tmp_path)["prometheus"]["servicemonitor"]["enabled"] is True


def _load_custom_cert_manager(tmp_path: Path) -> dict[str, Any]:
    render_cert_manager(custom_spec(), tmp_path / "custom")
    return _load(tmp_path / "custom" / "values.yaml")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("which", ["default", "custom"])
def test_cluster_issuer(tmp_path: Path, which: str, version: str) -> None:
    spec = default_spec() if which == "default" else custom_spec()
    render_cert_manager(spec, tmp_path)
    issuer = _load(tmp_path / "cluster-issuer.yaml")
    # the official schemas have no cert-manager CRDs: say so, then validate what they cover
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(issuer, version, strict=True)
    as_configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": issuer["metadata"]}
    kubernetes_validate.validate(as_configmap, version, strict=True)
    # the rest, by the shape cert-manager v1 defines
    assert issuer["apiVersion"] == "cert-manager.io/v1"
    assert issuer["kind"] == "ClusterIssuer"
    assert set(issuer) == {"apiVersion", "kind", "metadata", "spec"}
    assert issuer["metadata"] == {"name": spec.tls.cluster_issuer}
    acme = issuer["spec"]["acme"]
    assert set(issuer["spec"]) == {"acme"}
    assert set(acme) == {"server", "email", "privateKeySecretRef", "solvers"}
    assert acme["server"] == spec.tls.acme_server
    assert acme["email"] == spec.acme_email
    assert acme["privateKeySecretRef"] == {"name": f"{spec.tls.cluster_issuer}-key"}
    assert acme["solvers"] == [
        {"http01": {"ingress": {"ingressClassName": spec.kubernetes.ingress.class_name}}}
    ]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", issuer["metadata"]["name"])


def test_default_issuer_is_letsencrypt_prod(tmp_path: Path) -> None:
    render_cert_manager(default_spec(), tmp_path)
    acme = _load(tmp_path / "cluster-issuer.yaml")["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert _load(tmp_path / "cluster-issuer.yaml")["metadata"]["name"] == "letsencrypt-prod"
    assert acme["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "nginx"


def test_ingress_nginx_values_are_tuned_for_streaming(tmp_path: Path) -> None:
    render_ingress_nginx(default_spec(), tmp_path)
    controller = _load(tmp_path / "values.yaml")["controller"]
    config = controller["config"]
    assert config["proxy-buffering"] == "off"
    assert config["proxy-request-buffering"] == "off"
    assert config["proxy-body-size"] == "50m"
    assert config["proxy-read-timeout"] == "300"
    assert config["proxy-send-timeout"] == "300"
    assert config["hsts-max-age"] == "31536000"
    assert all(isinstance(v, str) for v in config.values())  # a ConfigMap holds strings only
    assert controller["service"]["externalTrafficPolicy"] == "Local"
    assert controller["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    assert 1 <= controller["admissionWebhooks"]["timeoutSeconds"] <= 29
    assert controller["ingressClassResource"]["name"] == "nginx"
    assert "cpu" not in controller["resources"]["limits"]  # no CFS throttling at the edge
    assert "metrics" not in controller


def test_ingress_nginx_values_follow_the_spec(tmp_path: Path) -> None:
    render_ingress_nginx(custom_spec(), tmp_path)
    controller = _load(tmp_path / "values.yaml")["controller"]
    assert controller["config"]["proxy-body-size"] == "100m"
    assert controller["config"]["proxy-read-timeout"] == "600"
    assert controller["service"]["externalTrafficPolicy"] == "Cluster"
    assert controller["dnsConfig"]["options"][0]["value"] == "3"
    assert controller["ingressClass"] == "nginx-internal"
    assert controller["metrics"]["serviceMonitor"]["enabled"] is True
