"""What the rollout wait reads from the cluster on each poll, for one release: its Deployments
and StatefulSets, their ReplicaSets and pods, and the pods' events; and a pod's last log lines
when it crash-loops. Everything as the API's own JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sfctl.kube.api import list_all
from sfctl.kube.rollout_wait import Snapshot

INSTANCE_LABEL = "app.kubernetes.io/instance"
LOG_LINES = 20


def release_selector(release: str) -> str:
    """The label every object of a Helm release carries (the charts' standard labels)."""
    return f"{INSTANCE_LABEL}={release}"


def _server_time(headers: Any) -> datetime:
    from email.utils import parsedate_to_datetime

    try:
        stamp = parsedate_to_datetime(headers.get("Date")) if headers else None
    except (TypeError, ValueError):
        stamp = None
    return stamp.astimezone(UTC) if stamp is not None else datetime.now(UTC)


class ClusterReader:
    """Reads one namespace through an `ApiClient`."""

    def __init__(self, api: Any, namespace: str) -> None:
        from kubernetes import client

        self.namespace = namespace
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)

    def _list(self, method: Any, kind: str, **params: Any) -> list[dict[str, Any]]:
        ns = self.namespace
        return list_all(lambda **kw: method(ns, **kw), kind, **params)

    def snapshot(self, release: str) -> Snapshot:
        """The release's workloads and pods now. ReplicaSets and events are read for the whole
        namespace: a ReplicaSet carries its Deployment's labels, but not always a release's."""
        selector = release_selector(release)
        workloads = self._list(
            self._apps.list_namespaced_deployment, "Deployment", label_selector=selector
        )
        workloads = [{"kind": "Deployment", "apiVersion": "apps/v1", **w} for w in workloads]
        statefulsets = self._list(
            self._apps.list_namespaced_stateful_set, "StatefulSet", label_selector=selector
        )
        workloads += [{"kind": "StatefulSet", "apiVersion": "apps/v1", **s} for s in statefulsets]
        pods, now = self._pods(selector)
        return Snapshot(
            workloads=workloads,
            replicasets=self._list(self._apps.list_namespaced_replica_set, "ReplicaSet"),
            pods=pods,
            events=self._list(
                self._core.list_namespaced_event, "Event", field_selector="involvedObject.kind=Pod"
            ),
            now=now,
        )

    def _pods(self, selector: str) -> tuple[list[dict[str, Any]], datetime]:
        """The release's pods, and the API server's clock at that read (its `Date` header):
        pod ages are judged against the clock that stamped them, not this machine's, which
        may be skewed."""
        seen: list[datetime] = []

        def fetch(**kw: Any) -> Any:
            response = self._core.list_namespaced_pod(self.namespace, **kw)
            seen.append(_server_time(getattr(response, "headers", None)))
            return response

        pods = list_all(fetch, "Pod", label_selector=selector)
        return pods, seen[-1] if seen else datetime.now(UTC)

    def logs(self, pod: str, container: str, *, previous: bool = True) -> list[str]:
        """The last lines the (previous, crashed) container wrote; empty when none are kept."""
        from kubernetes.client.exceptions import ApiException

        try:
            response = self._core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=container,
                previous=previous,
                tail_lines=LOG_LINES,
                _preload_content=False,
            )
        except ApiException:
            return []
        data: bytes = getattr(response, "data", b"")  # the raw urllib3 response
        lines: list[str] = data.decode("utf-8", "replace").splitlines()
        return lines[-LOG_LINES:]
