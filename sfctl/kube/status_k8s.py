"""`sfctl status k8s`'s model: the Helm release (revision, status, chart), each workload's
desired/updated/ready/available and whether its rollout is done (`rollout_status`, kubectl's
rules), the autoscalers' current and desired replicas within their bounds, the pods with the
build their gateway answers, the digest they run, restarts and age, and the ingress host with
its cert-manager Certificate. Healthy means: every workload rolled out and available, no pod
with a problem (`pod_problems`, the rollout wait's own reading), every certificate ready.

`release_status` is pure (the JSON, the answers and the clock come in); `read_status` reads
the cluster for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sfctl.deploy.buildinfo import DIRTY
from sfctl.deploy.compose_status import DIRTY_MARK, duration
from sfctl.deploy.verify import ExecFailure, VersionAnswer
from sfctl.errors import SfctlError
from sfctl.kube.api import KubeTarget, NotServed, Unreachable, api_client, list_all
from sfctl.kube.cluster_read import ClusterReader, release_selector
from sfctl.kube.pod_exec import Answer, ask_gateways
from sfctl.kube.pod_problems import PodProblem, pod_problem
from sfctl.kube.pods import PodView, moment, release_pods
from sfctl.kube.rollout_status import Phase, WorkloadState, conditions, workload_state
from sfctl.kube.verify_k8s import cluster_errors

CERT_MANAGER = ("cert-manager.io", "v1", "certificates")
ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
NO_CERT_MANAGER = "cert-manager not installed"
_COMMIT = 7  # git's short commit, as `sfctl status compose` shows it


class ReleaseInfo(Protocol):
    """What status shows of the Helm release (`sfctl.kube.release.ReleaseSummary` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def chart(self) -> str: ...
    @property
    def chart_version(self) -> str: ...
    @property
    def app_version(self) -> str: ...
    @property
    def updated(self) -> datetime | None: ...


#: the release's current revision, None when Helm has no record of it
Summary = Callable[[KubeTarget, str], ReleaseInfo | None]


@dataclass(frozen=True, slots=True)
class Autoscaler:
    name: str
    target: str  # kind/name it scales
    current: int
    desired: int
    minimum: int
    maximum: int
    cpu: int | None  # average utilisation now, % of requests
    cpu_target: int | None
    able: bool | None  # the ScalingActive condition: False when it cannot read its metrics
    message: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "current": self.current,
            "desired": self.desired,
            "min": self.minimum,
            "max": self.maximum,
            "cpu_percent": self.cpu,
            "cpu_target_percent": self.cpu_target,
            "scaling_active": self.able,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Certificate:
    name: str
    state: str  # ready, not ready, not created, cert-manager not installed
    message: str | None = None
    not_after: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "ready": self.ready,
            "message": self.message,
            "not_after": self.not_after.isoformat() if self.not_after else None,
        }


@dataclass(frozen=True, slots=True)
class IngressInfo:
    name: str
    hosts: tuple[str, ...]
    tls_secret: str | None
    issued_by_cert_manager: bool  # the cert-manager.io issuer annotation
    certificate: Certificate | None  # None: no TLS

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hosts": list(self.hosts),
            "tls_secret": self.tls_secret,
            "cert_manager": self.issued_by_cert_manager,
            "certificate": self.certificate.to_json() if self.certificate else None,
        }


@dataclass(frozen=True, slots=True)
class PodStatus:
    pod: PodView
    answer: Answer | None  # None: not a gateway, or not asked (--no-exec)
    problem: PodProblem | None

    @property
    def digest(self) -> str | None:
        found = [c.digest for c in self.pod.containers if c.digest]
        return found[0] if found else None

    def to_json(self) -> dict[str, Any]:
        answer = self.answer
        return {
            **self.pod.to_json(),
            "version": answer.version if isinstance(answer, VersionAnswer) else None,
            "commit": answer.git_commit if isinstance(answer, VersionAnswer) else None,
            "features": list(answer.features) if isinstance(answer, VersionAnswer) else None,
            "build_problem": answer.reason if isinstance(answer, ExecFailure) else None,
            "problem": self.problem.line if self.problem else None,
        }


@dataclass(frozen=True, slots=True)
class ReleaseStatus:
    release: str
    namespace: str
    summary: ReleaseInfo | None
    workloads: tuple[WorkloadState, ...]
    autoscalers: tuple[Autoscaler, ...]
    pods: tuple[PodStatus, ...]
    ingresses: tuple[IngressInfo, ...]
    asked: bool  # the gateways were asked their build
    problems: tuple[str, ...]  # each makes it unhealthy
    notes: tuple[str, ...] = ()  # worth knowing, not unhealthy

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        summary = self.summary
        return {
            "ok": self.ok,
            "release": self.release,
            "namespace": self.namespace,
            "helm": None if summary is None else _summary_json(summary),
            "workloads": [_workload_json(w) for w in self.workloads],
            "autoscalers": [a.to_json() for a in self.autoscalers],
            "pods": [p.to_json() for p in self.pods],
            "ingresses": [i.to_json() for i in self.ingresses],
            "asked_builds": self.asked,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def _summary_json(summary: ReleaseInfo) -> dict[str, Any]:
    return {
        "name": summary.name,
        "namespace": summary.namespace,
        "revision": summary.revision,
        "status": summary.status,
        "chart": summary.chart,
        "chart_version": summary.chart_version,
        "app_version": summary.app_version,
        "updated": summary.updated.isoformat() if summary.updated else None,
    }


def _workload_json(state: WorkloadState) -> dict[str, Any]:
    return {
        "kind": state.kind,
        "name": state.name,
        "desired": state.desired,
        "updated": state.updated,
        "ready": state.ready,
        "available": state.available,
        "rollout": state.phase.value,
        "message": state.message,
        "revision": state.revision or None,
    }


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What `release_status` reads: API JSON of the release's objects; `certificates` None
    when the cluster does not serve cert-manager's API (the CRD is not installed)."""

    workloads: Sequence[Mapping[str, Any]]
    autoscalers: Sequence[Mapping[str, Any]]
    pods: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]
    ingresses: Sequence[Mapping[str, Any]]
    certificates: Sequence[Mapping[str, Any]] | None


def release_status(
    release: str,
    namespace: str,
    summary: ReleaseInfo | None,
    view: ClusterView,
    *,
    answers: Mapping[tuple[str, str], Answer] | None,
    now: datetime,
) -> ReleaseStatus:
    """The status of `release` from what was read; `answers` None: not asked (--no-exec)."""
    workloads = tuple(workload_state(w) for w in view.workloads)
    pod_views = release_pods(view.pods, release, now)
    raw = {str((p.get("metadata") or {}).get("name")): p for p in view.pods}
    pods = tuple(
        PodStatus(view_, _answer(answers, view_), pod_problem(raw[view_.name], view.events, now))
        for view_ in pod_views
    )
    autoscalers = tuple(autoscaler(h) for h in view.autoscalers)
    ingresses = tuple(ingress_info(i, view.certificates) for i in view.ingresses)
    problems: list[str] = []
    notes: list[str] = []
    if summary is not None and summary.status != "deployed":
        problems.append(f"release {release}: revision {summary.revision} is {summary.status}")
    problems += [
        w.line  # kubectl's sentence names the workload and what it waits for
        for w in workloads
        if w.phase is not Phase.DONE or w.available < w.desired
    ]
    problems += [p.problem.line for p in pods if p.problem is not None]
    notes += [
        f"{p.pod.name}: cannot read its build: {p.answer.reason}"
        for p in pods
        if isinstance(p.answer, ExecFailure) and not p.pod.deleting and p.problem is None
    ]
    notes += [
        f"hpa/{a.name}: cannot scale ({a.message or 'ScalingActive is False'})"
        for a in autoscalers
        if a.able is False
    ]
    for ing in ingresses:
        cert = ing.certificate
        if cert is None or cert.ready:
            continue
        line = f"ingress {ing.name}: certificate {cert.name}: {cert.state}" + (
            f" ({cert.message})" if cert.message else ""
        )
        if cert.state == NO_CERT_MANAGER and not ing.issued_by_cert_manager:
            notes.append(line)  # a TLS Secret made by hand needs no cert-manager
        else:
            problems.append(line)
    return ReleaseStatus(
        release=release,
        namespace=namespace,
        summary=summary,
        workloads=workloads,
        autoscalers=autoscalers,
        pods=pods,
        ingresses=ingresses,
        asked=answers is not None,
        problems=tuple(problems),
        notes=tuple(notes),
    )


def _answer(answers: Mapping[tuple[str, str], Answer] | None, pod: PodView) -> Answer | None:
    if answers is None:
        return None
    gateway = next((c for c in pod.containers if c.gateway), None)
    if gateway is None or gateway.state != "running" or pod.deleting:
        return None  # nothing to ask: not a gateway, or not running (its problem says why)
    return answers.get((pod.name, gateway.name)) or ExecFailure("not asked")


def autoscaler(obj: Mapping[str, Any]) -> Autoscaler:
    """An autoscaling/v2 HorizontalPodAutoscaler."""
    meta, spec, status = (_map(obj.get(k)) for k in ("metadata", "spec", "status"))
    ref = _map(spec.get("scaleTargetRef"))
    active = conditions(obj).get("ScalingActive")
    return Autoscaler(
        name=str(meta.get("name") or ""),
        target=f"{str(ref.get('kind') or '').lower()}/{ref.get('name') or ''}",
        current=_int(status.get("currentReplicas")),
        desired=_int(status.get("desiredReplicas")),
        minimum=_int(spec.get("minReplicas"), 1),  # the API's default
        maximum=_int(spec.get("maxReplicas")),
        cpu=_cpu(status.get("currentMetrics"), "current"),
        cpu_target=_cpu(spec.get("metrics"), "target"),
        able=None if active is None else active.get("status") == "True",
        message=str(active.get("message")) if active and active.get("message") else None,
    )


def _cpu(metrics: Any, key: str) -> int | None:
    for metric in metrics if isinstance(metrics, list) else []:
        resource = _map(_map(metric).get("resource"))
        if resource.get("name") == "cpu":
            value = _map(resource.get(key)).get("averageUtilization")
            return value if isinstance(value, int) else None
    return None


def ingress_info(
    obj: Mapping[str, Any], certificates: Sequence[Mapping[str, Any]] | None
) -> IngressInfo:
    """An Ingress, and the Certificate cert-manager keeps for its TLS Secret: its ingress-shim
    names the Certificate after the Secret; one made by hand is found by its spec.secretName."""
    meta, spec = _map(obj.get("metadata")), _map(obj.get("spec"))
    hosts = [str(r.get("host")) for r in _maps(spec.get("rules")) if r.get("host")]
    tls = _maps(spec.get("tls"))
    secret = next((str(t["secretName"]) for t in tls if t.get("secretName")), None)
    cert = None if secret is None else certificate(secret, certificates)
    annotations = _map(meta.get("annotations"))
    return IngressInfo(
        name=str(meta.get("name") or ""),
        hosts=tuple(dict.fromkeys(hosts)),
        tls_secret=secret,
        issued_by_cert_manager=any(a in annotations for a in ISSUER_ANNOTATIONS),
        certificate=cert,
    )


def certificate(secret: str, certificates: Sequence[Mapping[str, Any]] | None) -> Certificate:
    if certificates is None:
        return Certificate(secret, NO_CERT_MANAGER)
    found = next(
        (
            c
            for c in certificates
            if _map(c.get("metadata")).get("name") == secret
            or _map(c.get("spec")).get("secretName") == secret
        ),
        None,
    )
    if found is None:
        return Certificate(secret, "not created", "cert-manager has made no Certificate for it")
    name = str(_map(found.get("metadata")).get("name") or secret)
    ready = conditions(found).get("Ready")
    not_after = moment(_map(found.get("status")).get("notAfter"))
    if ready is not None and ready.get("status") == "True":
        return Certificate(name, "ready", None, not_after)
    why = ready.get("message") or ready.get("reason") if ready else "not issued yet"
    return Certificate(name, "not ready", str(why) if why else None, not_after)


# --- reading the cluster -----------------------------------------------------------------


def read_status(
    target: KubeTarget, release: str, summary: Summary, *, ask: bool, now: datetime | None = None
) -> ReleaseStatus:
    """The release's status from the cluster; `ask`: exec in the gateways for their build."""
    from kubernetes import client

    api = api_client(target.kubeconfig, target.context)
    ns = target.namespace
    selector = release_selector(release)
    try:
        snap = ClusterReader(api, ns).snapshot(release)
        hpas = list_all(
            lambda **kw: client.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler(
                ns, **kw
            ),
            "HorizontalPodAutoscaler",
            label_selector=selector,
        )
        ingresses = list_all(
            lambda **kw: client.NetworkingV1Api(api).list_namespaced_ingress(ns, **kw),
            "Ingress",
            label_selector=selector,
        )
        certificates = _certificates(api, ns) if ingresses else []
    except Unreachable as exc:
        raise cluster_errors(target, exc) from None
    view = ClusterView(snap.workloads, hpas, snap.pods, snap.events, ingresses, certificates)
    helm, helm_note = _summary(summary, target, release)
    if helm is None and not view.workloads and not view.pods:
        raise SfctlError(
            f"no release {release!r} in namespace {ns}: nothing of it runs "
            "(deploy it with `sfctl deploy k8s`, or pass --namespace/--release)"
        )
    answers = None
    if ask:
        pods = [p for p in release_pods(view.pods, release, snap.now) if not p.deleting]
        answers = ask_gateways(target, pods)
    status = release_status(release, ns, helm, view, answers=answers, now=now or snap.now)
    return replace(status, notes=(helm_note, *status.notes)) if helm_note else status


def _summary(summary: Summary, target: KubeTarget, release: str) -> tuple[ReleaseInfo | None, str]:
    """Helm's record, or why it could not be read: the objects still say what runs."""
    try:
        return summary(target, release), ""
    except SfctlError as exc:
        return None, f"Helm's record of {release} could not be read: {exc}"


def _certificates(api: Any, namespace: str) -> list[dict[str, Any]] | None:
    """cert-manager's Certificates in `namespace`; None when its API is not served."""
    from kubernetes import client

    group, version, plural = CERT_MANAGER
    custom = client.CustomObjectsApi(api)
    try:
        return list_all(
            lambda **kw: custom.list_namespaced_custom_object(
                group, version, namespace, plural, **kw
            ),
            "Certificate",
            optional=True,
        )
    except NotServed:
        return None


# --- shaping for the terminal ---------------------------------------------------------------


def summary_line(status: ReleaseStatus) -> str:
    s = status.summary
    if s is None:
        return f"release {status.release} in {status.namespace}: no Helm record"
    when = f", updated {s.updated.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if s.updated else ""
    return (
        f"release {s.name} in {s.namespace}: revision {s.revision} {s.status}, chart "
        f"{s.chart}-{s.chart_version} (app {s.app_version}){when}"
    )


WORKLOAD_COLUMNS = ("workload", "desired", "updated", "ready", "available", "rollout")
AUTOSCALER_COLUMNS = ("autoscaler", "current", "desired", "min", "max", "cpu")


def workload_rows(status: ReleaseStatus, short: Callable[[str], str]) -> list[list[str]]:
    kinds = {"Deployment": "deploy", "StatefulSet": "sts"}
    return [
        [
            f"{kinds.get(w.kind, w.kind.lower())}/{short(w.name)}",
            str(w.desired),
            str(w.updated),
            str(w.ready),
            str(w.available),
            w.phase.value,
        ]
        for w in status.workloads
    ]


def autoscaler_rows(status: ReleaseStatus, short: Callable[[str], str]) -> list[list[str]]:
    def cpu(a: Autoscaler) -> str:
        now = "?" if a.cpu is None else f"{a.cpu}%"
        return now if a.cpu_target is None else f"{now}/{a.cpu_target}%"

    return [
        [short(a.name), str(a.current), str(a.desired), str(a.minimum), str(a.maximum), cpu(a)]
        for a in status.autoscalers
    ]


def pod_columns(status: ReleaseStatus) -> tuple[str, ...]:
    version = ("version",) if status.asked else ()
    return ("pod", "ready", "status", *version, "digest", "restarts", "age")


def pod_rows(status: ReleaseStatus, short: Callable[[str], str]) -> list[list[str]]:
    rows = []
    for item in status.pods:
        pod = item.pod
        ready = sum(c.ready for c in pod.containers)
        version = [version_text(item)] if status.asked else []
        rows.append(
            [
                short(pod.name),
                f"{ready}/{len(pod.containers)}",
                pod_state(pod),
                *version,
                (item.digest or "-").removeprefix("sha256:")[:12],
                str(pod.restarts),
                "-" if pod.age_s is None else duration(pod.age_s),
            ]
        )
    return rows


def pod_state(pod: PodView) -> str:
    """kubectl's STATUS column, roughly: the reason when there is one."""
    if pod.deleting:
        return "Terminating"
    waiting = next((c.reason for c in pod.containers if c.state != "running" and c.reason), None)
    if pod.phase in ("Failed", "Succeeded"):
        return pod.reason or pod.phase
    return waiting or pod.phase


def version_text(item: PodStatus) -> str:
    """The version and short commit the gateway answered; `?` when it could not say, `-`
    when there was nothing to ask (not a gateway, or not running)."""
    answer = item.answer
    if answer is None:
        return "-"
    if not isinstance(answer, VersionAnswer):
        return "?"
    mark = DIRTY_MARK if answer.git_commit.endswith(DIRTY) else ""
    return f"{answer.version} {answer.git_commit.removesuffix(DIRTY)[:_COMMIT]}{mark}".strip()


def any_dirty(status: ReleaseStatus) -> bool:
    return any(
        isinstance(p.answer, VersionAnswer) and p.answer.git_commit.endswith(DIRTY)
        for p in status.pods
    )


def ingress_lines(status: ReleaseStatus) -> list[str]:
    lines = []
    for ing in status.ingresses:
        hosts = ", ".join(ing.hosts) or "no host"
        cert = ing.certificate
        if cert is None:
            lines.append(f"ingress {ing.name}: http://{hosts} (no TLS)")
            continue
        until = f", until {cert.not_after:%Y-%m-%d}" if cert.ready and cert.not_after else ""
        lines.append(
            f"ingress {ing.name}: https://{hosts}, certificate {cert.name}: {cert.state}{until}"
        )
    return lines


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
