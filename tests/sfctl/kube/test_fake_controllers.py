"""The fake cluster's controllers, driven tick by tick without a server: each test records the
progression a client would see (a Deployment's counters and conditions, a pod's container
states, the scheduler's message) and checks it against what the real controllers do. This is
what makes the fake a fair stand-in for the deploy, rollout and verify tests that run on it."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.kube_fake import admission
from support.kube_fake.controllers import TICK_SECONDS, World, make_node, step
from support.kube_fake.images import ExecUnavailable, ImageBook
from support.kube_fake.workloads import resolve_fenceposts

Obj = dict[str, Any]
NS = "smartflow"
V1 = "registry.example.com/smartflow/gateway:1.0.0"
V2 = "registry.example.com/smartflow/gateway:1.1.0"


class Sim:
    """A minimal store around `step`: what the fake API server does with its changes."""

    def __init__(self, nodes: int = 3, cpu: str = "4", memory: str = "8Gi") -> None:
        self.world = World(
            now=datetime(2026, 1, 12, 9, 0, tzinfo=UTC), images=ImageBook(), rng=random.Random(12)
        )
        self.objects: dict[tuple[str, str, str, str], Obj] = {}
        self.rv = 100
        for i in range(nodes):
            self._store(make_node(f"worker-{i + 1}", cpu=cpu, memory=memory, index=i))

    @staticmethod
    def key(obj: Obj) -> tuple[str, str, str, str]:
        m = obj["metadata"]
        return (obj["apiVersion"], obj["kind"], m.get("namespace") or "", m["name"])

    def _store(self, obj: Obj) -> Obj:
        m = obj.setdefault("metadata", {})
        m.setdefault("uid", f"uid-{self.rv}")
        m.setdefault("creationTimestamp", self.world.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.rv += 1
        m["resourceVersion"] = str(self.rv)
        self.objects[self.key(obj)] = obj
        return obj

    def apply(self, obj: Obj) -> Obj:
        """A user's create or update: admission first, generation bumped on a spec change."""
        obj = copy.deepcopy(obj)
        denied = admission.check(obj, list(self.objects.values()))
        if denied is not None:
            raise PermissionError(*denied)
        old = self.objects.get(self.key(obj))
        if old is None:
            obj["metadata"]["generation"] = 1
        else:
            obj["metadata"] = {**old["metadata"], **obj["metadata"]}
            if "status" in old:
                obj["status"] = old["status"]
            changed = obj.get("spec") != old.get("spec")
            obj["metadata"]["generation"] = old["metadata"]["generation"] + (1 if changed else 0)
        return self._store(obj)

    def delete(self, api_version: str, kind: str, name: str, namespace: str = NS) -> None:
        del self.objects[(api_version, kind, namespace, name)]

    def _delete(self, key: tuple[str, str, str, str]) -> None:
        """The API server's DELETE: graceful for a bound pod (the kubelet deletes it again)."""
        obj = self.objects.get(key)
        if obj is None:
            return
        m = obj["metadata"]
        if obj["kind"] == "Pod" and obj["spec"].get("nodeName") and not m.get("deletionTimestamp"):
            grace = obj["spec"].get("terminationGracePeriodSeconds", 30)
            m["deletionTimestamp"] = (self.world.now + timedelta(seconds=grace)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            m["deletionGracePeriodSeconds"] = grace
            self._store(obj)
        else:
            del self.objects[key]

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.world.now += timedelta(seconds=TICK_SECONDS)
            changes = step(copy.deepcopy(list(self.objects.values())), self.world)
            for key in changes.deletes:
                self._delete(key)
            for obj in changes.upserts:
                self._store(obj)

    def get(self, kind: str, name: str, namespace: str = NS) -> Obj:
        found = [
            o for (_, k, ns, n), o in self.objects.items() if (k, ns, n) == (kind, namespace, name)
        ]
        assert found, f"no {kind} {namespace}/{name}"
        return found[0]

    def all(self, kind: str, namespace: str | None = NS) -> list[Obj]:
        return sorted(
            (
                o
                for (_, k, ns, _n), o in self.objects.items()
                if k == kind and (namespace is None or ns == namespace)
            ),
            key=lambda o: o["metadata"]["name"],
        )

    def events(self, reason: str) -> list[Obj]:
        return [e for e in self.all("Event", None) if e["reason"] == reason]

    def until(self, done: Any, limit: int = 60) -> int:
        for i in range(limit):
            if done():
                return i
            self.tick()
        raise AssertionError("the fake never got there")


def deployment(name: str = "proxy", replicas: int = 3, image: str = V1, **spec: Any) -> Obj:
    labels = {"app.kubernetes.io/name": "smartflow", "app.kubernetes.io/component": name}
    container: Obj = {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 7775, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}},
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {"meta.helm.sh/release-name": "smartflow"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            **spec,
        },
    }


def counters(d: Obj) -> tuple[int, int, int, int, int]:
    """(generation - observedGeneration, replicas, updated, ready, available) as rollout
    status reads them (absent counters are zero: the API omits them)."""
    s = d.get("status") or {}
    lag = d["metadata"]["generation"] - s.get("observedGeneration", 0)
    return (
        lag,
        s.get("replicas", 0),
        s.get("updatedReplicas", 0),
        s.get("readyReplicas", 0),
        s.get("availableReplicas", 0),
    )


def condition(obj: Obj, type_: str) -> Obj:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_),
        {"type": type_, "status": "Unknown", "reason": ""},
    )


def available(sim: Sim, name: str, namespace: str = NS) -> bool:
    return bool(condition(sim.get("Deployment", name, namespace), "Available")["status"] == "True")


def record(sim: Sim, name: str = "proxy", limit: int = 40) -> list[tuple[int, ...]]:
    """Tick until the Deployment is complete, returning the distinct counter tuples seen."""
    seen: list[tuple[int, ...]] = []
    for _ in range(limit):
        sim.tick()
        d = sim.get("Deployment", name)
        now = counters(d)
        if not seen or seen[-1] != now:
            seen.append(now)
        want = d["spec"]["replicas"]
        done = condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
        if done and now == (0, want, want, want, want):
            return seen
    raise AssertionError(f"no completion: {seen}")


def live_pods(sim: Sim) -> list[Obj]:
    return [p for p in sim.all("Pod") if not p["metadata"].get("deletionTimestamp")]


def waiting(pod: Obj) -> tuple[str, str]:
    state = pod["status"]["containerStatuses"][0]["state"]
    w = state.get("waiting") or {}
    return w.get("reason", next(iter(state))), w.get("message", "")


# Deployments ------------------------------------------------------------------------------
def test_fenceposts_round_like_the_controller() -> None:
    assert resolve_fenceposts("25%", "25%", 3) == (1, 0)
    assert resolve_fenceposts("25%", "25%", 4) == (1, 1)
    assert resolve_fenceposts("25%", "25%", 10) == (3, 2)
    assert resolve_fenceposts(0, 0, 3) == (0, 1)
    assert resolve_fenceposts(None, None, 1) == (1, 0)


def pod_stage(pod: Obj) -> str:
    if "nodeName" not in pod["spec"]:
        return "unbound"
    if not pod["status"].get("containerStatuses"):
        return "bound"
    reason = waiting(pod)[0]
    if reason == "running":
        return "ready" if pod["status"]["containerStatuses"][0]["ready"] else "running"
    return reason


def test_fresh_deployment_goes_through_every_stage_once_per_tick() -> None:
    sim = Sim()
    sim.world.images.add(V1, version="1.0.0")
    sim.apply(deployment())
    assert counters(sim.get("Deployment", "proxy")) == (1, 0, 0, 0, 0)  # not observed yet
    ticks: list[tuple[tuple[int, ...], str, str]] = []
    for _ in range(7):
        sim.tick()
        d = sim.get("Deployment", "proxy")
        pods = sim.all("Pod")
        ticks.append(
            (
                counters(d),
                condition(d, "Progressing")["reason"],
                pod_stage(pods[0]) if pods else "-",
            )
        )
    assert ticks == [
        ((0, 0, 0, 0, 0), "NewReplicaSetCreated", "-"),  # the ReplicaSet, no pods yet
        ((0, 0, 0, 0, 0), "NewReplicaSetCreated", "unbound"),  # pods made, the RS status lags
        ((0, 3, 3, 0, 0), "ReplicaSetUpdated", "bound"),
        ((0, 3, 3, 0, 0), "ReplicaSetUpdated", "ContainerCreating"),
        ((0, 3, 3, 0, 0), "ReplicaSetUpdated", "running"),  # readiness probe not passed yet
        ((0, 3, 3, 3, 3), "NewReplicaSetAvailable", "ready"),
        ((0, 3, 3, 3, 3), "NewReplicaSetAvailable", "ready"),
    ]
    d = sim.get("Deployment", "proxy")
    assert set(d["status"]) == {
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "conditions",
    }  # fmt: skip (no unavailableReplicas: zero counters are omitted, as the API does)
    assert {p["spec"]["nodeName"] for p in sim.all("Pod")} == {
        "worker-1",
        "worker-2",
        "worker-3",
    }  # spread


def test_clean_rollout_surge_one_unavailable_zero() -> None:
    sim = Sim()
    sim.world.images.add(V1, version="1.0.0")
    sim.world.images.add(V2, version="1.1.0")
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    sim.apply(deployment(strategy=strategy))
    record(sim)
    first_rs = sim.all("ReplicaSet")
    assert (
        len(first_rs) == 1
        and first_rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    )

    sim.apply(deployment(image=V2, strategy=strategy))
    seen = record(sim)
    assert seen[0] == (0, 3, 0, 3, 3)  # observed, the new ReplicaSet has no pods yet
    assert seen[-1] == (0, 3, 3, 3, 3)
    # maxUnavailable 0: availability never drops below 3; maxSurge 1: never more than 4 pods
    assert all(available >= 3 for *_, available in seen)
    assert all(replicas <= 4 for _, replicas, *_ in seen)
    # old pods terminating are visible for a tick: replicas above updated at some point
    assert any(replicas > updated == 3 for _, replicas, updated, *_ in seen)
    assert [s[2] for s in seen] == sorted(s[2] for s in seen)  # updated only grows
    d = sim.get("Deployment", "proxy")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    new_rs = [rs for rs in sim.all("ReplicaSet") if rs["spec"]["replicas"] == 3]
    assert len(new_rs) == 1
    rs_hash = new_rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert new_rs[0]["metadata"]["name"] == f"proxy-{rs_hash}"
    assert new_rs[0]["metadata"]["ownerReferences"][0]["controller"] is True
    assert new_rs[0]["metadata"]["annotations"]["meta.helm.sh/release-name"] == "smartflow"
    assert {p["status"]["containerStatuses"][0]["image"] for p in live_pods(sim)} == {V2}
    assert all(p["metadata"]["name"].startswith(f"proxy-{rs_hash}-") for p in live_pods(sim))
    assert (
        condition(d, "Progressing")["message"]
        == f'ReplicaSet "proxy-{rs_hash}" has successfully progressed.'
    )
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    scaling = [e["message"] for e in sim.events("ScalingReplicaSet")]
    assert f"Scaled up replica set proxy-{rs_hash} from 0 to 1" in scaling
    assert any(
        m.startswith("Scaled down replica set") and m.endswith("from 1 to 0") for m in scaling
    )


def test_rollback_reuses_the_old_replicaset_under_a_new_revision() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    sim.world.images.add(V2)
    sim.apply(deployment())
    record(sim)
    (first,) = sim.all("ReplicaSet")
    sim.apply(deployment(image=V2))
    record(sim)
    sim.apply(deployment())  # what `helm rollback` sends: the old template again
    record(sim)
    sets = {rs["metadata"]["name"]: rs for rs in sim.all("ReplicaSet")}
    assert len(sets) == 2
    back = sets[first["metadata"]["name"]]
    assert back["metadata"]["uid"] == first["metadata"]["uid"] and back["spec"]["replicas"] == 3
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    d = sim.get("Deployment", "proxy")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert d["metadata"]["generation"] == 3 and d["status"]["observedGeneration"] == 3
    assert {p["status"]["containerStatuses"][0]["image"] for p in live_pods(sim)} == {V1}


def test_rollout_with_quarter_surge_and_unavailable_on_four_replicas() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    sim.world.images.add(V2)
    sim.apply(deployment(replicas=4))  # the defaults: 25% / 25% -> surge 1, unavailable 1
    record(sim)
    sim.apply(deployment(replicas=4, image=V2))
    seen = record(sim)
    assert min(available for *_, available in seen) == 3  # 4 - maxUnavailable
    assert max(replicas for _, replicas, *_ in seen) <= 5  # 4 + maxSurge
    # one old pod goes at once (maxUnavailable 1) while the surge pod starts
    rs_sizes = sorted(rs["spec"]["replicas"] for rs in sim.all("ReplicaSet"))
    assert rs_sizes == [0, 4]


def test_recreate_stops_every_old_pod_before_starting_new_ones() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    sim.world.images.add(V2)
    sim.apply(deployment(strategy={"type": "Recreate"}))
    record(sim)
    sim.apply(deployment(image=V2, strategy={"type": "Recreate"}))
    images_seen: list[set[str]] = []
    for _ in range(15):
        sim.tick()
        images_seen.append({p["spec"]["containers"][0]["image"] for p in sim.all("Pod")})
    # never old and new pods at once; a moment with no pods at all
    assert all(len(s) <= 1 for s in images_seen)
    assert set() in images_seen
    assert images_seen[-1] == {V2}
    d = sim.get("Deployment", "proxy")
    assert condition(d, "Available")["status"] == "True"
    assert counters(d) == (0, 3, 3, 3, 3)


def test_progress_deadline_exceeded_when_pods_never_turn_ready() -> None:
    sim = Sim()
    sim.world.images.never_ready(V1)
    sim.apply(deployment(progressDeadlineSeconds=30))
    reasons: list[str] = []
    for _ in range(14):
        sim.tick()
        reason = condition(sim.get("Deployment", "proxy"), "Progressing")["reason"]
        if not reasons or reasons[-1] != reason:
            reasons.append(reason)
    assert reasons == ["NewReplicaSetCreated", "ReplicaSetUpdated", "ProgressDeadlineExceeded"]
    d = sim.get("Deployment", "proxy")
    cond = condition(d, "Progressing")
    assert cond["status"] == "False"
    assert cond["message"].startswith('ReplicaSet "proxy-') and cond["message"].endswith(
        '" has timed out progressing.'
    )
    assert condition(d, "Available")["reason"] == "MinimumReplicasUnavailable"
    pod = sim.all("Pod")[0]
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    unhealthy = sim.events("Unhealthy")
    assert (
        unhealthy
        and unhealthy[0]["message"]
        == "Readiness probe failed: HTTP probe failed with statuscode: 503"
    )
    assert unhealthy[0]["involvedObject"]["fieldPath"] == "spec.containers{proxy}"
    assert unhealthy[0]["count"] > 1


def test_scale_and_pause() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    sim.apply(deployment(replicas=2))
    record(sim)
    sim.apply(deployment(replicas=4))
    assert record(sim)[-1] == (0, 4, 4, 4, 4)
    assert len(sim.all("ReplicaSet")) == 1
    sim.apply(deployment(replicas=4, image=V2, paused=True))
    sim.tick(3)
    d = sim.get("Deployment", "proxy")
    assert condition(d, "Progressing")["reason"] == "DeploymentPaused"
    assert len(sim.all("ReplicaSet")) == 1  # paused: no rollout
    assert counters(d)[0] == 0


# Pods -------------------------------------------------------------------------------------
def test_crash_looping_container() -> None:
    sim = Sim()
    sim.world.images.crash(
        V1, logs=["Traceback (most recent call last):", "KeyError: 'DATABASE_URL'"], exit_code=1
    )
    sim.apply(deployment(replicas=1))
    states: list[tuple[str, int]] = []
    messages: list[str] = []
    for _ in range(16):
        sim.tick()
        pods = sim.all("Pod")
        if pods and pods[0]["status"].get("containerStatuses"):
            cs = pods[0]["status"]["containerStatuses"][0]
            reason, message = waiting(pods[0])
            if not states or states[-1] != (reason, cs["restartCount"]):
                states.append((reason, cs["restartCount"]))
                messages.append(message)
    assert states[:10] == [
        ("ContainerCreating", 0),
        ("running", 0),
        ("terminated", 0),
        ("running", 1),  # the first restart is immediate
        ("terminated", 1),
        ("CrashLoopBackOff", 1),  # then 10 s of back-off
        ("running", 2),
        ("terminated", 2),
        ("CrashLoopBackOff", 2),  # 20 s
        ("running", 3),
    ]
    pod = sim.all("Pod")[0]
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    assert messages[5] == f"back-off 10s restarting failed container=proxy pod={name}_{NS}({uid})"
    assert messages[8] == f"back-off 20s restarting failed container=proxy pod={name}_{NS}({uid})"
    cs = pod["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert pod["status"]["phase"] == "Running"
    assert condition(pod, "Ready")["status"] == "False"
    backoff = sim.events("BackOff")
    assert (
        backoff[0]["message"]
        == f"Back-off restarting failed container proxy in pod {name}_{NS}({uid})"
    )
    assert backoff[0]["type"] == "Warning" and backoff[0]["count"] >= 2
    assert sim.world.images.logs(V1, previous=True)[-1] == "KeyError: 'DATABASE_URL'"


def test_unknown_image_backs_off_then_pulls_once_published() -> None:
    sim = Sim()
    sim.apply(deployment(replicas=1, image="registry.example.com/smartflow/gateway:9.9.9"))
    reasons: list[str] = []
    for _ in range(10):
        sim.tick()
        pods = sim.all("Pod")
        if pods and pods[0]["status"].get("containerStatuses"):
            reasons.append(waiting(pods[0])[0])
    # retried after 10 s of back-off, then 20 s, failing each time
    assert reasons == [
        "ContainerCreating",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "ImagePullBackOff",
        "ImagePullBackOff",
    ]
    pod = sim.all("Pod")[0]
    sim.until(lambda: waiting(sim.all("Pod")[0])[0] == "ImagePullBackOff")
    assert (
        waiting(sim.all("Pod")[0])[1]
        == 'Back-off pulling image "registry.example.com/smartflow/gateway:9.9.9"'
    )
    failed = [e["message"] for e in sim.events("Failed")]
    assert "Error: ImagePullBackOff" in failed
    assert any(
        m.startswith(
            'Failed to pull image "registry.example.com/smartflow/gateway:9.9.9": rpc error: code = NotFound'
        )
        for m in failed
    )
    assert pod["status"]["phase"] == "Pending"
    sim.world.images.add("registry.example.com/smartflow/gateway:9.9.9", version="9.9.9")
    sim.until(lambda: sim.all("Pod")[0]["status"]["phase"] == "Running")


def test_requests_no_node_can_hold_stay_unschedulable() -> None:
    sim = Sim(nodes=3, cpu="4")
    sim.world.images.add(V1)
    sim.apply(
        deployment(
            replicas=1, container={"resources": {"requests": {"cpu": "16", "memory": "256Mi"}}}
        )
    )
    sim.tick(4)
    pod = sim.all("Pod")[0]
    cond = condition(pod, "PodScheduled")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    assert cond["message"] == (
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
        "3 No preemption victims found for incoming pod."
    )
    assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"]
    event = sim.events("FailedScheduling")[0]
    assert event["type"] == "Warning" and event["source"]["component"] == "default-scheduler"
    assert event["message"] == cond["message"]


def test_mixed_scheduler_reasons_are_counted_and_sorted() -> None:
    sim = Sim(nodes=3, cpu="4", memory="8Gi")
    cordoned = sim.get("Node", "worker-1", namespace="")
    cordoned["spec"]["unschedulable"] = True
    sim.world.images.add(V1)
    sim.apply(
        deployment(
            replicas=1, container={"resources": {"requests": {"cpu": "8", "memory": "64Gi"}}}
        )
    )
    sim.tick(3)
    assert condition(sim.all("Pod")[0], "PodScheduled")["message"] == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu, "
        "2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful "
        "for scheduling, 2 No preemption victims found for incoming pod."
    )


def test_missing_secret_then_missing_key_then_running() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    env = [
        {
            "name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "smartflow", "key": "DATABASE_URL"}},
        }
    ]
    sim.apply(deployment(replicas=1, container={"env": env}))
    sim.tick(5)
    assert waiting(sim.all("Pod")[0]) == (
        "CreateContainerConfigError",
        'secret "smartflow" not found',
    )
    assert 'Error: secret "smartflow" not found' in [e["message"] for e in sim.events("Failed")]
    sim.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "smartflow", "namespace": NS},
            "data": {"OTHER": "eA=="},
        }
    )
    sim.tick()
    assert waiting(sim.all("Pod")[0]) == (
        "CreateContainerConfigError",
        f"couldn't find key DATABASE_URL in Secret {NS}/smartflow",
    )
    sim.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "smartflow", "namespace": NS},
            "data": {"DATABASE_URL": "eA=="},
        }
    )
    sim.tick(3)
    pod = sim.all("Pod")[0]
    assert pod["status"]["phase"] == "Running" and condition(pod, "Ready")["status"] == "True"


def test_running_pod_looks_like_kubectl_shows_it() -> None:
    sim = Sim()
    info = sim.world.images.add(
        V1, version="1.0.0", commit="0123abc", features=("cache",), digest="ab" * 32
    )
    sim.apply(deployment(replicas=1))
    record(sim)
    pod = sim.all("Pod")[0]
    cs = pod["status"]["containerStatuses"][0]
    assert (
        cs["imageID"]
        == f"registry.example.com/smartflow/gateway@sha256:{'ab' * 32}"
        == info.image_id
    )
    assert cs["containerID"].startswith("containerd://") and len(cs["containerID"]) == 13 + 64
    assert cs["started"] is True and cs["ready"] is True and "startedAt" in cs["state"]["running"]
    assert [c["type"] for c in pod["status"]["conditions"]] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert pod["status"]["podIP"].startswith("10.244.") and pod["status"]["hostIP"].startswith(
        "10.0.1."
    )
    assert pod["status"]["qosClass"] == "Burstable"
    assert pod["spec"]["nodeName"].startswith("worker-")
    assert pod["metadata"]["generateName"] + pod["metadata"]["name"][-5:] == pod["metadata"]["name"]
    code, out, err = sim.world.images.exec(
        pod, "proxy", ["smartflow-gateway", "--version", "--json"]
    )
    assert (code, err) == (0, "")
    assert (
        out
        == '{"name":"smartflow-gateway","version":"1.0.0","git_commit":"0123abc","build_time":"2026-01-12T09:00:00Z","service":"all","features":["cache"]}\n'
    )
    code, _, err = sim.world.images.exec(pod, "proxy", ["sh", "-c", "true"])
    assert code == 126 and 'exec: "sh": executable file not found in $PATH' in err


def test_exec_in_a_container_that_is_not_running_is_refused() -> None:
    images = ImageBook()
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "proxy", "image": V1}]},
        "status": {
            "containerStatuses": [
                {"name": "proxy", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]
        },
    }
    with pytest.raises(ExecUnavailable) as refused:
        images.exec(pod, "proxy", ["smartflow-gateway", "--version", "--json"])
    assert refused.value.status == 400


def test_image_book_digests_and_addons() -> None:
    images = ImageBook()
    images.add_addons()
    pinned = "quay.io/jetstack/cert-manager-controller:v1.19.4@sha256:" + "cd" * 32
    assert images.lookup(pinned) is not None
    assert images.lookup(pinned).digest == "sha256:" + "cd" * 32  # type: ignore[union-attr]
    assert images.lookup("registry.k8s.io/ingress-nginx/controller:v1.14.1") is not None
    assert images.lookup("registry.k8s.io/ingress-nginx/controller:v1.13.0") is None
    images.add(V1, digest="ef" * 32)
    assert images.lookup(f"{V1}@sha256:{'ef' * 32}") is not None
    assert images.lookup(f"{V1}@sha256:{'00' * 32}") is None  # the registry has no such digest
    assert images.lookup("nginx") is None
    images.add("nginx:1.27")
    assert images.lookup("docker.io/library/nginx:1.27") is not None


# StatefulSets -----------------------------------------------------------------------------
def statefulset(image: str = V1, replicas: int = 3, partition: int | None = None) -> Obj:
    labels = {"app.kubernetes.io/name": "redis"}
    strategy: Obj = {"type": "RollingUpdate"}
    if partition is not None:
        strategy["rollingUpdate"] = {"partition": partition}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "redis", "namespace": NS},
        "spec": {
            "replicas": replicas,
            "serviceName": "redis",
            "selector": {"matchLabels": labels},
            "updateStrategy": strategy,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "redis",
                            "image": image,
                            "readinessProbe": {"exec": {"command": ["true"]}},
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


def sts_view(sim: Sim) -> tuple[tuple[str, str], ...]:
    """(pod, revision) of every live pod, in ordinal order."""
    return tuple(
        (p["metadata"]["name"], p["metadata"]["labels"]["controller-revision-hash"])
        for p in live_pods(sim)
        if p["metadata"]["name"].startswith("redis-")
    )


def test_statefulset_orders_creation_and_updates_from_the_top() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    sim.world.images.add(V2)
    sim.apply(statefulset())
    counts: list[int] = []
    for _ in range(20):
        sim.tick()
        n = len(live_pods(sim))
        if not counts or counts[-1] != n:
            counts.append(n)
        if (sim.get("StatefulSet", "redis").get("status") or {}).get("readyReplicas") == 3:
            break
    assert counts == [1, 2, 3]  # one at a time, each only once the previous is ready
    sts = sim.get("StatefulSet", "redis")
    first = sts["status"]["currentRevision"]
    assert first == sts["status"]["updateRevision"] and first.startswith("redis-")
    assert [r["metadata"]["name"] for r in sim.all("ControllerRevision")] == [first]
    assert [
        p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] for p in sim.all("Pod")
    ] == ["redis-0", "redis-1", "redis-2"]
    assert [c["metadata"]["name"] for c in sim.all("PersistentVolumeClaim")] == [
        "data-redis-0",
        "data-redis-1",
        "data-redis-2",
    ]
    assert all(c["status"]["phase"] == "Bound" for c in sim.all("PersistentVolumeClaim"))

    sim.apply(statefulset(image=V2, partition=1))
    order: list[str] = []
    for _ in range(30):
        sim.tick()
        for name, rev in sts_view(sim):
            if rev != first and name not in order:
                order.append(name)
    assert order == [
        "redis-2",
        "redis-1",
    ]  # from the highest ordinal down, redis-0 held by the partition
    sts = sim.get("StatefulSet", "redis")
    assert sts["status"]["currentRevision"] == first != sts["status"]["updateRevision"]
    assert (sts["status"]["updatedReplicas"], sts["status"]["currentReplicas"]) == (2, 1)

    sim.apply(statefulset(image=V2, partition=0))
    sim.until(lambda: sim.get("StatefulSet", "redis")["status"].get("updatedReplicas") == 3)
    # what `kubectl rollout status` waits for: updated and ready at spec, revisions equal
    # (the revisions alone are not enough: like the real controller, the fake makes them equal
    # while the last pod is being recreated, as status.replicas then counts only two pods)
    sim.until(lambda: sim.get("StatefulSet", "redis")["status"].get("readyReplicas") == 3)
    sts = sim.get("StatefulSet", "redis")
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    assert sts["status"]["currentReplicas"] == 3
    assert {rev for _, rev in sts_view(sim)} == {sts["status"]["updateRevision"]}


# HPA --------------------------------------------------------------------------------------
def hpa(low: int, high: int) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "proxy", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "proxy"},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def test_hpa_holds_the_target_within_its_bounds() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    sim.apply(deployment(replicas=1))
    record(sim)
    sim.apply(hpa(2, 5))
    sim.tick()
    d = sim.get("Deployment", "proxy")
    assert d["spec"]["replicas"] == 2 and counters(d)[0] == 1  # spec raised, not yet observed
    h = sim.get("HorizontalPodAutoscaler", "proxy")
    assert (h["status"]["currentReplicas"], h["status"]["desiredReplicas"]) == (1, 2)
    assert condition(h, "AbleToScale")["reason"] == "SucceededRescale"
    assert (
        sim.events("SuccessfulRescale")[0]["message"]
        == "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
    )
    assert record(sim)[-1] == (0, 2, 2, 2, 2)
    sim.tick(3)
    h = sim.get("HorizontalPodAutoscaler", "proxy")
    active = condition(h, "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert "unable to fetch metrics from resource metrics API" in active["message"]
    sim.apply(hpa(1, 1))
    sim.tick(4)
    assert sim.get("Deployment", "proxy")["spec"]["replicas"] == 1
    assert "lastScaleTime" in sim.get("HorizontalPodAutoscaler", "proxy")["status"]


def test_hpa_bounds_are_validated() -> None:
    assert admission.check(hpa(4, 2), []) == (
        422,
        'HorizontalPodAutoscaler.autoscaling "proxy" is invalid: spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`',
    )


# cert-manager -----------------------------------------------------------------------------
CM_IMAGE = "quay.io/jetstack/cert-manager-{}:v1.19.4"


def crd(kind: str, plural: str, scope: str = "Namespaced") -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.cert-manager.io"},
        "spec": {
            "group": "cert-manager.io",
            "scope": scope,
            "names": {"kind": kind, "plural": plural},
        },
    }


def cert_manager(sim: Sim) -> None:
    sim.world.images.add_addons()
    for kind, plural in (
        ("Certificate", "certificates"),
        ("CertificateRequest", "certificaterequests"),
    ):
        sim.apply(crd(kind, plural))
    sim.apply(crd("ClusterIssuer", "clusterissuers", "Cluster"))
    for part, name in (("controller", "cert-manager"), ("webhook", "cert-manager-webhook")):
        d = deployment(name=name, replicas=1, image=CM_IMAGE.format(part))
        d["metadata"]["namespace"] = "cert-manager"
        sim.apply(d)


ISSUER: Obj = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": {"name": "letsencrypt-prod"},
    "spec": {
        "acme": {
            "server": "https://acme-v02.api.letsencrypt.org/directory",
            "email": "ops@example.com",
            "privateKeySecretRef": {"name": "letsencrypt-prod"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
        }
    },
}


def test_cert_manager_webhook_refuses_until_it_is_available() -> None:
    sim = Sim()
    cert_manager(sim)
    with pytest.raises(PermissionError) as refused:
        sim.apply(ISSUER)
    code, message = refused.value.args
    assert code == 500
    assert message.startswith(
        'Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=29s"'
    )
    sim.until(lambda: available(sim, "cert-manager-webhook", "cert-manager"))
    sim.apply(ISSUER)
    assert "status" not in sim.get("ClusterIssuer", "letsencrypt-prod", "")
    sim.tick()
    ready = condition(sim.get("ClusterIssuer", "letsencrypt-prod", ""), "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "ACMEAccountRegistered")
    assert sim.get("Secret", "letsencrypt-prod", "cert-manager")["data"]["tls.key"]
    broken = copy.deepcopy(ISSUER)
    broken["metadata"]["name"] = "broken"
    del broken["spec"]["acme"]["privateKeySecretRef"]
    with pytest.raises(PermissionError) as denied:
        sim.apply(broken)
    assert denied.value.args[0] == 400
    assert 'admission webhook "webhook.cert-manager.io" denied the request' in denied.value.args[1]


def ingress(issuer: str) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "smartflow",
            "namespace": NS,
            "annotations": {"cert-manager.io/cluster-issuer": issuer},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["llm.example.com"], "secretName": "smartflow-tls"}],
            "rules": [
                {
                    "host": "llm.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "proxy", "port": {"number": 7775}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def test_ingress_shim_issues_the_certificate() -> None:
    sim = Sim()
    cert_manager(sim)
    sim.until(lambda: available(sim, "cert-manager-webhook", "cert-manager"))
    sim.apply(ISSUER)
    ing = sim.apply(ingress("letsencrypt-prod"))
    sim.tick()
    cert = sim.get("Certificate", "smartflow-tls")
    assert cert["spec"]["dnsNames"] == ["llm.example.com"]
    assert cert["spec"]["issuerRef"] == {
        "name": "letsencrypt-prod",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert cert["metadata"]["ownerReferences"][0]["uid"] == ing["metadata"]["uid"]
    readiness: list[tuple[str, str]] = []
    for _ in range(3):
        sim.tick()
        ready = condition(sim.get("Certificate", "smartflow-tls"), "Ready")
        readiness.append((ready["status"], ready["reason"]))
    assert readiness == [("False", "DoesNotExist"), ("True", "Ready"), ("True", "Ready")]
    assert (
        condition(sim.get("Certificate", "smartflow-tls"), "Ready")["message"]
        == "Certificate is up to date and has not expired"
    )
    secret = sim.get("Secret", "smartflow-tls")
    assert secret["type"] == "kubernetes.io/tls" and set(secret["data"]) == {"tls.crt", "tls.key"}
    assert secret["metadata"]["annotations"]["cert-manager.io/alt-names"] == "llm.example.com"
    # deleting the Ingress lets the garbage collector take its Certificate
    sim.delete("networking.k8s.io/v1", "Ingress", "smartflow")
    sim.tick()
    assert not sim.all("Certificate")


def test_certificate_for_a_missing_issuer_waits_with_cert_managers_words() -> None:
    sim = Sim()
    cert_manager(sim)
    sim.until(lambda: available(sim, "cert-manager", "cert-manager"))
    sim.apply(ingress("letsencrypt-staging"))
    sim.tick(4)
    ready = condition(sim.get("Certificate", "smartflow-tls"), "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "DoesNotExist",
        "Issuing certificate as Secret does not exist",
    )
    request = sim.get("CertificateRequest", "smartflow-tls-1")
    pending = condition(request, "Ready")
    assert (pending["reason"], pending["message"]) == (
        "Pending",
        'Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "letsencrypt-staging" not found',
    )
    assert sim.events("IssuerNotFound")


# Garbage collection and Jobs ---------------------------------------------------------------
def test_deleting_a_deployment_cascades_to_its_replicasets_and_pods() -> None:
    sim = Sim()
    sim.world.images.add(V1)
    sim.apply(deployment(replicas=2))
    record(sim)
    sim.delete("apps/v1", "Deployment", "proxy")
    sim.tick()
    assert not sim.all("ReplicaSet") and len(sim.all("Pod")) == 2
    sim.tick()
    assert all(p["metadata"].get("deletionTimestamp") for p in sim.all("Pod"))
    sim.tick()
    assert not sim.all("Pod")


def job(name: str, namespace: str, image: str, args: list[str], **spec: Any) -> Obj:
    container = {"name": name, "image": image, "args": args}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {"spec": {"restartPolicy": "OnFailure", "containers": [container]}},
            **spec,
        },
    }


def job_done(sim: Sim, name: str, namespace: str) -> bool:
    status = sim.get("Job", name, namespace).get("status") or {}
    return any(c["type"] == "Complete" for c in status.get("conditions", []))


def test_startupapicheck_hook_waits_for_the_webhook() -> None:
    sim = Sim()
    cert_manager(sim)
    check = job(
        "cert-manager-startupapicheck",
        "cert-manager",
        CM_IMAGE.format("startupapicheck"),
        ["check", "api", "--wait=1m"],
        backoffLimit=4,
    )
    sim.apply(check)
    sim.tick(4)
    pod = next(
        p for p in sim.all("Pod", "cert-manager") if "startupapicheck" in p["metadata"]["name"]
    )
    assert pod["status"]["phase"] == "Running" and not available(
        sim, "cert-manager-webhook", "cert-manager"
    )
    assert sim.get("Job", "cert-manager-startupapicheck", "cert-manager")["status"]["active"] == 1
    sim.until(lambda: job_done(sim, "cert-manager-startupapicheck", "cert-manager"))
    assert available(sim, "cert-manager-webhook", "cert-manager")
    status = sim.get("Job", "cert-manager-startupapicheck", "cert-manager")["status"]
    assert status["succeeded"] == 1 and "completionTime" in status
    assert condition({"status": status}, "Complete")["reason"] == "CompletionsReached"
    pod = next(
        p for p in sim.all("Pod", "cert-manager") if "startupapicheck" in p["metadata"]["name"]
    )
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert (
        pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "cert-manager-startupapicheck"
    )


INGRESS_NGINX = "registry.k8s.io/ingress-nginx/controller:v1.14.1@sha256:" + "e2" * 32
CERTGEN = "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.5@sha256:" + "7b" * 32


def ingress_nginx(sim: Sim) -> None:
    """The objects of the ingress-nginx chart that matter here (names as the real chart's)."""
    ns = "ingress-nginx"
    labels = {
        "app.kubernetes.io/name": "ingress-nginx",
        "app.kubernetes.io/component": "controller",
    }
    controller = deployment(
        name="ingress-nginx-controller",
        replicas=1,
        image=INGRESS_NGINX,
        container={
            "volumeMounts": [{"name": "webhook-cert", "mountPath": "/usr/local/certificates/"}]
        },
    )
    controller["metadata"]["namespace"] = ns
    controller["spec"]["selector"] = {"matchLabels": labels}
    controller["spec"]["template"]["metadata"]["labels"] = labels
    controller["spec"]["template"]["spec"]["volumes"] = [
        {"name": "webhook-cert", "secret": {"secretName": "ingress-nginx-admission"}}
    ]
    sim.apply(controller)
    for name, kind in (
        ("ingress-nginx-controller", "LoadBalancer"),
        ("ingress-nginx-controller-admission", "ClusterIP"),
    ):
        sim.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "type": kind,
                    "selector": labels,
                    "clusterIP": "10.96.14.7",
                    "ports": [{"port": 443}],
                },
            }
        )
    sim.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "ingress-nginx-admission"},
            "webhooks": [
                {
                    "name": "validate.nginx.ingress.kubernetes.io",
                    "rules": [
                        {
                            "apiGroups": ["networking.k8s.io"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["ingresses"],
                        }
                    ],
                    "failurePolicy": "Fail",
                    "clientConfig": {
                        "service": {
                            "name": "ingress-nginx-controller-admission",
                            "namespace": ns,
                            "port": 443,
                            "path": "/networking/v1/ingresses",
                        }
                    },
                }
            ],
        }
    )


def test_ingress_nginx_needs_its_admission_secret_and_blocks_ingresses_until_ready() -> None:
    sim = Sim()
    sim.world.images.add_addons()
    ingress_nginx(sim)
    sim.tick(5)
    pod = sim.all("Pod", "ingress-nginx")[0]
    assert waiting(pod)[0] == "ContainerCreating"  # the Secret to mount does not exist yet
    mount = sim.events("FailedMount")[0]["message"]
    assert (
        mount
        == 'MountVolume.SetUp failed for volume "webhook-cert" : secret "ingress-nginx-admission" not found'
    )
    with pytest.raises(PermissionError) as refused:
        sim.apply(ingress("letsencrypt-prod"))
    assert refused.value.args == (
        500,
        'Internal error occurred: failed calling webhook "validate.nginx.ingress.kubernetes.io": failed to call webhook: '
        'Post "https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/ingresses?timeout=10s": '
        'no endpoints available for service "ingress-nginx-controller-admission"',
    )
    hosts = "--host=ingress-nginx-controller-admission,ingress-nginx-controller-admission.$(POD_NAMESPACE).svc"
    sim.apply(
        job(
            "ingress-nginx-admission-create",
            "ingress-nginx",
            CERTGEN,
            [
                "create",
                hosts,
                "--namespace=$(POD_NAMESPACE)",
                "--secret-name=ingress-nginx-admission",
            ],
            ttlSecondsAfterFinished=0,
        )
    )
    sim.until(lambda: available(sim, "ingress-nginx-controller", "ingress-nginx"))
    assert set(sim.get("Secret", "ingress-nginx-admission", "ingress-nginx")["data"]) == {
        "ca",
        "cert",
        "key",
    }
    sim.tick()
    assert not sim.all("Job", "ingress-nginx")  # ttlSecondsAfterFinished: 0
    sim.apply(
        job(
            "ingress-nginx-admission-patch",
            "ingress-nginx",
            CERTGEN,
            [
                "patch",
                "--webhook-name=ingress-nginx-admission",
                "--namespace=$(POD_NAMESPACE)",
                "--patch-mutating=false",
                "--secret-name=ingress-nginx-admission",
                "--patch-failure-policy=Fail",
            ],
        )
    )
    sim.until(lambda: job_done(sim, "ingress-nginx-admission-patch", "ingress-nginx"))
    webhook = sim.get("ValidatingWebhookConfiguration", "ingress-nginx-admission", "")["webhooks"][
        0
    ]
    assert (
        webhook["clientConfig"]["caBundle"]
        == sim.get("Secret", "ingress-nginx-admission", "ingress-nginx")["data"]["ca"]
    )
    sim.apply(ingress("letsencrypt-prod"))
    sim.tick()
    lb = sim.get("Service", "ingress-nginx-controller", "ingress-nginx")["status"]["loadBalancer"][
        "ingress"
    ][0]["ip"]
    assert sim.get("Ingress", "smartflow")["status"]["loadBalancer"]["ingress"] == [{"ip": lb}]
    running = sim.all("Pod", "ingress-nginx")
    assert [
        p["status"]["containerStatuses"][0]["imageID"]
        for p in running
        if p["status"]["phase"] == "Running"
    ] == ["registry.k8s.io/ingress-nginx/controller@sha256:" + "e2" * 32]
