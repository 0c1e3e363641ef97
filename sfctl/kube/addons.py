"""The cluster add-ons Smartflow's chart relies on, as Helm releases: cert-manager (TLS from the
ClusterIssuer) and ingress-nginx (the IngressClass the chart's Ingress names). Pinned versions,
the guide's values (the same files `sfctl render cert-manager|ingress-nginx` writes), and where
each chart comes from: its upstream repository, a mirror the spec names, or a folder of
archives for air-gapped clusters (`--charts-from`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sfctl.errors import SfctlError, UsageError
from sfctl.render.kube_addons import (
    CERT_MANAGER_VERSION,
    INGRESS_NGINX_VERSION,
    cert_manager_values,
    ingress_nginx_values,
)
from sfctl.spec import Spec
from sfctl.spec.models import AddOnSpec

#: what sfctl deploy changes from the rendered values, and why
_CERT_MANAGER_DEPLOY = {
    # the chart's post-install Job waits for the webhook; sfctl checks the same thing itself
    # (it applies the ClusterIssuer until the webhook admits it), with a clearer failure
    "startupapicheck": {"enabled": False},
}


@dataclass(frozen=True, slots=True)
class AddOn:
    """One add-on release: where its chart comes from and the values it is installed with."""

    title: str
    release: str
    namespace: str
    chart: str
    version: str
    repo_url: str
    values: dict[str, Any]
    #: the Deployment whose availability means the add-on answers (its admission webhook)
    ready_deployment: str

    def archive_name(self) -> str:
        """The file `helm pull` writes, which `--charts-from` looks for."""
        return f"{self.chart}-{self.version}.tgz"

    def source(self, charts_from: Path | None) -> tuple[Path | str, str | None, str | None]:
        """(chart, repo URL, version) for the Helm engine: a local archive when `charts_from`
        is given (it must be there: an air-gapped cluster never falls back to the internet),
        else the chart by name in its repository."""
        if charts_from is None:
            return self.chart, self.repo_url, self.version
        archive = charts_from.expanduser() / self.archive_name()
        if not archive.is_file():
            raise SfctlError(
                f"--charts-from {charts_from}: no {self.archive_name()} there (get it with "
                f"`helm pull {self.chart} --repo {self.repo_url} --version {self.version}`)"
            )
        return archive.resolve(), None, None


UPSTREAM = {
    "cert-manager": "https://charts.jetstack.io",
    "ingress-nginx": "https://kubernetes.github.io/ingress-nginx",
}


def addons(spec: Spec) -> list[AddOn]:
    """The add-ons this spec needs, in install order. cert-manager only with TLS; ingress-nginx
    only when the chart's Ingress uses the `nginx` class; either skipped when the spec says the
    cluster already has it (`install: false`)."""
    k8s = spec.kubernetes
    wanted: list[AddOn] = []
    if spec.tls.enabled and k8s.cert_manager.install:
        values = _parsed(cert_manager_values(spec)) | _CERT_MANAGER_DEPLOY
        wanted.append(
            AddOn(
                title="cert-manager",
                release="cert-manager",
                namespace="cert-manager",
                chart="cert-manager",
                version=CERT_MANAGER_VERSION,
                repo_url=_repo(k8s.cert_manager, "cert-manager"),
                values=values,
                ready_deployment="cert-manager-webhook",
            )
        )
    if k8s.ingress.enabled and k8s.ingress_nginx.install:
        if k8s.ingress.class_name != "nginx":
            raise UsageError(
                f"sfctl.yaml: kubernetes.ingress.class_name is {k8s.ingress.class_name!r}: "
                "sfctl installs ingress-nginx only for the 'nginx' class; set "
                "kubernetes.ingress_nginx.install: false to use your own controller"
            )
        wanted.append(
            AddOn(
                title="ingress-nginx",
                release="ingress-nginx",
                namespace="ingress-nginx",
                chart="ingress-nginx",
                version=INGRESS_NGINX_VERSION,
                repo_url=_repo(k8s.ingress_nginx, "ingress-nginx"),
                values=_parsed(ingress_nginx_values(spec)),
                ready_deployment="ingress-nginx-controller",
            )
        )
    return wanted


def _repo(addon: AddOnSpec, chart: str) -> str:
    return addon.chart_repo or UPSTREAM[chart]


def _parsed(text: str) -> dict[str, Any]:
    values = yaml.safe_load(text)
    if not isinstance(values, dict):  # the templates are ours: this is a bug, say so
        raise SfctlError("internal error: an add-on values template did not render a mapping")
    return values


def cluster_issuer(spec: Spec) -> dict[str, Any]:
    """The ACME ClusterIssuer the chart's Ingress names (the file `sfctl render cert-manager`
    writes as cluster-issuer.yaml)."""
    from sfctl.render.kube_addons import cluster_issuer_manifest

    issuer = yaml.safe_load(cluster_issuer_manifest(spec))
    if not isinstance(issuer, dict):
        raise SfctlError("internal error: the ClusterIssuer template did not render a mapping")
    return issuer
