"""A release's pods as facts: per pod its component, phase, node and age, per container the
image it asked for (the spec's reference), the digest the runtime really resolved
(`status.containerStatuses[].imageID`: a tag can move, the digest cannot), readiness, restarts
and why it is not running. Pure: pod JSON (the API's, or a saved `kubectl get pods -o json`) and
the clock come in; `verify_k8s` and `status_k8s` read these, not the JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sfctl.deploy.verify import ContainerFacts, ExecFailure, RunningImage, VersionAnswer
from sfctl.spec import SERVICES

INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
HOOK = "helm.sh/hook"  # `helm test` pods and other hooks: not part of what runs
GATEWAY_COMPONENTS = frozenset(info.service_type for info in SERVICES)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def image_digest(image_id: str) -> str | None:
    """The `sha256:...` a runtime reports as a container's imageID, in any of its spellings:
    `docker-pullable://repo@sha256:...` (dockershim), `repo@sha256:...` (containerd, CRI-O),
    `sha256:...` or `docker://sha256:...` (an image known only locally)."""
    tail = image_id.rpartition("@")[2].rpartition("://")[2]
    return tail if _DIGEST.fullmatch(tail) else None


def pinned_digest(reference: str) -> str | None:
    """The digest a reference pins (`repo@sha256:...`, `repo:tag@sha256:...`), else None."""
    if "@" not in reference:
        return None
    return image_digest(reference)


def reference_tag(reference: str) -> str | None:
    """The tag of `repo[:tag][@digest]`; a registry's port is not a tag."""
    name = reference.partition("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[colon + 1 :] if colon > slash else None


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    image: str  # the reference the spec asks for
    image_id: str  # the runtime's imageID ('' before the image is pulled)
    gateway: bool  # the Smartflow image (asked its build); Redis, TimescaleDB are not
    ready: bool
    restarts: int
    state: str  # running, waiting, terminated, or pending (no status yet)
    reason: str | None  # CrashLoopBackOff, ImagePullBackOff, Completed, OOMKilled, ...
    message: str | None
    exit_code: int | None  # of its last termination
    exit_reason: str | None  # and why: Error, OOMKilled, Completed
    started_at: datetime | None

    @property
    def digest(self) -> str | None:
        return image_digest(self.image_id)

    @property
    def status(self) -> str:
        """One word for a table: the reason when there is one, else the state."""
        return self.reason if self.state != "running" and self.reason else self.state

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "image_id": self.image_id or None,
            "digest": self.digest,
            "gateway": self.gateway,
            "ready": self.ready,
            "restarts": self.restarts,
            "state": self.state,
            "reason": self.reason,
            "message": self.message,
            "exit_code": self.exit_code,
            "exit_reason": self.exit_reason,
            "started_at": self.started_at.isoformat() if self.started_at else None,
        }


@dataclass(frozen=True, slots=True)
class PodView:
    name: str
    namespace: str
    release: str | None  # the app.kubernetes.io/instance label
    component: str
    phase: str  # Pending, Running, Succeeded, Failed, Unknown
    node: str | None
    created: datetime | None
    age_s: float | None
    deleting: bool  # a deletionTimestamp: terminating, on its way out
    hook: bool  # a Helm hook (`helm test`)
    reason: str | None  # the pod's own: Unschedulable, Evicted, ...
    message: str | None
    containers: tuple[ContainerView, ...]

    @property
    def gateway(self) -> bool:
        return any(c.gateway for c in self.containers)

    @property
    def ready(self) -> bool:
        return self.phase == "Running" and all(c.ready for c in self.containers)

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers)

    @property
    def current(self) -> bool:
        """What runs or means to: not terminating, not finished (an evicted pod stays listed
        as Failed until someone deletes it)."""
        return not self.deleting and self.phase in ("Pending", "Running", "Unknown")

    def container_name(self, container: ContainerView) -> str:
        """The pod's name, with the container's when the pod has several."""
        return self.name if len(self.containers) == 1 else f"{self.name}/{container.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "release": self.release,
            "component": self.component,
            "phase": self.phase,
            "node": self.node,
            "created": self.created.isoformat() if self.created else None,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
            "deleting": self.deleting,
            "ready": self.ready,
            "restarts": self.restarts,
            "reason": self.reason,
            "message": self.message,
            "containers": [c.to_json() for c in self.containers],
        }


def pod_view(raw: Mapping[str, Any], now: datetime) -> PodView:
    """One pod from its JSON; `now` for its age."""
    meta = _map(raw.get("metadata"))
    spec = _map(raw.get("spec"))
    status = _map(raw.get("status"))
    labels = {str(k): str(v) for k, v in _map(meta.get("labels")).items()}
    statuses = {str(s.get("name")): s for s in _maps(status.get("containerStatuses"))}
    component = labels.get(COMPONENT) or str(meta.get("name") or "")
    containers = tuple(
        _container(spec_c, statuses.get(str(spec_c.get("name"))), component)
        for spec_c in _maps(spec.get("containers"))
    )
    created = moment(meta.get("creationTimestamp"))
    reason, message = _pod_reason(status)
    return PodView(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        release=labels.get(INSTANCE),
        component=component,
        phase=str(status.get("phase") or "Unknown"),
        node=str(spec["nodeName"]) if spec.get("nodeName") else None,
        created=created,
        age_s=max(0.0, (now - created).total_seconds()) if created else None,
        deleting=bool(meta.get("deletionTimestamp")),
        hook=HOOK in _map(meta.get("annotations")),
        reason=reason,
        message=message,
        containers=containers,
    )


def release_pods(
    raw_pods: Iterable[Mapping[str, Any]], release: str, now: datetime
) -> list[PodView]:
    """The pods `release` runs (its instance label), Helm hooks left out, by component then
    name (the order `kubectl get pods` shows within a component)."""
    views = [pod_view(raw, now) for raw in raw_pods]
    chosen = [p for p in views if p.release == release and not p.hook]
    return sorted(chosen, key=lambda p: (p.component, p.name))


def checked_pods(pods: Sequence[PodView]) -> tuple[list[PodView], list[PodView]]:
    """What verify checks, and what it leaves out: terminating and finished pods, unless
    their component has nothing else (then it is reported down rather than passed over)."""
    live = {p.component for p in pods if p.current}
    checked = [p for p in pods if p.current or p.component not in live]
    return checked, [p for p in pods if p not in checked]


def container_facts(
    pod: PodView,
    container: ContainerView,
    answer: VersionAnswer | ExecFailure | None,
    labels: Mapping[str, str] | None = None,
) -> ContainerFacts:
    """The shared verify model's facts. The imageID is the digest of what the runtime pulled
    (a manifest or an index, as the containerd store names images), so it goes in as the id
    of a containerd-store image: an expected registry digest is compared with it."""
    state = "running" if container.state == "running" else _not_running(pod, container)
    return ContainerFacts(
        name=pod.container_name(container),
        service=pod.component,
        state=state,
        image=RunningImage(
            reference=container.image,
            id=container.digest or "",
            store="containerd",
            repo_digests=(container.image_id,) if "@" in container.image_id else (),
            labels=dict(labels or {}),
        ),
        answer=answer,
        exit_code=None if state == "running" else container.exit_code,
    )


def _not_running(pod: PodView, container: ContainerView) -> str:
    if pod.deleting:
        return "terminating"
    if container.state == "pending":
        return f"{pod.phase}: {pod.reason}" if pod.reason else pod.phase
    return container.reason or container.state


def _container(
    spec: Mapping[str, Any], status: Mapping[str, Any] | None, component: str
) -> ContainerView:
    env = {str(e.get("name")) for e in _maps(spec.get("env"))}
    gateway = "SERVICE_TYPE" in env or component in GATEWAY_COMPONENTS
    status = status or {}
    state = _map(status.get("state"))
    last = _map(_map(status.get("lastState")).get("terminated"))
    kind = next((k for k in ("running", "waiting", "terminated") if k in state), "pending")
    detail = _map(state.get(kind))
    terminated = detail if kind == "terminated" else last
    code = terminated.get("exitCode")
    return ContainerView(
        name=str(spec.get("name") or ""),
        image=str(spec.get("image") or ""),
        image_id=str(status.get("imageID") or ""),
        gateway=gateway,
        ready=bool(status.get("ready")),
        restarts=int(status.get("restartCount") or 0),
        state=kind,
        reason=str(detail["reason"]) if detail.get("reason") else None,
        message=str(detail["message"]) if detail.get("message") else None,
        exit_code=int(code) if isinstance(code, int) else None,
        exit_reason=str(terminated["reason"]) if terminated.get("reason") else None,
        started_at=moment(detail.get("startedAt")) if kind == "running" else None,
    )


def _pod_reason(status: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The pod's own reason (Evicted) or its unmet scheduling condition (Unschedulable)."""
    if status.get("reason"):
        return str(status["reason"]), str(status.get("message") or "") or None
    for condition in _maps(status.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("reason") or "Unschedulable"), condition.get("message")
    return None, None


def moment(text: Any) -> datetime | None:
    """An RFC 3339 time as the API writes it (`2025-01-02T03:04:05Z`); None otherwise."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def name_shortener(release: str) -> Callable[[str], str]:
    """Pod names less the chart's object prefix (`<release>-` or `<release>-smartflow-`):
    the title names the release, and the table stays within 80 columns."""
    prefixes = (f"{release}-smartflow-", f"{release}-")

    def short(name: str) -> str:
        for prefix in prefixes:
            if name.startswith(prefix) and len(name) > len(prefix):
                return name[len(prefix) :]
        return name

    return short
