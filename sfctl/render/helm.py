"""The Helm chart targets: `helm` (the chart plus a values file from the spec) and `k8s` (plain
manifests, templated from the same chart by the real Helm engine, for kubectl and GitOps users).

The chart lives in templates/helm/smartflow and ships as package data (`sfctl.templates`), so a
wheel install renders without a checkout. The generated values only ever *reference* secrets
(`secrets.existingSecret`): no secret value reaches a rendered file.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from sfctl.errors import SfctlError
from sfctl.render import Target
from sfctl.render.engine import HEADER, write_files
from sfctl.render.gateway_config import gateway_config
from sfctl.spec import SERVICES, Spec
from sfctl.spec.models import Resources, ServiceSpec

CHART_NAME = "smartflow"
#: services whose pods never get a CPU limit (CFS throttling; the guide's performance section)
NO_CPU_LIMIT = ("proxy", "api-server")
#: Helm's install order (kinds missing here go last), so `kubectl apply -f DIR` creates the
#: namespace first and the workloads after what they mount
KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Ingress",
    "ServiceMonitor",
)
_DOC_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def secret_name(spec: Spec) -> str:
    """The Kubernetes Secret the release reads its secrets from (`sfctl deploy` creates it from
    .env unless the spec names an existing one)."""
    return spec.kubernetes.existing_secret or f"{spec.name}-secrets"


def management_auth_secret(spec: Spec) -> str:
    """The Secret with the htpasswd `auth` key for the management API's basic auth."""
    return f"{spec.name}-management-auth"


# --- spec -> values --------------------------------------------------------------------------


def _resources(res: Resources, *, cpu_limit_allowed: bool, where: str) -> dict[str, Any]:
    limits: dict[str, str] = {"memory": res.limits.memory}
    if res.limits.cpu is not None:
        if not cpu_limit_allowed:
            raise SfctlError(
                f"sfctl.yaml: {where}.limits.cpu: the chart never sets a CPU limit on proxy or "
                "api-server (CFS throttling adds latency spikes of up to 100 ms); remove it"
            )
        limits["cpu"] = res.limits.cpu
    return {
        "requests": {"cpu": res.requests.cpu, "memory": res.requests.memory},
        "limits": limits,
    }


def _image(reference: str) -> dict[str, str]:
    """ "redis:7.2-alpine" -> repository and tag; a digest ("repo@sha256:...") keeps its form."""
    if "@" in reference:
        repository, digest = reference.split("@", 1)
        return {"repository": repository, "tag": digest}
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:  # no tag, or the colon was a registry port
        return {"repository": reference, "tag": "latest"}
    return {"repository": name, "tag": tag}


def _service_values(spec: Spec) -> dict[str, Any]:
    values: dict[str, Any] = {}
    hpa = spec.kubernetes.hpa
    for info in SERVICES:
        svc: ServiceSpec = getattr(spec.services, info.key)
        entry: dict[str, Any] = {
            "replicas": svc.replicas,
            "resources": _resources(
                svc,
                cpu_limit_allowed=info.service_type not in NO_CPU_LIMIT,
                where=f"services.{info.key}",
            ),
        }
        if info.service_type == "proxy":
            entry["autoscaling"] = {
                "enabled": hpa.enabled,
                "minReplicas": hpa.min_replicas,
                "maxReplicas": hpa.max_replicas,
                "targetCPUUtilizationPercentage": hpa.cpu_target_percent,
            }
        values[info.values_key] = entry
    return values


def _datastore_values(spec: Spec) -> dict[str, Any]:
    storage_class = spec.kubernetes.storage_class or ""

    def store(mode: str, url_env: str, image: str, storage: str, res: Resources) -> dict[str, Any]:
        values: dict[str, Any] = {"bundled": mode == "bundled"}
        if mode == "bundled":
            values |= {
                "image": _image(image),
                "resources": _resources(res, cpu_limit_allowed=True, where="datastore"),
                "persistence": {"size": storage, "storageClassName": storage_class},
            }
        else:  # the whole URL (it holds the password) is a key of the Secret
            values["external"] = {"url": "", "urlSecretKey": url_env}
        return values

    redis, db = spec.redis, spec.database
    return {
        "redis": store(redis.mode, redis.url_env, redis.image, redis.storage, redis.resources),
        "timescaledb": store(db.mode, db.url_env, db.image, db.storage, db.resources)
        | {"database": db.name, "username": db.user},
    }


def _ingress_values(spec: Spec) -> dict[str, Any]:
    ing, mgmt = spec.kubernetes.ingress, spec.management
    timeout = str(ing.timeout_secs)
    annotations = {
        "nginx.ingress.kubernetes.io/proxy-buffering": "off",
        "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
        "nginx.ingress.kubernetes.io/proxy-body-size": ing.body_size,
        "nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
        "nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
    } | ing.annotations
    return {
        "enabled": ing.enabled,
        "className": ing.class_name,
        "host": spec.domain,
        "tls": spec.tls.enabled,
        "clusterIssuer": spec.tls.cluster_issuer,
        "annotations": annotations,
        "management": {
            "enabled": mgmt.expose,
            "allowedSources": list(mgmt.allowed_sources),
            "authSecret": management_auth_secret(spec) if mgmt.basic_auth_user else "",
        },
    }


def values_from_spec(spec: Spec) -> dict[str, Any]:
    """The chart values for `spec`: every setting the spec holds, secrets only by reference."""
    k8s, features = spec.kubernetes, spec.features
    pool = k8s.node_pool
    expressions = [
        {"key": key, "operator": "In", "values": [value]} for key, value in pool.labels.items()
    ]
    return {
        "fullnameOverride": spec.name,
        "image": {
            "repository": spec.image.repository,
            "tag": spec.image.tag,
            "pullPolicy": spec.image.pull_policy,
        },
        "config": {
            "mcpGatewayEnabled": features.mcp_gateway_enabled,
            "semanticCacheThreshold": features.semantic_cache_threshold,
            "complianceTimeoutSecs": features.compliance_timeout_secs,
            "rateLimitRequestsPerHour": features.rate_limit_requests_per_hour,
            "gateway": gateway_config(spec),
        },
        "secrets": {
            "existingSecret": secret_name(spec),
            "providerKeys": [{"env": p.api_key_env} for p in spec.providers if p.api_key_env],
        },
        **_service_values(spec),
        "service": {"externalTrafficPolicy": k8s.external_traffic_policy},
        "dnsConfig": {"options": [{"name": "ndots", "value": str(k8s.dns_ndots)}]},
        "nodeAffinity": (
            {"mode": pool.affinity, "matchExpressions": expressions}
            if expressions
            else {"mode": "none"}
        ),
        "ingress": _ingress_values(spec),
        **_datastore_values(spec),
        "serviceMonitor": {"enabled": k8s.service_monitor},
    }


# --- the chart and the Helm engine ----------------------------------------------------------


def _walk(node: Traversable, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        relative = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child, relative + "/")
        else:
            yield relative, child.read_bytes()


def chart_files() -> dict[str, bytes]:
    """The chart as shipped in the package data: relative path -> content."""
    return dict(_walk(files("sfctl.templates").joinpath("helm", CHART_NAME)))


def write_chart(out_dir: Path) -> list[Path]:
    """Copy the chart to `out_dir/smartflow/`; files an older chart had there are removed."""
    written: list[Path] = []
    for relative, data in chart_files().items():
        path = out_dir / CHART_NAME / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    for path in (out_dir / CHART_NAME).rglob("*"):
        if path.is_file() and path not in written:
            path.unlink()
    return written


def _helm_error(exc: Exception) -> SfctlError:
    detail = " ".join(str(exc).split())
    return SfctlError(f"helm: {detail}")


def template(
    chart_dir: Path, values: dict[str, Any], *, name: str, namespace: str
) -> dict[str, str]:
    """`helm template`, offline, through the Helm SDK: template path -> rendered text. The
    values are checked against values.schema.json first."""
    try:
        import helm_python as helm
    except ImportError:
        raise SfctlError(
            "rendering the Helm chart needs the Helm engine: pip install 'smartflow[k8s]'"
        ) from None
    try:
        with helm.Chart.load(chart_dir) as chart:
            return chart.render(values, name=name, namespace=namespace, is_install=True)
    except helm.HelmError as exc:
        raise _helm_error(exc) from None


def split_manifests(rendered: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object in Helm's output as (source text, parsed object), in template
    order; NOTES.txt, empty documents and hooks (the `helm test` pod) left out."""
    objects: list[tuple[str, dict[str, Any]]] = []
    for source in sorted(rendered):
        if not source.endswith((".yaml", ".yml")):
            continue
        for chunk in _DOC_SEPARATOR.split(rendered[source]):
            obj = yaml.load(chunk, Loader=_LOADER)  # noqa: S506 (a safe loader)
            if not obj:
                continue
            if "helm.sh/hook" in (obj.get("metadata", {}).get("annotations") or {}):
                continue
            objects.append((chunk.strip("\n") + "\n", obj))
    return objects


def namespace_manifest(spec: Spec) -> dict[str, Any]:
    """The release namespace, enforcing the `restricted` Pod Security Standard (every pod of the
    chart meets it)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.kubernetes.namespace,
            "labels": {
                "app.kubernetes.io/part-of": "smartflow",
                "app.kubernetes.io/managed-by": "sfctl",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def _namespace(spec: Spec) -> tuple[str, dict[str, Any]]:
    obj = namespace_manifest(spec)
    return yaml.safe_dump(obj, sort_keys=False), obj


def _file_name(obj: dict[str, Any]) -> str:
    kind = obj["kind"]
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return f"{rank:02d}-{kind.lower()}-{obj['metadata']['name']}.yaml"


def _values_header(spec: Spec) -> str:
    hash_env = spec.management.basic_auth_hash_env
    keys = ", ".join(name for name in spec.secret_names() if name != hash_env)
    lines = [
        HEADER,
        "Install: helm upgrade --install "
        f"{spec.name} ./{CHART_NAME} -n {spec.kubernetes.namespace} --create-namespace "
        "-f values.yaml",
        f"Secrets are read from the Secret {secret_name(spec)} (keys: {keys}).",
    ]
    if spec.management.expose and spec.management.basic_auth_user:
        lines.append(
            f"Management basic auth: the Secret {management_auth_secret(spec)}, key `auth`: "
            f"the htpasswd line {spec.management.basic_auth_user}:${hash_env}."
        )
    return "".join(f"# {line}\n" for line in lines)


def render_helm(spec: Spec, out_dir: Path) -> list[Path]:
    """The chart (`smartflow/`) and `values.yaml`, the spec as chart values."""
    values = values_from_spec(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_chart(out_dir)
    template(out_dir / CHART_NAME, values, name=spec.name, namespace=spec.kubernetes.namespace)
    body = yaml.safe_dump(values, sort_keys=False, default_flow_style=False)
    written += write_files(out_dir, {"values.yaml": _values_header(spec) + body})
    return written


def render_k8s(spec: Spec, out_dir: Path) -> list[Path]:
    """Plain manifests, one object per file, plus a kustomization.yaml listing them: for
    `kubectl apply -f DIR`, `kubectl apply -k DIR`, Argo CD and Flux."""
    with tempfile.TemporaryDirectory(prefix="sfctl-chart-") as tmp:
        write_chart(Path(tmp))
        rendered = template(
            Path(tmp) / CHART_NAME,
            values_from_spec(spec),
            name=spec.name,
            namespace=spec.kubernetes.namespace,
        )
    documents: dict[str, str] = {}
    for text, obj in [_namespace(spec), *split_manifests(rendered)]:
        # Plain manifests are not managed by Helm: say who made them.
        body = text.replace(
            "app.kubernetes.io/managed-by: Helm", "app.kubernetes.io/managed-by: sfctl"
        )
        documents[_file_name(obj)] = f"# {HEADER}\n{body}"
    ordered = dict(sorted(documents.items()))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(ordered),
    }
    ordered["kustomization.yaml"] = f"# {HEADER}\n" + yaml.safe_dump(kustomization, sort_keys=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir, keep=set(ordered))
    return write_files(out_dir, ordered)


def _remove_stale(out_dir: Path, *, keep: set[str]) -> None:
    """Delete manifests an earlier render wrote that this one does not (an object the spec no
    longer asks for must leave the GitOps folder too). Only files carrying our header go."""
    for path in out_dir.glob("*.yaml"):
        if path.name in keep:
            continue
        with path.open(encoding="utf-8") as handle:
            first = handle.readline()
        if first == f"# {HEADER}\n":
            path.unlink()


TARGETS: dict[str, Target] = {"helm": render_helm, "k8s": render_k8s}
