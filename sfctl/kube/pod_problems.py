"""Which pods make up a workload's current rollout, and what is wrong with one of them, in the
pod's own words: so that a wait fails at once with the reason (a crash loop with its exit code,
an image that cannot be pulled, a missing Secret key, a pod no node can take, a readiness
probe that keeps failing) instead of sitting out its whole timeout the way Helm's `--wait`
does. Pure: the pods and events come in as API JSON, the time as `now` (take it from the API
server's clock, the Date header of the read, since every timestamp compared with it is the
cluster's).

Some states are fatal at once (CrashLoopBackOff, ImagePullBackOff, an invalid image name);
others only once they have lasted a grace (`Grace`), because the cluster may still fix them on
its own: a pull that failed once is retried, a Secret may be written a moment later, a cluster
autoscaler needs time to add the node an Unschedulable pod waits for, an application takes time
to become ready. Before its grace a problem is reported with `fatal=False`, for the progress
line and for the message of a wait that ends otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sfctl.kube.rollout_status import REVISION_ANNOTATION, conditions

__all__ = [
    "DEFAULT_GRACE",
    "Grace",
    "PodProblem",
    "current_pods",
    "parse_time",
    "pod_events",
    "pod_problem",
]

#: the StatefulSet controller labels each pod with the ControllerRevision it runs
REVISION_LABEL = "controller-revision-hash"
#: waiting reasons the kubelet keeps retrying in vain: fatal on sight
IMAGE_FATAL = frozenset({"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
#: waiting reasons of a container that cannot be created or started, fatal after Grace.config
START_ERRORS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)
#: event reasons that explain a pod stuck in ContainerCreating
CREATING_EVENTS = frozenset({"FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox"})
_CONTAINER_PATH = re.compile(r"\{([^}]*)\}$")
_MISSING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'secret "([^"]+)" not found'), 'the Secret "{0}" does not exist'),
    (
        re.compile(r"couldn't find key (\S+) in Secret (?:[^/\s]+/)?(\S+)"),
        'the Secret "{1}" has no key "{0}"',
    ),
    (re.compile(r'configmap "([^"]+)" not found'), 'the ConfigMap "{0}" does not exist'),
    (
        re.compile(r"couldn't find key (\S+) in ConfigMap (?:[^/\s]+/)?(\S+)"),
        'the ConfigMap "{1}" has no key "{0}"',
    ),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Grace:
    """Seconds a recoverable problem may last before it fails the rollout."""

    image_pull: float = 30.0  # ErrImagePull, from the first failed pull (ImagePullBackOff: 0)
    config: float = 15.0  # CreateContainerConfigError & co, from the first such event
    unschedulable: float = 60.0  # Unschedulable, from the pod's creation
    scale_up: float = 300.0  # ... once a cluster autoscaler has triggered a scale-up for it
    readiness: float = 120.0  # running but not ready, from the container's startedAt
    mount: float = 120.0  # ContainerCreating with FailedMount & co, from the pod's start


DEFAULT_GRACE = Grace()


@dataclass(frozen=True, slots=True)
class PodProblem:
    """What keeps one pod from serving. `wants_logs`: the caller should fetch the last lines of
    the container's previous instance (`previous=true`), which say why it exited."""

    pod: str
    container: str | None
    reason: str
    message: str
    fatal: bool
    wants_logs: bool = False

    @property
    def line(self) -> str:
        return f"pod {self.pod}: {self.reason}: {self.message}"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp of the API (`2025-06-02T10:00:00Z`, MicroTime with fractions)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _meta(obj: Mapping[str, Any], key: str = "metadata") -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _owned_by(obj: Mapping[str, Any], uid: object) -> bool:
    refs = _meta(obj).get("ownerReferences") or []
    return uid is not None and any(ref.get("uid") == uid for ref in refs)


def current_pods(
    workload: Mapping[str, Any],
    replicasets: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """The live (not terminating) pods of the workload's current rollout. Deployment: those
    owned by its ReplicaSet (by ownerReferences uid) whose revision annotation equals the
    Deployment's; StatefulSet: its pods labelled with `status.updateRevision`. Read it only
    once the controller has observed the newest generation: before, the Deployment's revision
    can still name the previous ReplicaSet."""
    meta = _meta(workload)
    uid, kind = meta.get("uid"), workload.get("kind")
    live = [pod for pod in pods if not _meta(pod).get("deletionTimestamp")]
    if kind == "Deployment":
        revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
        owners = {
            _meta(rs).get("uid")
            for rs in replicasets
            if _owned_by(rs, uid)
            and revision is not None
            and (_meta(rs).get("annotations") or {}).get(REVISION_ANNOTATION) == revision
        }
        return [pod for pod in live if any(_owned_by(pod, owner) for owner in owners)]
    if kind == "StatefulSet":
        revision = _meta(workload, "status").get("updateRevision")
        return [
            pod
            for pod in live
            if _owned_by(pod, uid)
            and revision is not None
            and (_meta(pod).get("labels") or {}).get(REVISION_LABEL) == revision
        ]
    raise ValueError(f"no current pods for kind {kind!r}: only Deployment and StatefulSet")


def _first_seen(event: Mapping[str, Any]) -> datetime | None:
    return parse_time(event.get("firstTimestamp")) or parse_time(event.get("eventTime"))


def _last_seen(event: Mapping[str, Any]) -> datetime:
    series = event.get("series") or {}
    return (
        parse_time(event.get("lastTimestamp"))
        or parse_time(series.get("lastObservedTime"))
        or _first_seen(event)
        or _EPOCH
    )


def pod_events(
    pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The events about this pod (this very pod: a StatefulSet's replacement has the same name
    but a new uid), oldest first. Both shapes: the kubelet's core/v1 events (first/last
    timestamps, count) and the scheduler's events.k8s.io ones (eventTime, series)."""
    meta = _meta(pod)
    mine = []
    for event in events:
        about = _meta(event, "involvedObject")
        if about.get("kind") != "Pod" or about.get("name") != meta.get("name"):
            continue
        if about.get("uid") and meta.get("uid") and about["uid"] != meta["uid"]:
            continue
        mine.append(event)
    return sorted(mine, key=_last_seen)


def _container_of(event: Mapping[str, Any]) -> str | None:
    match = _CONTAINER_PATH.search(str(_meta(event, "involvedObject").get("fieldPath") or ""))
    return match.group(1) if match else None


def _latest(
    events: Sequence[Mapping[str, Any]],
    reasons: Iterable[str],
    container: str | None = None,
    prefix: str = "",
    since: datetime | None = None,
) -> Mapping[str, Any] | None:
    """The newest event with one of `reasons` (about `container`, when the event names one)."""
    wanted = frozenset(reasons)
    newest_first: list[Mapping[str, Any]] = list(reversed(events))
    for event in newest_first:
        if event.get("reason") not in wanted:
            continue
        if container is not None and _container_of(event) not in (None, container):
            continue
        if not str(event.get("message", "")).startswith(prefix):
            continue
        if since is not None and _last_seen(event) < since:
            continue
        return event
    return None


def _earliest(
    events: Sequence[Mapping[str, Any]], reason: str, container: str, prefix: str
) -> datetime | None:
    times = [
        _first_seen(event) or _last_seen(event)
        for event in events
        if event.get("reason") == reason
        and _container_of(event) in (None, container)
        and str(event.get("message", "")).startswith(prefix)
    ]
    return min(times) if times else None


def _seconds(now: datetime, then: datetime | None) -> float:
    """Seconds from `then` to `now`, never negative (a clock behind the cluster's)."""
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


def pod_problem(
    pod: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    now: datetime,
    grace: Grace = DEFAULT_GRACE,
) -> PodProblem | None:
    """The problem that best explains why this pod does not serve, or None: a fatal one before
    any other, then the first in the pod's life (scheduling, containers being created, init
    containers, containers, readiness). A terminating pod has none (it is on its way out, not
    part of the rollout)."""
    meta, status = _meta(pod), _meta(pod, "status")
    if meta.get("deletionTimestamp"):
        return None
    mine = pod_events(pod, events)
    if status.get("phase") == "Failed":
        return _failed(str(meta.get("name", "")), status)
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    found = [
        _unschedulable(pod, mine, now, grace),
        *(_waiting(pod, container, mine, now, grace) for container in statuses),
        _creating(pod, mine, now, grace),
        *(
            _unready(pod, container, mine, now, grace)
            for container in status.get("containerStatuses") or []
        ),
    ]
    problems = [problem for problem in found if problem is not None]
    return next((p for p in problems if p.fatal), problems[0] if problems else None)


def _failed(name: str, status: Mapping[str, Any]) -> PodProblem:
    """A Failed pod: its controller replaces it, so this alone does not fail the rollout, except
    an eviction for exceeding the pod's own limits (ephemeral storage, an emptyDir's sizeLimit),
    which every replacement will repeat. Node-pressure evictions are the node's problem."""
    reason = str(status.get("reason") or "Failed")
    message = str(status.get("message") or "the pod failed").strip()
    fatal = reason == "Evicted" and "exceed" in message.lower()
    return PodProblem(name, None, reason, message, fatal)


def _unschedulable(
    pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime, grace: Grace
) -> PodProblem | None:
    scheduled = conditions(pod).get("PodScheduled")
    if scheduled is None or scheduled.get("status") != "False":
        return None
    if scheduled.get("reason") != "Unschedulable":
        return None
    pending = _seconds(now, parse_time(_meta(pod).get("creationTimestamp")))
    message = str(scheduled.get("message") or "no node can take the pod")
    scale_up = _latest(events, ("TriggeredScaleUp",))
    no_scale_up = _latest(events, ("NotTriggerScaleUp",))
    allowance = grace.unschedulable
    if scale_up is not None:
        allowance = max(grace.scale_up, grace.unschedulable)
        message += f"; cluster autoscaler: {scale_up.get('message')}"
    elif no_scale_up is not None:
        message += f"; cluster autoscaler: {no_scale_up.get('message')}"
    return PodProblem(
        str(_meta(pod).get("name", "")),
        None,
        "Unschedulable",
        f"{message} (pending for {pending:.0f}s)",
        fatal=pending >= allowance,
    )


def _waiting(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
    grace: Grace,
) -> PodProblem | None:
    waiting = _meta(container, "state").get("waiting") or {}
    reason, said = str(waiting.get("reason", "")), str(waiting.get("message", ""))
    pod_name, name = str(_meta(pod).get("name", "")), str(container.get("name", ""))
    started = parse_time(_meta(pod, "status").get("startTime"))
    if reason == "CrashLoopBackOff":
        return PodProblem(pod_name, name, reason, _crash(container), True, wants_logs=True)
    if reason in IMAGE_FATAL or reason == "ErrImagePull":
        image = str(container.get("image") or _spec_image(pod, name))
        pulled = _latest(events, ("Failed",), name, "Failed to pull image")
        if pulled is not None:
            said = str(pulled.get("message")).removeprefix(f'Failed to pull image "{image}": ')
        since = _earliest(events, "Failed", name, "Failed to pull image") or started
        fatal = reason != "ErrImagePull" or _seconds(now, since) >= grace.image_pull
        verb = "cannot pull image" if "Pull" in reason else "bad image"
        return PodProblem(pod_name, name, reason, f'{verb} "{image}": {said}', fatal)
    if reason in START_ERRORS:
        since = _earliest(events, "Failed", name, "Error:") or started
        fatal = _seconds(now, since) >= grace.config
        return PodProblem(pod_name, name, reason, _start_error(name, said), fatal)
    return None


def _crash(container: Mapping[str, Any]) -> str:
    last = _meta(_meta(container, "lastState"), "terminated")
    restarts = container.get("restartCount", 0)
    message = f'container "{container.get("name")}" keeps crashing: restarted {restarts} times'
    if last:
        message += f", last exit code {last.get('exitCode')} ({last.get('reason', 'Error')})"
    if last.get("reason") == "OOMKilled":
        message += ": killed for exceeding its memory limit"
    detail = str(last.get("message") or "").strip().splitlines()
    if detail:
        message += f": {detail[-1]}"
    return message


def _start_error(container: str, said: str) -> str:
    for pattern, template in _MISSING:
        match = pattern.search(said)
        if match:
            return f'container "{container}" cannot start: {template.format(*match.groups())}'
    return f'container "{container}" cannot start: {said}'


def _spec_container(pod: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    spec = _meta(pod, "spec")
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if container.get("name") == name:
            return dict(container)
    return {}


def _spec_image(pod: Mapping[str, Any], name: str) -> str:
    return str(_spec_container(pod, name).get("image", ""))


def _creating(
    pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime, grace: Grace
) -> PodProblem | None:
    """A scheduled pod stuck before its containers start: a volume that does not mount (a
    Secret volume whose Secret is missing, a claim that does not bind), a sandbox the network
    plugin cannot set up."""
    status = _meta(pod, "status")
    if (
        status.get("phase") != "Pending"
        or conditions(pod).get("PodScheduled", {}).get("status") != "True"
    ):
        return None
    event = _latest(events, CREATING_EVENTS)
    if event is None:
        return None
    since = parse_time(status.get("startTime")) or parse_time(_meta(pod).get("creationTimestamp"))
    return PodProblem(
        str(_meta(pod).get("name", "")),
        None,
        str(event.get("reason")),
        str(event.get("message", "")).strip(),
        fatal=_seconds(now, since) >= grace.mount,
    )


def _probe_budget(container: Mapping[str, Any]) -> float:
    """Seconds the pod spec itself allows before the container must be ready: the startup
    probe's whole allowance plus the readiness probe's delay and failure threshold."""
    budget = 0.0
    for key in ("startupProbe", "readinessProbe"):
        probe = container.get(key) or {}
        if probe:
            budget += probe.get("initialDelaySeconds", 0) + probe.get(
                "periodSeconds", 10
            ) * probe.get("failureThreshold", 3)
    return budget


def _unready(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
    grace: Grace,
) -> PodProblem | None:
    running = _meta(container, "state").get("running")
    if not running or container.get("ready") is True:
        return None
    name = str(container.get("name", ""))
    started = parse_time(running.get("startedAt"))
    up = _seconds(now, started)
    allowance = max(grace.readiness, _probe_budget(_spec_container(pod, name)))
    # only this instance's probes: an earlier instance's failures say nothing of this one
    probe = _latest(events, ("Unhealthy",), name, since=started)
    if probe is None and up < allowance:
        return None
    said = str(probe.get("message")).strip() if probe else "no probe failure was reported"
    return PodProblem(
        str(_meta(pod).get("name", "")),
        name,
        "Unhealthy",
        f'container "{name}" running for {up:.0f}s but not ready: {said}',
        fatal=up >= allowance,
    )
