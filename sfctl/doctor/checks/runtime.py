"""Runtime checks: what is running now, not what is declared. Pods' status (readiness,
restarts, OOM kills, the image digest each container runs), metrics.k8s.io usage against limits,
and the gateway's own view of its dependencies (/api/health/comprehensive)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from sfctl.doctor.k8s import PodSource, as_dict, as_list, dig, parse_bytes
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import gateway_service

__all__ = ["MEMORY_PRESSURE_RATIO", "RESTART_THRESHOLD", "image_digest", "workload_of"]

RESTART_THRESHOLD = 3  # restarts before a pod is worth a finding (one or two happen on deploys)
MEMORY_PRESSURE_RATIO = 0.9  # the runbook's "memory pressure": usage at 90% of the limit
_MI = 2**20


def _statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    status = as_dict(pod.get("status"))
    found = as_list(status.get("initContainerStatuses")) + as_list(status.get("containerStatuses"))
    return [as_dict(s) for s in found]


def workload_of(pod: Mapping[str, Any]) -> ObjectRef:
    """The workload that owns a pod (a ReplicaSet's Deployment, by the pod-template-hash
    naming rule), or the pod itself."""
    meta = as_dict(pod.get("metadata"))
    namespace = meta.get("namespace")
    for owner in map(as_dict, as_list(meta.get("ownerReferences"))):
        kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
        template_hash = as_dict(meta.get("labels")).get("pod-template-hash")
        if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
            return ObjectRef("Deployment", name.removesuffix(f"-{template_hash}"), namespace)
        if kind and name:
            return ObjectRef(kind, name, namespace)
    return ObjectRef.of(pod)


def _is_gateway(pod: dict[str, Any]) -> bool:
    return gateway_service(PodSource.of_pod(pod)) is not None


# --- pods ------------------------------------------------------------------------------------


def _not_ready_reason(pod: Mapping[str, Any]) -> str | None:
    """Why a pod is not ready, or None when it is (or is finished, or going away)."""
    status = as_dict(pod.get("status"))
    phase = status.get("phase")
    if not phase or phase == "Succeeded" or dig(pod, "metadata", "deletionTimestamp"):
        return None  # no status: a manifest, not a pod the cluster runs
    if phase == "Failed":
        return f"it failed ({status.get('reason') or 'Failed'}: {status.get('message', '')})"
    conditions = {
        str(c.get("type")): as_dict(c) for c in map(as_dict, as_list(status.get("conditions")))
    }
    if conditions.get("Ready", {}).get("status") == "True":
        return None
    for state in _statuses(pod):
        waiting = as_dict(dig(state, "state", "waiting"))
        if waiting.get("reason"):
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"container {state.get('name')} is waiting ({waiting['reason']}{detail})"
    scheduled = conditions.get("PodScheduled", {})
    if scheduled.get("status") == "False":
        return f"it is not scheduled ({scheduled.get('reason')}: {scheduled.get('message', '')})"
    ready = conditions.get("Ready", {})
    detail = ready.get("message") or "its readiness probe is failing"
    return f"it is {phase or 'Pending'} and not ready ({detail})"


@check(
    "pod-not-ready",
    Severity.ERROR,
    groups={"runtime", "upgrade"},
    summary="a pod that is not Ready (waiting, unschedulable, failing its readiness probe)",
)
def pod_not_ready(inventory: Inventory) -> Iterator[Finding]:
    """The runbook's "verify all Smartflow pods are healthy" before an upgrade: a drain moves
    ready replicas away, so an unready one leaves the service short. Gateway pods are errors,
    other pods warnings. Completed (Succeeded) and terminating pods are not counted."""
    for pod in inventory.of_kind("Pod"):
        reason = _not_ready_reason(pod)
        if reason is None:
            continue
        gateway = _is_gateway(pod)
        yield Finding(
            "pod-not-ready",
            Severity.ERROR if gateway else Severity.WARNING,
            ObjectRef.of(pod),
            f"pod is not ready: {reason}; fix it before upgrading "
            "(kubectl describe pod shows the events)",
            headline=f"pod is not ready: {reason}",
        )


@check(
    "pod-restarts",
    Severity.WARNING,
    groups={"runtime"},
    summary=f"a container OOMKilled, or restarted {RESTART_THRESHOLD}+ times",
)
def pod_restarts(inventory: Inventory) -> Iterator[Finding]:
    """An OOM kill (lastState or state terminated with reason OOMKilled) is an error even once:
    the container's memory limit is below what it needs, and in-flight streams died with it.
    Other restarts count from RESTART_THRESHOLD, with the last exit reason and code."""
    for pod in inventory.of_kind("Pod"):
        for state in _statuses(pod):
            name, restarts = state.get("name"), int(state.get("restartCount") or 0)
            terminated = [
                as_dict(dig(state, "lastState", "terminated")),
                as_dict(dig(state, "state", "terminated")),
            ]
            if any(t.get("reason") == "OOMKilled" for t in terminated):
                yield Finding(
                    "pod-restarts",
                    Severity.ERROR,
                    ObjectRef.of(pod),
                    f"container {name} was OOMKilled ({restarts} restarts): its memory limit "
                    f"{_limit_text(pod, name)}is too low for its load; raise "
                    "resources.limits.memory (watch kubectl top pods)",
                    headline=f"container {name} was OOMKilled ({restarts} restarts)",
                )
            elif restarts >= RESTART_THRESHOLD:
                last = next((t for t in terminated if t), {})
                why = (
                    f"; last exit: {last.get('reason') or 'Error'} (code {last.get('exitCode')})"
                    if last
                    else ""
                )
                yield Finding(
                    "pod-restarts",
                    Severity.WARNING,
                    ObjectRef.of(pod),
                    f"container {name} restarted {restarts} times{why}; read its previous "
                    f"logs (kubectl logs --previous -c {name})",
                    headline=f"container {name} restarted {restarts} times{why}",
                )


def _container_limit(pod: Mapping[str, Any], name: Any) -> float | None:
    for container in map(as_dict, as_list(dig(pod, "spec", "containers"))):
        if container.get("name") == name:
            return parse_bytes(dig(container, "resources", "limits", "memory"))
    return None


def _limit_text(pod: Mapping[str, Any], name: Any) -> str:
    limit = _container_limit(pod, name)
    return f"({limit / _MI:.0f}Mi) " if limit else ""


@check(
    "memory-pressure",
    Severity.WARNING,
    groups={"runtime", "upgrade"},
    summary=f"a container using {MEMORY_PRESSURE_RATIO:.0%}+ of its memory limit (metrics.k8s.io)",
)
def memory_pressure(inventory: Inventory) -> Iterator[Finding]:
    """The runbook's pre-upgrade `kubectl top pods` check, from metrics.k8s.io PodMetrics:
    the next spike past the limit is an OOM kill, and a drain reschedules the pod under the
    same limit. Containers without a limit are memory-limit-missing's."""
    pods = {(ObjectRef.of(p).namespace, ObjectRef.of(p).name): p for p in inventory.of_kind("Pod")}
    for metrics in inventory.pod_metrics:
        ref = ObjectRef.of({**metrics, "kind": "Pod"})
        pod = pods.get((ref.namespace, ref.name))
        if pod is None:
            continue
        for container in map(as_dict, as_list(metrics.get("containers"))):
            usage = parse_bytes(dig(container, "usage", "memory"))
            limit = _container_limit(pod, container.get("name"))
            if usage is None or not limit or usage < MEMORY_PRESSURE_RATIO * limit:
                continue
            problem = (
                f"container {container.get('name')} uses {usage / _MI:.0f}Mi of its "
                f"{limit / _MI:.0f}Mi memory limit ({usage / limit:.0%})"
            )
            yield Finding(
                "memory-pressure",
                Severity.WARNING,
                ref,
                f"{problem}; raise resources.limits.memory before the next spike is an OOM kill",
                headline=problem,
            )


# --- builds ----------------------------------------------------------------------------------


def image_digest(image_id: str) -> str:
    """`docker-pullable://repo@sha256:ab...` or `sha256:ab...` -> `sha256:ab...`."""
    return image_id.rsplit("@", 1)[-1].removeprefix("docker-pullable://")


def _pod_builds(inventory: Inventory) -> dict[tuple[ObjectRef, str], dict[str, list[str]]]:
    """{(workload, container): {digest: [pod names]}} for running gateway pods (terminating
    ones are on their way out and not counted)."""
    builds: dict[tuple[ObjectRef, str], dict[str, list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for pod in inventory.of_kind("Pod"):
        leaving = dig(pod, "metadata", "deletionTimestamp") is not None
        if leaving or dig(pod, "status", "phase") != "Running" or not _is_gateway(pod):
            continue
        owner = workload_of(pod)
        for state in map(as_dict, as_list(dig(pod, "status", "containerStatuses"))):
            digest = image_digest(str(state.get("imageID") or ""))
            if digest:
                key = (owner, str(state.get("name")))
                builds[key][digest].append(str(dig(pod, "metadata", "name")))
    return builds


@check(
    "gateway-version-skew",
    Severity.WARNING,
    groups={"runtime", "upgrade"},
    summary="replicas of one Smartflow service running different builds",
)
def gateway_version_skew(inventory: Inventory) -> Iterator[Finding]:
    """Replicas of one service that run different builds answer the same request differently
    (the runbook: never assume the running container matches the source). From pods: the image
    digest each container runs (status.containerStatuses[].imageID), per workload and
    container, so a mutable tag pulled at different times is caught. From the management API
    (several gateways): /version (version, git commit, build time) per SERVICE_TYPE. A rollout
    in progress shows as skew until it finishes."""
    for (owner, container), digests in sorted(_pod_builds(inventory).items(), key=str):
        if len(digests) < 2:
            continue
        spread = "; ".join(
            f"{digest[:19]}: {', '.join(sorted(pods))}" for digest, pods in sorted(digests.items())
        )
        yield Finding(
            "gateway-version-skew",
            Severity.WARNING,
            owner,
            f"its pods run {len(digests)} different images in container {container} "
            f"({spread}); pin the image by "
            "version or digest and restart the stale pods (kubectl rollout restart), unless a "
            "rollout is still in progress",
            headline=f"its pods run {len(digests)} different images in container {container}",
        )
    yield from _health_skew(inventory)


def _health_skew(inventory: Inventory) -> Iterator[Finding]:
    builds: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for source, health in inventory.gateway_health:
        info = as_dict(health.get("version")) or as_dict(dig(health, "components", "gateway"))
        service = str(info.get("service") or "all")
        build = " ".join(
            str(info[k])
            for k in ("version", "git_commit", "build_time")
            if info.get(k) and info[k] != "unknown"
        )
        if build:
            builds[service][build].append(source)
    for service, seen in sorted(builds.items()):
        if len(seen) > 1:
            spread = "; ".join(f"{b}: {', '.join(s)}" for b, s in sorted(seen.items()))
            yield Finding(
                "gateway-version-skew",
                Severity.WARNING,
                ObjectRef("GatewayComponent", service),
                f"gateways of service {service} run different builds ({spread}); deploy one "
                "build to every replica",
                headline=f"gateways of service {service} run {len(seen)} different builds",
            )


# --- dependencies, from /api/health/comprehensive ---------------------------------------------


def _component_down(inventory: Inventory, component: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for source, health in inventory.gateway_health:
        state = as_dict(dig(health, "components", component))
        if state and state.get("status") != "ok":
            yield source, state


@check(
    "redis-unreachable",
    Severity.ERROR,
    groups={"runtime"},
    summary="the gateway cannot reach Redis (KEYSTORE_REDIS_URL)",
)
def redis_unreachable(inventory: Inventory) -> Iterator[Finding]:
    """Requests keep flowing while Redis is down, but degraded: no shared cache, keys served
    as last known, and rate limits and budgets counted per replica, so N replicas allow N
    times the limit."""
    for source, state in _component_down(inventory, "redis"):
        problem = (
            f"{source}: the gateway cannot reach Redis "
            f"({state.get('error') or state.get('status')})"
        )
        yield Finding(
            "redis-unreachable",
            Severity.ERROR,
            ObjectRef("GatewayComponent", "redis"),
            f"{problem}: no shared cache, and limits and budgets are counted per replica until "
            "it is back; check KEYSTORE_REDIS_URL and the Redis server",
            headline=problem,
        )


@check(
    "database-unreachable",
    Severity.ERROR,
    groups={"runtime"},
    summary="the gateway cannot reach its database (DATABASE_URL)",
)
def database_unreachable(inventory: Inventory) -> Iterator[Finding]:
    """Audit records spill to the gateway's local disk until the database is back (then are
    replayed); keys not already cached cannot be looked up."""
    for source, state in _component_down(inventory, "database"):
        problem = (
            f"{source}: the gateway cannot reach its database "
            f"({state.get('error') or state.get('status')})"
        )
        yield Finding(
            "database-unreachable",
            Severity.ERROR,
            ObjectRef("GatewayComponent", "database"),
            f"{problem}: audit records spill to local disk and uncached keys cannot be checked; "
            "check DATABASE_URL and the database",
            headline=problem,
        )
