"""`sfctl status k8s`'s model on the chart's objects as the API returns them (fixtures/pods:
`kubectl get deploy,sts,hpa,ingress,certificate -o json` after an install, and in the middle of
the crash-looping upgrade whose pods are crash-loop.json): workloads with kubectl's rollout
rules, autoscaler bounds, pods with their build, digest, restarts and age, the ingress host and
its Certificate; healthy or not, and why, one line each."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sfctl.deploy.verify import ExecFailure, VersionAnswer
from sfctl.kube.api import KubeTarget
from sfctl.kube.pods import name_shortener, release_pods
from sfctl.kube.release import Releases
from sfctl.kube.status_k8s import (
    NO_CERT_MANAGER,
    ClusterView,
    ReleaseStatus,
    autoscaler_rows,
    ingress_lines,
    pod_columns,
    pod_rows,
    release_status,
    summary_line,
    workload_rows,
)

from support.helm_chart import CHART
from support.kube_fake import FakeCluster, kube_cluster
from support.sfctl_cli import sfctl

PODS = Path(__file__).parent / "fixtures" / "pods"
NOW = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)
COMMIT = "d55e761f0c3c1f0e5a4b2f9d8e7c6b5a4f3e2d1c"
SHORT = name_shortener("smartflow")


@dataclass(frozen=True)
class Summary:
    """Helm's record of a revision (the fields `sfctl.kube.release.ReleaseSummary` has)."""

    name: str = "smartflow"
    namespace: str = "smartflow"
    revision: int = 3
    status: str = "deployed"
    chart: str = "smartflow"
    chart_version: str = "0.1.0"
    app_version: str = "0.1.0"
    updated: datetime | None = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)


def items(name: str) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((PODS / f"{name}.json").read_text())
    found: list[dict[str, Any]] = data["items"]
    return found


def view(objects: str, pods: str, *, cert_manager: bool = True) -> ClusterView:
    objs = items(objects)

    def kind(name: str) -> list[dict[str, Any]]:
        return [o for o in objs if o["kind"] == name]

    return ClusterView(
        workloads=[*kind("Deployment"), *kind("StatefulSet")],
        autoscalers=kind("HorizontalPodAutoscaler"),
        pods=items(pods),
        events=[],
        ingresses=kind("Ingress"),
        certificates=kind("Certificate") if cert_manager else None,
    )


def answered(
    found: ClusterView, *, commit: str = COMMIT
) -> dict[tuple[str, str], VersionAnswer | ExecFailure]:
    answers: dict[tuple[str, str], VersionAnswer | ExecFailure] = {}
    for pod in release_pods(found.pods, "smartflow", NOW):
        for c in pod.containers:
            if c.gateway and c.state == "running":
                answers[(pod.name, c.name)] = VersionAnswer(c.image.rsplit(":", 1)[1], commit)
    return answers


def status(objects: str = "objects-healthy", pods: str = "one-build", **kw: Any) -> ReleaseStatus:
    found = view(objects, pods, cert_manager=kw.pop("cert_manager", True))
    answers = kw.pop("answers", answered(found))
    return release_status(
        "smartflow", "smartflow", kw.pop("summary", Summary()), found, answers=answers, now=NOW
    )


def test_a_healthy_release() -> None:
    healthy = status()
    assert healthy.ok and healthy.problems == () and healthy.notes == ()
    assert summary_line(healthy) == (
        "release smartflow in smartflow: revision 3 deployed, chart smartflow-0.1.0 "
        "(app 0.1.0), updated 2025-06-02 07:00 UTC"
    )
    assert workload_rows(healthy, SHORT) == [
        ["deploy/api-server", "2", "2", "2", "2", "done"],
        ["deploy/compliance", "1", "1", "1", "1", "done"],
        ["deploy/policy-perfect", "1", "1", "1", "1", "done"],
        ["deploy/proxy", "2", "2", "2", "2", "done"],
        ["sts/redis", "1", "1", "1", "1", "done"],
        ["sts/timescaledb", "1", "1", "1", "1", "done"],
    ]
    assert autoscaler_rows(healthy, SHORT) == [["proxy", "2", "2", "2", "8", "12%/60%"]]
    assert ingress_lines(healthy) == [
        "ingress smartflow: https://smartflow.example.com, certificate smartflow-tls: ready, "
        "until 2025-08-31"
    ]


def test_pods_show_build_digest_restarts_and_age() -> None:
    healthy = status()
    assert pod_columns(healthy) == (
        "pod",
        "ready",
        "status",
        "version",
        "digest",
        "restarts",
        "age",
    )
    rows = {row[0]: row for row in pod_rows(healthy, SHORT)}
    proxy = next(row for name, row in rows.items() if name.startswith("proxy-"))
    assert proxy[1:] == ["1/1", "Running", "0.1.0 d55e761", "662476589556", "0", "2d03h"]
    assert rows["redis-0"][3] == "-" and rows["redis-0"][4] == "3f0338f9cc5a"
    not_asked = status(answers=None)
    assert "version" not in pod_columns(not_asked) and not not_asked.asked
    dirty = status(answers=answered(view("objects-healthy", "one-build"), commit=f"{COMMIT}-dirty"))
    assert any(row[3] == "0.1.0 d55e761*" for row in pod_rows(dirty, SHORT))


def test_a_gateway_that_cannot_say_its_build_is_a_note_and_a_question_mark() -> None:
    found = view("objects-healthy", "one-build")
    refused = {k: ExecFailure("exec refused (403): no pods/exec") for k in answered(found)}
    seen = status(answers=refused)
    assert seen.ok  # running and available: healthy, though its build is unknown
    assert all(row[3] in ("?", "-") for row in pod_rows(seen, SHORT))
    assert len(seen.notes) == 6 and "cannot read its build: exec refused (403)" in seen.notes[0]


def test_a_crash_looping_upgrade_is_not_healthy_and_says_why() -> None:
    rolling = status("objects-rolling", "crash-loop")
    assert not rolling.ok
    problems = rolling.problems
    assert (
        'Waiting for deployment "smartflow-proxy" rollout to finish: 1 out of 2 new replicas have been updated...'
        in problems
    )
    crash = next(p for p in problems if "CrashLoopBackOff" in p)
    assert crash.startswith("pod smartflow-proxy-")
    assert 'container "proxy" keeps crashing: restarted 5 times, last exit code 1 (Error)' in crash
    assert any("ImagePullBackOff" in p and "gateway:0.3.1" in p for p in problems)
    assert any(
        "Unschedulable: 0/3 nodes are available: 3 Insufficient memory" in p for p in problems
    )
    assert problems[-1] == (
        "ingress smartflow: certificate smartflow-tls: not ready (Issuing certificate as Secret "
        "does not exist)"
    )
    assert all("\n" not in p for p in problems)
    rows = {row[0]: row for row in pod_rows(rolling, SHORT)}
    crashing = next(row for row in rows.values() if row[2] == "CrashLoopBackOff")
    assert (
        crashing[1] == "0/1" and crashing[3] == "-" and crashing[5] == "5" and crashing[6] == "6m"
    )
    assert any(row[2] == "Pending" and row[4] == "-" for row in rows.values())
    assert workload_rows(rolling, SHORT)[3] == ["deploy/proxy", "2", "1", "2", "2", "progressing"]


def test_without_cert_manager_the_certificate_is_a_problem_only_if_the_ingress_asks_for_it() -> (
    None
):
    missing = status(cert_manager=False)
    assert missing.problems == (f"ingress smartflow: certificate smartflow-tls: {NO_CERT_MANAGER}",)
    found = view("objects-healthy", "one-build", cert_manager=False)
    for ingress in found.ingresses:
        ingress["metadata"]["annotations"].pop("cert-manager.io/cluster-issuer")
    by_hand = release_status("smartflow", "smartflow", Summary(), found, answers=None, now=NOW)
    assert by_hand.ok and by_hand.notes == (
        f"ingress smartflow: certificate smartflow-tls: {NO_CERT_MANAGER}",
    )


def test_a_certificate_not_created_yet_is_a_problem() -> None:
    found = view("objects-healthy", "one-build")
    none = ClusterView(found.workloads, found.autoscalers, found.pods, [], found.ingresses, [])
    seen = release_status("smartflow", "smartflow", Summary(), none, answers=None, now=NOW)
    assert seen.problems == (
        "ingress smartflow: certificate smartflow-tls: not created (cert-manager has made no "
        "Certificate for it)",
    )


def test_a_pending_release_and_an_autoscaler_that_cannot_scale() -> None:
    found = view("objects-healthy", "one-build")
    hpa = copy.deepcopy(found.autoscalers[0])
    active = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingActive")
    active.update(
        status="False",
        reason="FailedGetResourceMetric",
        message="the HPA was unable to compute the replica count: failed to get cpu utilization: "
        "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
    )
    del hpa["status"]["currentMetrics"]
    blind = ClusterView(found.workloads, [hpa], found.pods, [], found.ingresses, found.certificates)
    stuck = release_status(
        "smartflow", "smartflow", Summary(status="pending-upgrade"), blind, answers=None, now=NOW
    )
    assert stuck.problems == ("release smartflow: revision 3 is pending-upgrade",)
    (note,) = stuck.notes
    assert note.startswith("hpa/smartflow-proxy: cannot scale (the HPA was unable to compute")
    assert autoscaler_rows(stuck, SHORT) == [["proxy", "2", "2", "2", "8", "?/60%"]]


def test_the_json_has_everything() -> None:
    payload = status("objects-rolling", "crash-loop").to_json()
    assert payload["ok"] is False and payload["release"] == "smartflow"
    assert payload["helm"]["revision"] == 3 and payload["helm"]["updated"].startswith("2025-06-02")
    proxy = next(w for w in payload["workloads"] if w["name"] == "smartflow-proxy")
    assert (proxy["desired"], proxy["updated"], proxy["rollout"]) == (2, 1, "progressing")
    assert payload["autoscalers"][0] | {} == {
        "name": "smartflow-proxy",
        "target": "deployment/smartflow-proxy",
        "current": 2,
        "desired": 2,
        "min": 2,
        "max": 8,
        "cpu_percent": 12,
        "cpu_target_percent": 60,
        "scaling_active": True,
        "message": payload["autoscalers"][0]["message"],
    }
    pods = payload["pods"]
    assert len(pods) == 11
    crash = next(p for p in pods if p["problem"] and "CrashLoopBackOff" in p["problem"])
    assert crash["containers"][0]["digest"].startswith("sha256:") and crash["restarts"] == 5
    running = next(p for p in pods if p["version"])
    assert running["commit"] == COMMIT and running["containers"][0]["image_id"]
    (ingress,) = payload["ingresses"]
    assert (
        ingress["hosts"] == ["smartflow.example.com"] and ingress["certificate"]["ready"] is False
    )
    assert payload["problems"] and json.dumps(payload)


# --- against the fake API server --------------------------------------------------------------

REPO = "registry.example.com/smartflow/gateway"
NEW_COMMIT = "4f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
CM_KINDS = (
    ("Certificate", "certificates", "Namespaced"),
    ("CertificateRequest", "certificaterequests", "Namespaced"),
    ("ClusterIssuer", "clusterissuers", "Cluster"),
    ("Issuer", "issuers", "Namespaced"),
)


def cert_manager(cluster: FakeCluster) -> None:
    """What the fake's cert-manager needs to issue the ingress's certificate: its CRDs (the
    schemas left open), its controller and webhook running, and the guide's ClusterIssuer."""
    cluster.images.add_addons()
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}})
    for kind, plural, scope in CM_KINDS:
        cluster.apply(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.cert-manager.io"},
                "spec": {
                    "group": "cert-manager.io",
                    "scope": scope,
                    "names": {
                        "kind": kind,
                        "listKind": f"{kind}List",
                        "plural": plural,
                        "singular": kind.lower(),
                    },
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "subresources": {"status": {}},
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                },
            }
        )
    for name, part in (("cert-manager", "controller"), ("cert-manager-webhook", "webhook")):
        labels = {"app.kubernetes.io/name": name}
        pod = {
            "containers": [{"name": part, "image": f"quay.io/jetstack/cert-manager-{part}:v1.19.4"}]
        }
        cluster.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "cert-manager"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": pod},
                },
            }
        )
    cluster.tick(5)  # the webhook answers: cert-manager objects are admitted from here on
    cluster.apply(
        {
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
    )


def helm(cluster: FakeCluster, tag: str, *, upgrade: bool = False) -> None:
    with Releases(KubeTarget(cluster.kubeconfig, cluster.context, "smartflow")) as releases:
        apply = releases.upgrade if upgrade else releases.install
        apply(CHART, "smartflow", {"image": {"repository": REPO, "tag": tag}})


def settle(cluster: FakeCluster, done: Callable[[FakeCluster], bool], ticks: int = 80) -> None:
    for _ in range(ticks):
        if done(cluster):
            return
        cluster.tick()
    raise AssertionError("the cluster did not settle")


def healthy(cluster: FakeCluster) -> bool:
    pods = release_pods(cluster.list("v1", "Pod", "smartflow"), "smartflow", cluster.now)
    certs = cluster.list("cert-manager.io/v1", "Certificate", "smartflow")
    ready = [
        c
        for c in certs
        if any(
            x.get("type") == "Ready" and x.get("status") == "True"
            for x in (c.get("status") or {}).get("conditions") or []
        )
    ]
    return len(pods) == 8 and all(p.ready for p in pods) and len(ready) == 1


def live(cluster: FakeCluster, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = sfctl(
        "status", "k8s", *args,
        "--kubeconfig", str(cluster.kubeconfig), "--context", cluster.context,
        "--namespace", "smartflow",
        cwd=tmp_path, columns=80,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    if "json" not in args:
        assert all(len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
    return done


@pytest.mark.timeout(300)
def test_live_status_of_a_healthy_release_then_a_failed_upgrade(tmp_path: Path) -> None:
    with kube_cluster(tmp_path) as cluster, cluster.paused():
        cert_manager(cluster)
        cluster.images.add(f"{REPO}:0.1.0", version="0.1.0", commit=COMMIT)
        cluster.images.add("redis:7.2-alpine", gateway=False, version="7.2-alpine")
        cluster.images.add("timescale/timescaledb:2.17.2-pg16", gateway=False, version="2.17.2")
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "smartflow"}})
        helm(cluster, "0.1.0")
        settle(cluster, healthy)

        done = live(cluster, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert out.startswith(
            "release smartflow in smartflow: revision 1 deployed, chart smartflow-0.1.0"
        )
        for title in ("workloads", "autoscalers", "pods", "continued (2/2)"):
            assert title in out
        assert "│ deploy/proxy " in out and "│ sts/redis " in out
        assert out.count("0.1.0 d55e761") == 6  # each gateway pod's own answer
        assert "certificate smartflow-tls: ready, until" in " ".join(out.split())
        assert "✓ smartflow is healthy" in out
        assert "hpa/smartflow-proxy: cannot scale" in done.stderr  # no metrics API: a note only

        payload = json.loads(live(cluster, tmp_path, "-o", "json").stdout)
        assert payload["ok"] is True and payload["helm"]["revision"] == 1
        assert payload["autoscalers"][0]["min"] == 2 and payload["autoscalers"][0]["max"] == 8
        assert payload["ingresses"][0]["certificate"]["ready"] is True
        assert {p["version"] for p in payload["pods"] if p["component"] == "proxy"} == {"0.1.0"}

        asked = sum(r[1].endswith("/exec") for r in cluster.requests)
        quiet = live(cluster, tmp_path, "--no-exec")
        assert quiet.returncode == 0 and "version" not in quiet.stdout
        assert sum(r[1].endswith("/exec") for r in cluster.requests) == asked  # none asked

        cluster.images.crash(f"{REPO}:0.2.0", logs=["boom"], version="0.2.0", commit=NEW_COMMIT)
        helm(cluster, "0.2.0", upgrade=True)
        settle(
            cluster,
            lambda c: (
                sum(
                    p.containers[0].reason == "CrashLoopBackOff"
                    for p in release_pods(c.list("v1", "Pod", "smartflow"), "smartflow", c.now)
                )
                == 4
            ),
        )
        failed = live(cluster, tmp_path)
        assert failed.returncode == 1
        assert "revision 2 deployed" in failed.stdout
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
        crashing = [line for line in errors if "CrashLoopBackOff" in line]
        assert len(crashing) == 4 and all("keeps crashing: restarted" in line for line in crashing)
        assert any(
            'Waiting for deployment "smartflow-proxy" rollout to finish' in line for line in errors
        )
