"""The cluster add-ons Smartflow relies on: cert-manager (Helm values with the guide's resources
and webhook timeout, and the ACME ClusterIssuer) and ingress-nginx (Helm values). The same text
is written by `sfctl render` and installed by `sfctl deploy k8s`."""

from __future__ import annotations

from pathlib import Path

from sfctl.render.engine import render_template, write_files
from sfctl.spec import Spec

CERT_MANAGER_VERSION = "v1.19.4"
#: the chart version (its controller is v1.14.1)
INGRESS_NGINX_VERSION = "4.14.1"


def cert_manager_values(spec: Spec) -> str:
    return render_template(
        "cert-manager/values.yaml.j2", spec=spec, CERT_MANAGER_VERSION=CERT_MANAGER_VERSION
    )


def cluster_issuer_manifest(spec: Spec) -> str:
    return render_template("cert-manager/cluster-issuer.yaml.j2", spec=spec)


def ingress_nginx_values(spec: Spec) -> str:
    return render_template(
        "ingress-nginx/values.yaml.j2", spec=spec, INGRESS_NGINX_VERSION=INGRESS_NGINX_VERSION
    )


def render_cert_manager(spec: Spec, out_dir: Path) -> list[Path]:
    """values.yaml for jetstack/cert-manager and cluster-issuer.yaml."""
    return write_files(
        out_dir,
        {
            "values.yaml": cert_manager_values(spec),
            "cluster-issuer.yaml": cluster_issuer_manifest(spec),
        },
    )


def render_ingress_nginx(spec: Spec, out_dir: Path) -> list[Path]:
    """values.yaml for ingress-nginx/ingress-nginx."""
    return write_files(out_dir, {"values.yaml": ingress_nginx_values(spec)})
