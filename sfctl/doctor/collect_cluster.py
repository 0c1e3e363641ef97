"""Collect a live cluster's objects with the official Kubernetes client, as the API's own JSON
(camelCase, as `kubectl get -o json` prints), so the checks read the same shapes from a cluster
as from saved dumps. Lists are paged (`limit`/`continue`). Secrets are never read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sfctl.doctor.model import Inventory
from sfctl.errors import SfctlError

__all__ = ["RESOURCES", "collect_cluster"]

PAGE = 500
_TIMEOUT = (5, 60)  # connect, read (seconds): a cluster that does not answer is an error, fast
_INSTALL_HINT = "the Kubernetes client is not installed: pip install 'smartflow[k8s]'"

#: (kind, apiVersion, API class, cluster-wide list method, namespaced list method or None)
RESOURCES: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("Node", "v1", "CoreV1Api", "list_node", None),
    ("Namespace", "v1", "CoreV1Api", "list_namespace", None),
    ("Pod", "v1", "CoreV1Api", "list_pod_for_all_namespaces", "list_namespaced_pod"),
    ("Service", "v1", "CoreV1Api", "list_service_for_all_namespaces", "list_namespaced_service"),
    (
        "ConfigMap",
        "v1",
        "CoreV1Api",
        "list_config_map_for_all_namespaces",
        "list_namespaced_config_map",
    ),
    (
        "Deployment",
        "apps/v1",
        "AppsV1Api",
        "list_deployment_for_all_namespaces",
        "list_namespaced_deployment",
    ),
    (
        "StatefulSet",
        "apps/v1",
        "AppsV1Api",
        "list_stateful_set_for_all_namespaces",
        "list_namespaced_stateful_set",
    ),
    (
        "DaemonSet",
        "apps/v1",
        "AppsV1Api",
        "list_daemon_set_for_all_namespaces",
        "list_namespaced_daemon_set",
    ),
    (
        "Ingress",
        "networking.k8s.io/v1",
        "NetworkingV1Api",
        "list_ingress_for_all_namespaces",
        "list_namespaced_ingress",
    ),
    (
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "NetworkingV1Api",
        "list_network_policy_for_all_namespaces",
        "list_namespaced_network_policy",
    ),
    (
        "PodDisruptionBudget",
        "policy/v1",
        "PolicyV1Api",
        "list_pod_disruption_budget_for_all_namespaces",
        "list_namespaced_pod_disruption_budget",
    ),
    (
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        "AutoscalingV2Api",
        "list_horizontal_pod_autoscaler_for_all_namespaces",
        "list_namespaced_horizontal_pod_autoscaler",
    ),
    (
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        "AdmissionregistrationV1Api",
        "list_validating_webhook_configuration",
        None,
    ),
    (
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        "AdmissionregistrationV1Api",
        "list_mutating_webhook_configuration",
        None,
    ),
)
METRICS = ("metrics.k8s.io", "v1beta1", "pods")


def collect_cluster(
    kubeconfig: Path | None, context: str | None, namespace: str | None = None
) -> Inventory:
    """List what the checks read from the cluster that `kubeconfig`/`context` name (default:
    $KUBECONFIG or ~/.kube/config and its current context, else the in-cluster service
    account). With `namespace`, namespaced kinds come from that namespace only; nodes,
    namespaces and webhook configurations are cluster-wide either way.

    A cluster that cannot be reached, a bad kubeconfig, a 401 or a 403 on any list is one
    `SfctlError` line (doctor exits 2): a lint over a partial view would report a false
    clean. metrics.k8s.io not being served only adds a note (memory-pressure is skipped)."""
    try:
        from kubernetes import client
    except ImportError:
        raise SfctlError(_INSTALL_HINT, exit_code=2) from None
    api = _api_client(kubeconfig, context)
    inventory = Inventory()
    try:
        for kind, api_version, api_class, all_ns, namespaced in RESOURCES:
            group = getattr(client, api_class)(api)
            if namespace and namespaced:
                method = getattr(group, namespaced)
                fetch: Callable[..., Any] = lambda m=method, **kw: m(namespace, **kw)  # noqa: E731
            else:
                fetch = getattr(group, all_ns)
            for item in _list_all(fetch, kind):
                inventory.add({"kind": kind, "apiVersion": api_version, **item})
        _collect_metrics(client.CustomObjectsApi(api), namespace, inventory)
    except _Unreachable as exc:
        server = api.configuration.host
        raise SfctlError(
            f"cannot reach the Kubernetes API at {server}: {exc}", exit_code=2
        ) from None
    finally:
        api.close()
    return inventory


def _api_client(kubeconfig: Path | None, context: str | None) -> Any:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and _in_cluster():
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig.expanduser()) if kubeconfig else None,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        where = str(kubeconfig) if kubeconfig else "the default kubeconfig"
        raise SfctlError(f"cannot load {where}: {_one_line(str(exc))}", exit_code=2) from None
    configuration.retries = False  # an unreachable server fails once, not after backoff
    return client.ApiClient(configuration)


def _in_cluster() -> bool:
    from kubernetes.config import kube_config

    default = Path(kube_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser()
    token = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    return not default.exists() and token.exists()


class _Unreachable(Exception):
    """The API server did not answer (refused, timed out, TLS failed)."""


class _NotServed(Exception):
    """An API group the server does not serve (404) or cannot reach (503)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _list_all(
    fetch: Callable[..., Any], kind: str, *, optional: bool = False
) -> list[dict[str, Any]]:
    """Every item of a list call, following `continue` tokens. `optional`: a 404 or 503
    raises `_NotServed` instead of an error."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = _call(fetch, kind, optional, limit=PAGE, _continue=token)
        items += [i for i in page.get("items") or [] if isinstance(i, dict)]
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return items


def _call(fetch: Callable[..., Any], what: str, optional: bool, **params: Any) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        response = fetch(**params, _preload_content=False, _request_timeout=_TIMEOUT)
        payload = json.loads(response.data)
    except ApiException as exc:
        if optional and exc.status in (404, 503):
            raise _NotServed(exc.status) from None
        raise _api_error(exc, what) from None
    except HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the cause
        detail = str(reason).rsplit(": ", 1)[-1].rstrip(")'\"")
        raise _Unreachable(_one_line(detail)) from None
    except ValueError:
        raise SfctlError(
            f"listing {what}: the API server did not answer JSON", exit_code=2
        ) from None
    if not isinstance(payload, dict):
        raise SfctlError(f"listing {what}: unexpected answer from the API server", exit_code=2)
    return payload


def _api_error(exc: Any, what: str) -> SfctlError:
    status = getattr(exc, "status", 0)
    message = _one_line(_status_message(exc) or str(getattr(exc, "reason", "")) or "no message")
    if status == 401:
        text = f"the Kubernetes API refused the credentials (401): {message}"
    elif status == 403:
        text = f"forbidden to list {what}: {message}; doctor needs get/list on it"
    elif status == 0:
        text = f"cannot reach the Kubernetes API: {message}"
    else:
        text = f"listing {what} failed (HTTP {status}): {message}"
    return SfctlError(text, exit_code=2)


def _status_message(exc: Any) -> str | None:
    """The `message` of the metav1.Status the API server answers errors with."""
    body = getattr(exc, "body", None)
    if body is None and getattr(exc, "data", None) is not None:
        body = exc.data
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return body[:200] if isinstance(body, str) else None
    return str(status["message"]) if isinstance(status, dict) and status.get("message") else None


def _collect_metrics(custom: Any, namespace: str | None, inventory: Inventory) -> None:
    """PodMetrics from metrics.k8s.io; an API that is not served (404, or 503 while the
    metrics-server APIService is unavailable) is a note, not an error."""
    group, version, plural = METRICS
    if namespace:
        fetch = lambda **kw: custom.list_namespaced_custom_object(  # noqa: E731
            group, version, namespace, plural, **kw
        )
    else:
        fetch = lambda **kw: custom.list_cluster_custom_object(group, version, plural, **kw)  # noqa: E731
    try:
        items = _list_all(fetch, "pods.metrics.k8s.io", optional=True)
    except _NotServed as exc:
        inventory.notes.append(
            f"metrics.k8s.io is not served (HTTP {exc.status}): memory-pressure was not "
            "checked (it needs metrics-server)"
        )
        return
    for item in items:
        inventory.add({"kind": "PodMetrics", "apiVersion": f"{group}/{version}", **item})


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
