"""The scheduler and the kubelet: where a pod runs, and what its containers do there.

One stage per tick, with the real components' wording: a pod is created Pending, bound (or
left Unschedulable with the scheduler's message), shows ContainerCreating, then pulls
(ErrImagePull / ImagePullBackOff for images the book does not have), resolves its env
(CreateContainerConfigError for a missing Secret), runs, and turns Ready, crashes into
CrashLoopBackOff, or fails its readiness probe, as the image says. Pods whose restartPolicy
is not Always (Jobs) run to completion. A pod being deleted is gone one tick later.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .images import ImageInfo, ImageRef
from .workloads_base import (
    Obj,
    State,
    get_condition,
    name_of,
    ns_of,
    owner_refs,
    pod_requests,
    quantity,
    seconds_since,
    set_condition,
    stamp,
    terminating,
)
from .workloads_edge import one_shot_exit

KUBELET = "kubelet"
SCHEDULER = "default-scheduler"


# pods as the API server creates them -------------------------------------------------------
def new_pod(state: State, template: Obj, namespace: str, name: str, owner_ref: Obj | None) -> Obj:
    """A pod from a template, with the defaults the API server fills in."""
    meta = template.get("metadata") or {}
    spec: Obj = _copy(template.get("spec") or {})
    for c in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        ref = ImageRef.parse(str(c.get("image", "")))
        c.setdefault("imagePullPolicy", "Always" if ref.tag == "latest" else "IfNotPresent")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", SCHEDULER)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {
                "effect": "NoExecute",
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    metadata: Obj = {"name": name, "namespace": namespace}
    if owner_ref is not None:
        metadata["generateName"] = f"{owner_ref['name']}-"
        metadata["ownerReferences"] = [owner_ref]
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    if meta.get("annotations"):
        metadata["annotations"] = dict(meta["annotations"])
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": qos_class(spec)},
    }
    return state.create(pod)


def qos_class(spec: Obj) -> str:
    containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits = r.get("limits") or {}
        requests = {**limits, **(r.get("requests") or {})}
        for res in ("cpu", "memory"):
            if res not in limits or quantity(requests.get(res)) != quantity(limits[res]):
                return "Burstable"
    return "Guaranteed"


def delete_pod(state: State, pod: Obj) -> None:
    """A controller's DELETE of a pod (an entry of Changes.deletes). The API server deletes a
    bound pod gracefully: it only sets deletionTimestamp (now + grace period), and the kubelet
    removes the pod on the next tick, with a second DELETE (`run_kubelets`). A server without
    graceful deletion removes it at once; the controllers work either way."""
    state.remove(pod)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# nodes -------------------------------------------------------------------------------------
@dataclass
class Node:
    name: str
    obj: Obj
    index: int
    cpu: Decimal
    memory: Decimal
    pods: int
    ip: str
    pod_cidr: str
    used: Counter[str] = field(default_factory=Counter)
    used_cpu: Decimal = Decimal(0)
    used_memory: Decimal = Decimal(0)
    pod_count: int = 0


def nodes(state: State) -> dict[str, Node]:
    """The Node objects with their allocatable resources and what bound pods already use."""
    found: dict[str, Node] = {}
    for i, obj in enumerate(sorted(state.of_kind("Node"), key=name_of)):
        status = obj.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        ip = next(
            (a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
            f"10.0.0.{11 + i}",
        )
        found[name_of(obj)] = Node(
            name=name_of(obj),
            obj=obj,
            index=i,
            cpu=quantity(alloc.get("cpu", "0")),
            memory=quantity(alloc.get("memory", "0")),
            pods=int(quantity(alloc.get("pods", "110"))),
            ip=ip,
            pod_cidr=str((obj.get("spec") or {}).get("podCIDR") or f"10.244.{i}.0/24"),
        )
    for pod in state.of_kind("Pod"):
        node = found.get(str(pod.get("spec", {}).get("nodeName") or ""))
        if node is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        req = pod_requests(pod)
        node.used_cpu += req.get("cpu", Decimal(0))
        node.used_memory += req.get("memory", Decimal(0))
        node.pod_count += 1
        for ref in owner_refs(pod):
            node.used[str(ref.get("uid"))] += 1
    return found


# scheduler ---------------------------------------------------------------------------------
def schedule(state: State) -> None:
    """Bind every pending pod to the node with room for its requests, spreading a workload's
    pods; or explain, as kube-scheduler does, why no node fits."""
    cluster = nodes(state)
    pending = [
        p
        for p in state.of_kind("Pod")
        if not p.get("spec", {}).get("nodeName")
        and not terminating(p)
        and p.get("spec", {}).get("schedulerName", SCHEDULER) == SCHEDULER
    ]
    pending.sort(
        key=lambda p: (
            -int(p["spec"].get("priority", 0)),
            p["metadata"].get("creationTimestamp", ""),
        )
    )
    for pod in pending:
        fits: list[Node] = []
        reasons: dict[str, list[tuple[str, bool]]] = {}
        for node in cluster.values():
            why = _misfit(pod, node)
            if why:
                reasons[node.name] = why
            else:
                fits.append(node)
        status = pod.setdefault("status", {})
        conditions = status.setdefault("conditions", [])
        if not fits:
            message = _fit_error(len(cluster), reasons)
            cond = {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
            }
            if set_condition(conditions, cond, state.world.now):
                state.event(pod, "Warning", "FailedScheduling", message, SCHEDULER)
            continue
        owners = {str(r.get("uid")) for r in owner_refs(pod)}
        node = min(
            fits,
            key=lambda n: (
                sum(n.used[o] for o in owners),
                (n.used_cpu / n.cpu) if n.cpu else Decimal(1),
                n.name,
            ),
        )
        pod["spec"]["nodeName"] = node.name
        cond = {"type": "PodScheduled", "status": "True", "lastProbeTime": None}
        conditions[:] = [c for c in conditions if c.get("type") != "PodScheduled"]
        set_condition(conditions, cond, state.world.now)
        req = pod_requests(pod)
        node.used_cpu += req.get("cpu", Decimal(0))
        node.used_memory += req.get("memory", Decimal(0))
        node.pod_count += 1
        for o in owners:
            node.used[o] += 1
        state.event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {ns_of(pod)}/{name_of(pod)} to {node.name}",
            SCHEDULER,
        )


def _misfit(pod: Obj, node: Node) -> list[tuple[str, bool]]:
    """Why `pod` does not fit `node`: (reason, preemption could help)."""
    spec = pod.get("spec") or {}
    out: list[tuple[str, bool]] = []
    if (node.obj.get("spec") or {}).get("unschedulable"):
        out.append(("node(s) were unschedulable", False))
    labels = node.obj.get("metadata", {}).get("labels") or {}
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        out.append(("node(s) didn't match Pod's node affinity/selector", False))
    for taint in (node.obj.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(spec, taint):
            out.append(
                (
                    f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}",
                    False,
                )
            )
            break
    if out:
        return out
    req = pod_requests(pod)
    if node.pod_count + 1 > node.pods:
        out.append(("Too many pods", True))
    if req.get("cpu", Decimal(0)) > node.cpu - node.used_cpu:
        out.append(("Insufficient cpu", True))
    if req.get("memory", Decimal(0)) > node.memory - node.used_memory:
        out.append(("Insufficient memory", True))
    return out


def _tolerated(spec: Obj, taint: Obj) -> bool:
    for tol in spec.get("tolerations") or []:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and (
            not tol.get("key") or tol.get("key") == taint.get("key")
        ):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def _fit_error(total: int, reasons: dict[str, list[tuple[str, bool]]]) -> str:
    """kube-scheduler's FitError text, preemption's verdict included."""
    if total == 0:
        return "no nodes available to schedule pods"
    histogram = Counter(reason for why in reasons.values() for reason, _ in why)
    filters = ", ".join(sorted(f"{n} {reason}" for reason, n in histogram.items()))
    verdicts = Counter(
        "No preemption victims found for incoming pod"
        if all(helps for _, helps in why)
        else "Preemption is not helpful for scheduling"
        for why in reasons.values()
    )
    preemption = ", ".join(sorted(f"{n} {v}" for v, n in verdicts.items()))
    return (
        f"0/{total} nodes are available: {filters}. "
        f"preemption: 0/{total} nodes are available: {preemption}."
    )


# kubelet -----------------------------------------------------------------------------------
def run_kubelets(state: State) -> None:
    """Every node's kubelet for one tick. A pod being deleted (gracefully, since the last
    tick) has stopped: the kubelet's final DELETE removes it, unless finalizers hold it."""
    cluster = nodes(state)
    used_ips = {
        str(p.get("status", {}).get("podIP"))
        for p in state.of_kind("Pod")
        if p.get("status", {}).get("podIP")
    }
    for pod in state.of_kind("Pod"):
        if terminating(pod):
            if not pod["metadata"].get("finalizers"):
                state.remove(pod)
            continue
        node = cluster.get(str(pod.get("spec", {}).get("nodeName") or ""))
        if node is None or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        _Kubelet(state, pod, node, used_ips).sync()


def _crash_backoff(restarts: int) -> int:
    return int(min(10 * 2 ** max(restarts - 1, 0), 300))


class _Kubelet:
    def __init__(self, state: State, pod: Obj, node: Node, used_ips: set[str]) -> None:
        self.state = state
        self.pod = pod
        self.node = node
        self.used_ips = used_ips
        self.now = state.world.now
        self.status: Obj = pod.setdefault("status", {})
        self.spec: Obj = pod.get("spec") or {}
        self.conditions: list[Obj] = self.status.setdefault("conditions", [])

    # the pod -------------------------------------------------------------------------------
    def sync(self) -> None:
        first = not self.status.get("startTime")
        if first:
            self.status["hostIP"] = self.node.ip
            self.status["hostIPs"] = [{"ip": self.node.ip}]
            self.status["startTime"] = stamp(self.now)
            self._initial_statuses()
        # volumes are mounted before the sandbox starts; a Secret deleted later stops nothing
        missing = None if self.status.get("podIP") else self._missing_volume()
        if missing is not None:
            volume, what = missing
            msg = f'MountVolume.SetUp failed for volume "{volume}" : {what}'
            self.state.event(self.pod, "Warning", "FailedMount", msg, KUBELET, self.node.name)
        if first or missing is not None:
            self._set_conditions(sandbox=False)
            return
        if not self.status.get("podIP"):
            ip = self._pod_ip()
            self.status["podIP"] = ip
            self.status["podIPs"] = [{"ip": ip}]
        inits = self.spec.get("initContainers") or []
        init_statuses = self.status.get("initContainerStatuses") or []
        initialized = True
        for i, c in enumerate(inits):
            cs = init_statuses[i]
            if (cs["state"].get("terminated") or {}).get("exitCode") == 0:
                continue
            init_statuses[i] = self._container(c, cs, init=True)
            initialized = (init_statuses[i]["state"].get("terminated") or {}).get("exitCode") == 0
            break
        if initialized and all(
            (cs["state"].get("terminated") or {}).get("exitCode") == 0 for cs in init_statuses
        ):
            statuses = self.status["containerStatuses"]
            for i, c in enumerate(self.spec.get("containers") or []):
                statuses[i] = self._container(c, statuses[i], init=False)
        self._set_phase()
        self._set_conditions(sandbox=True)

    def _initial_statuses(self) -> None:
        inits = self.spec.get("initContainers") or []
        self.status["phase"] = "Pending"
        if inits:
            self.status["initContainerStatuses"] = [
                self._waiting_status(c, "PodInitializing" if i else "ContainerCreating")
                for i, c in enumerate(inits)
            ]
        self.status["containerStatuses"] = [
            self._waiting_status(c, "PodInitializing" if inits else "ContainerCreating")
            for c in self.spec.get("containers") or []
        ]

    def _waiting_status(self, c: Obj, reason: str) -> Obj:
        return {
            "image": str(ImageRef.parse(str(c.get("image", "")))),
            "imageID": "",
            "lastState": {},
            "name": c["name"],
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": {"waiting": {"reason": reason}},
        }

    def _pod_ip(self) -> str:
        net = ipaddress.ip_network(self.node.pod_cidr, strict=False)
        for host in itertools.islice(net.hosts(), 1, 4096):
            if str(host) not in self.used_ips:
                self.used_ips.add(str(host))
                return str(host)
        return str(net.network_address)

    def _missing_volume(self) -> tuple[str, str] | None:
        ns = ns_of(self.pod)
        for vol in self.spec.get("volumes") or []:
            sources = [vol, *[s for s in (vol.get("projected") or {}).get("sources") or []]]
            for src in sources:
                secret = src.get("secret")
                if secret and not secret.get("optional"):
                    name = secret.get("secretName") or secret.get("name")
                    if self.state.find("Secret", ns, str(name)) is None:
                        return str(vol.get("name")), f'secret "{name}" not found'
                cm = src.get("configMap")
                if (
                    cm
                    and not cm.get("optional")
                    and self.state.find("ConfigMap", ns, str(cm.get("name"))) is None
                ):
                    return str(vol.get("name")), f'configmap "{cm.get("name")}" not found'
        return None

    def _set_phase(self) -> None:
        statuses = self.status.get("containerStatuses") or []
        inits = self.status.get("initContainerStatuses") or []
        policy = self.spec.get("restartPolicy", "Always")
        failed_init = any(
            (cs["state"].get("terminated") or {}).get("exitCode", 0) != 0 for cs in inits
        )
        if failed_init and policy == "Never":
            self.status["phase"] = "Failed"
            return
        if any(
            "terminated" not in cs["state"] or cs["state"]["terminated"].get("exitCode") != 0
            for cs in inits
        ):
            self.status["phase"] = "Pending"
            return
        terminated = [cs["state"].get("terminated") for cs in statuses]
        if statuses and all(terminated) and policy != "Always":
            if all(t.get("exitCode") == 0 for t in terminated if t):
                self.status["phase"] = "Succeeded"
            elif policy == "Never":
                self.status["phase"] = "Failed"
            return
        has_run = any(
            "running" in cs["state"] or "terminated" in cs["state"] or cs.get("lastState")
            for cs in statuses
        )
        self.status["phase"] = "Running" if has_run else "Pending"

    def _set_conditions(self, sandbox: bool) -> None:
        now = self.now
        phase = self.status.get("phase")
        statuses = self.status.get("containerStatuses") or []
        inits = self.status.get("initContainerStatuses") or []
        unready = [cs["name"] for cs in statuses if not cs.get("ready")]
        pending_init = [
            cs["name"] for cs in inits if (cs["state"].get("terminated") or {}).get("exitCode") != 0
        ]
        done = phase in ("Succeeded", "Failed")
        conds = self.conditions
        set_condition(
            conds,
            {
                "type": "PodReadyToStartContainers",
                "status": "True" if sandbox and not done else "False",
                "lastProbeTime": None,
            },
            now,
        )
        if pending_init and not done:
            init = {
                "type": "Initialized",
                "status": "False",
                "reason": "ContainersNotInitialized",
                "message": f"containers with incomplete status: [{' '.join(pending_init)}]",
                "lastProbeTime": None,
            }
        else:
            init = {"type": "Initialized", "status": "True", "lastProbeTime": None}
        set_condition(conds, init, now)
        for type_ in ("Ready", "ContainersReady"):
            if done:
                reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
                cond = {"type": type_, "status": "False", "reason": reason, "lastProbeTime": None}
            elif unready:
                cond = {
                    "type": type_,
                    "status": "False",
                    "reason": "ContainersNotReady",
                    "message": f"containers with unready status: [{' '.join(unready)}]",
                    "lastProbeTime": None,
                }
            else:
                cond = {"type": type_, "status": "True", "lastProbeTime": None}
            set_condition(conds, cond, now)
        order = [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        conds.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))

    # one container -------------------------------------------------------------------------
    def _container(self, c: Obj, cs: Obj, init: bool) -> Obj:
        cs = dict(cs)
        state = cs.get("state") or {}
        if "running" in state:
            return self._running(c, cs, init)
        if "terminated" in state:
            return self._terminated(c, cs, init)
        reason = (state.get("waiting") or {}).get("reason")
        if reason == "CrashLoopBackOff":
            finished = (cs.get("lastState", {}).get("terminated") or {}).get("finishedAt")
            backoff = _crash_backoff(int(cs.get("restartCount", 0)))
            if seconds_since(finished, self.now) >= backoff:
                info = self.state.world.images.lookup(str(c.get("image", "")))
                return self._start(c, cs, info, restart=True, init=init) if info else cs
            return cs
        return self._pull_and_start(c, cs, reason, init)

    def _field(self, c: Obj, init: bool) -> str:
        return f"spec.{'initContainers' if init else 'containers'}{{{c['name']}}}"

    def _event(self, c: Obj, init: bool, type_: str, reason: str, message: str) -> None:
        self.state.event(
            self.pod, type_, reason, message, KUBELET, self.node.name, self._field(c, init)
        )

    def _pull_and_start(self, c: Obj, cs: Obj, reason: str | None, init: bool) -> Obj:
        image = str(c.get("image", ""))
        pull_failed = reason in ("ErrImagePull", "ImagePullBackOff")
        if pull_failed and not self._pull_due(image):
            if reason == "ErrImagePull":
                msg = f'Back-off pulling image "{image}"'
                cs["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": msg}}
                self._event(c, init, "Normal", "BackOff", msg)
                self._event(c, init, "Warning", "Failed", "Error: ImagePullBackOff")
            return cs
        info = self.state.world.images.lookup(image)
        if reason in ("ContainerCreating", "PodInitializing", None) or pull_failed:
            self._event(c, init, "Normal", "Pulling", f'Pulling image "{image}"')
        if info is None:
            ref = ImageRef.parse(image)
            err = (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
                f'failed to resolve reference "{ref}": {ref}: not found'
            )
            self._event(c, init, "Warning", "Failed", f'Failed to pull image "{image}": {err}')
            self._event(c, init, "Warning", "Failed", "Error: ErrImagePull")
            cs["state"] = {"waiting": {"reason": "ErrImagePull", "message": err}}
            return cs
        if reason != "CreateContainerConfigError":
            self._event(
                c,
                init,
                "Normal",
                "Pulled",
                f'Successfully pulled image "{image}" in 1.204s (1.204s including waiting). '
                f"Image size: 52428800 bytes.",
            )
        problem = self._env_problem(c)
        if problem is not None:
            cs["state"] = {"waiting": {"reason": "CreateContainerConfigError", "message": problem}}
            self._event(c, init, "Warning", "Failed", f"Error: {problem}")
            return cs
        return self._start(c, cs, info, restart=False, init=init)

    def _pull_due(self, image: str) -> bool:
        """The kubelet's image pull back-off (10 s doubling to 300 s), read from the pull
        failures it recorded as Events."""
        uid = self.pod["metadata"].get("uid")
        prefix = f'Failed to pull image "{image}"'
        failures = [
            ev
            for ev in self.state.of_kind("Event", ns_of(self.pod))
            if ev.get("involvedObject", {}).get("uid") == uid
            and str(ev.get("message", "")).startswith(prefix)
        ]
        if not failures:
            return True
        count = sum(int(ev.get("count", 1)) for ev in failures)
        last = max(str(ev.get("lastTimestamp")) for ev in failures)
        backoff = min(10 * (1 << min(count - 1, 8)), 300)
        return seconds_since(last, self.now) >= backoff

    def _env_problem(self, c: Obj) -> str | None:
        """What the kubelet says when the env refers to a Secret or ConfigMap (or a key of
        one) that does not exist."""
        ns = ns_of(self.pod)
        for env in c.get("env") or []:
            source = env.get("valueFrom") or {}
            for field_name, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = source.get(field_name)
                if not ref or ref.get("optional"):
                    continue
                obj = self.state.find(kind, ns, str(ref.get("name")))
                if obj is None:
                    return f'{kind.lower()} "{ref.get("name")}" not found'
                keys = {**(obj.get("data") or {}), **(obj.get("stringData") or {})}
                if ref.get("key") not in keys:
                    return f"couldn't find key {ref.get('key')} in {kind} {ns}/{ref.get('name')}"
        for env_from in c.get("envFrom") or []:
            for field_name, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                ref = env_from.get(field_name)
                if (
                    ref
                    and not ref.get("optional")
                    and self.state.find(kind, ns, str(ref.get("name"))) is None
                ):
                    return f'{kind.lower()} "{ref.get("name")}" not found'
        return None

    def _start(self, c: Obj, cs: Obj, info: ImageInfo, restart: bool, init: bool) -> Obj:
        container_id = "containerd://" + "".join(
            f"{self.state.world.rng.getrandbits(8):02x}" for _ in range(32)
        )
        cs.update(
            {
                "containerID": container_id,
                "image": str(ImageRef.parse(str(c.get("image", "")))),
                "imageID": info.image_id,
                "ready": not c.get("readinessProbe") and not c.get("startupProbe"),
                "started": True,
                "state": {"running": {"startedAt": stamp(self.now)}},
            }
        )
        if restart:
            cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
        self._event(c, init, "Normal", "Created", f"Created container: {c['name']}")
        self._event(c, init, "Normal", "Started", f"Started container {c['name']}")
        return cs

    def _running(self, c: Obj, cs: Obj, init: bool) -> Obj:
        info = self.state.world.images.lookup(str(c.get("image", "")))
        started = cs["state"]["running"].get("startedAt")
        ran = seconds_since(started, self.now)
        tick = self.state.world.tick_seconds
        job_like = init or self.spec.get("restartPolicy", "Always") != "Always"
        if info is not None and info.behaviour == "crash" and ran >= tick:
            return self._terminate(cs, info.exit_code, "Error")
        if job_like:
            after = max(1, info.start_ticks if info else 1) * tick
            code = one_shot_exit(self.state, self.pod, c, ran, after)
            if code is not None:
                return self._terminate(cs, code, "Completed" if code == 0 else "Error")
            return cs
        probe = c.get("readinessProbe")
        if not probe:
            cs["ready"] = True
        elif info is not None and info.behaviour == "never_ready":
            cs["ready"] = False
            self._event(
                c, init, "Warning", "Unhealthy", f"Readiness probe failed: {info.probe_message}"
            )
        else:
            delay = max(info.start_ticks if info else 1, 0) * tick
            cs["ready"] = ran >= delay
        return cs

    def _terminate(self, cs: Obj, exit_code: int, reason: str) -> Obj:
        cs["state"] = {
            "terminated": {
                "containerID": cs.get("containerID"),
                "exitCode": exit_code,
                "finishedAt": stamp(self.now),
                "reason": reason,
                "startedAt": cs["state"]["running"].get("startedAt"),
            }
        }
        cs["ready"] = False
        cs["started"] = False
        return cs

    def _terminated(self, c: Obj, cs: Obj, init: bool) -> Obj:
        term = cs["state"]["terminated"]
        policy = self.spec.get("restartPolicy", "Always")
        if policy == "Never" or (term.get("exitCode") == 0 and (init or policy == "OnFailure")):
            return cs
        restarts = int(cs.get("restartCount", 0))
        cs["lastState"] = {"terminated": term}
        if restarts == 0:
            info = self.state.world.images.lookup(str(c.get("image", "")))
            if info is not None:
                return self._start(c, cs, info, restart=True, init=init)
        backoff = _crash_backoff(restarts)
        pod = f"{name_of(self.pod)}_{ns_of(self.pod)}({self.pod['metadata'].get('uid')})"
        msg = f"back-off {backoff}s restarting failed container={c['name']} pod={pod}"
        cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
        self._event(
            c,
            init,
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {c['name']} in pod {pod}",
        )
        return cs


def container_waiting(pod: Obj) -> list[tuple[str, str, str]]:
    """(container, reason, message) of every waiting container: for tests and the server."""
    out = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            out.append(
                (cs["name"], str(waiting.get("reason", "")), str(waiting.get("message", "")))
            )
    return out


def pod_scheduled_message(pod: Obj) -> str | None:
    cond = get_condition(pod, "PodScheduled")
    return str(cond.get("message")) if cond and cond.get("status") == "False" else None
