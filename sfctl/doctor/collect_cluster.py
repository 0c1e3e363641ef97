"""Collect a live cluster's objects with the official Kubernetes client, as the API's own JSON
(camelCase, as `kubectl get -o json` prints), so the checks read the same shapes from a cluster
as from saved dumps. Lists are paged (`limit`/`continue`). Secrets are never read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sfctl.doctor.model import Inventory
from sfctl.errors import SfctlError
from sfctl.kube.api import INSTALL_HINT, NotServed, Unreachable, api_client, list_all

__all__ = ["RESOURCES", "collect_cluster"]


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
        raise SfctlError(INSTALL_HINT, exit_code=2) from None
    api = api_client(kubeconfig, context)
    inventory = Inventory()
    try:
        for kind, api_version, api_class, all_ns, namespaced in RESOURCES:
            group = getattr(client, api_class)(api)
            if namespace and namespaced:
                method = getattr(group, namespaced)
                fetch: Callable[..., Any] = lambda m=method, **kw: m(namespace, **kw)  # noqa: E731
            else:
                fetch = getattr(group, all_ns)
            for item in list_all(fetch, kind):
                inventory.add({"kind": kind, "apiVersion": api_version, **item})
        _collect_metrics(client.CustomObjectsApi(api), namespace, inventory)
    except Unreachable as exc:
        server = api.configuration.host
        raise SfctlError(
            f"cannot reach the Kubernetes API at {server}: {exc.detail}", exit_code=2
        ) from None
    finally:
        api.close()
    return inventory


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
        items = list_all(fetch, "pods.metrics.k8s.io", optional=True)
    except NotServed as exc:
        inventory.notes.append(
            f"metrics.k8s.io is not served (HTTP {exc.status}): memory-pressure was not "
            "checked (it needs metrics-server)"
        )
        return
    for item in items:
        inventory.add({"kind": "PodMetrics", "apiVersion": f"{group}/{version}", **item})
