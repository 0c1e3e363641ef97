"""Stand-ins for the cert-manager and ingress-nginx Helm charts `sfctl deploy k8s` installs,
and a loopback Helm chart repository serving them (the real repositories are unreachable here).

    from support.kube_charts import chart_repo, chart_archives, CERT_MANAGER, INGRESS_NGINX
    with chart_repo(tmp_path) as url:        # http://127.0.0.1:PORT, a str
        ...                                   # point sfctl's chart repositories at `url`
        assert f"/charts/{CERT_MANAGER.archive_name}" in url.requests

What the stand-ins leave out of the real charts is listed in charts/README.md.
"""

from __future__ import annotations

from support.kube_charts.repo import (
    CERT_MANAGER,
    CHARTS,
    CHARTS_DIR,
    INGRESS_NGINX,
    AddonChart,
    ChartRepoURL,
    chart_archives,
    chart_repo,
)

#: every image the stand-ins' pods run with the chart defaults (the real charts' references,
#: ingress-nginx's pinned by digest), for registering them with the fake cluster
CERT_MANAGER_IMAGES = {
    "controller": "quay.io/jetstack/cert-manager-controller:v1.19.4",
    "cainjector": "quay.io/jetstack/cert-manager-cainjector:v1.19.4",
    "webhook": "quay.io/jetstack/cert-manager-webhook:v1.19.4",
    "startupapicheck": "quay.io/jetstack/cert-manager-startupapicheck:v1.19.4",
}
INGRESS_NGINX_IMAGES = {
    "controller": "registry.k8s.io/ingress-nginx/controller:v1.14.1"
    "@sha256:f95a79b85fb93ac3de752c71a5c27d5ceae10a18b61904dec224c1c6a4581e47",
    "kube-webhook-certgen": "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.5"
    "@sha256:03a00eb0e255e8a25fa49926c24cde0f7e12e8d072c445cdf5136ec78b546285",
}

__all__ = [
    "CERT_MANAGER",
    "CERT_MANAGER_IMAGES",
    "CHARTS",
    "CHARTS_DIR",
    "INGRESS_NGINX",
    "INGRESS_NGINX_IMAGES",
    "AddonChart",
    "ChartRepoURL",
    "chart_archives",
    "chart_repo",
]
