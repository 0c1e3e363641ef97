"""The runtime checks on pods, PodMetrics and health answers as the API and the gateway serve
them: a healthy Smartflow namespace (no findings) and one in trouble (each problem found once)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sfctl.doctor.checks import all_checks
from sfctl.doctor.checks.runtime import (
    database_unreachable,
    gateway_version_skew,
    image_digest,
    memory_pressure,
    pod_not_ready,
    pod_restarts,
    redis_unreachable,
    workload_of,
)
from sfctl.doctor.model import Inventory, ObjectRef, Severity

FIXTURES = Path(__file__).parent / "fixtures" / "runtime"
RUNTIME_IDS = {
    "pod-not-ready",
    "pod-restarts",
    "memory-pressure",
    "gateway-version-skew",
    "redis-unreachable",
    "database-unreachable",
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def cluster(pods: str, metrics: str | None = None) -> Inventory:
    inventory = Inventory()
    inventory.add(load(pods))
    if metrics:
        inventory.add(load(metrics))
    return inventory


def health(*names: str) -> Inventory:
    return Inventory(gateway_health=[(f"http://gw-{i}:7778", load(n)) for i, n in enumerate(names)])


def test_runtime_group_holds_these_checks() -> None:
    assert {c.id for c in all_checks().values() if "runtime" in c.groups} == RUNTIME_IDS


def test_healthy_namespace_and_gateway_have_no_findings() -> None:
    inventory = cluster("pods-healthy.json", "podmetrics-healthy.json")
    inventory.gateway_health = health("health-ok.json").gateway_health
    assert len(inventory.pod_metrics) == 7
    checks = [c for c in all_checks().values() if "runtime" in c.groups]
    assert [f for c in checks for f in c(inventory)] == []


def test_not_ready_pods_with_their_reasons() -> None:
    findings = list(pod_not_ready(cluster("pods-unhealthy.json")))
    got = {(f.object.name, f.severity) for f in findings}
    assert got == {
        ("smartflow-api-server-5c8d7f9b6-r8v3n", Severity.ERROR),
        ("smartflow-policy-perfect-84b6d9c7f-h5d1s", Severity.ERROR),
        ("coredns-854895db77-8xkq2", Severity.WARNING),  # not Smartflow's
    }  # the Succeeded job pod and the terminating proxy pod are not counted
    messages = {f.object.name: f.message for f in findings}
    assert (
        "waiting (CrashLoopBackOff: back-off 5m0s"
        in messages["smartflow-api-server-5c8d7f9b6-r8v3n"]
    )
    assert (
        "not scheduled (Unschedulable: 0/3 nodes are available: 3 Insufficient memory"
        in (messages["smartflow-policy-perfect-84b6d9c7f-h5d1s"])
    )
    assert "containers with unready status: [coredns]" in messages["coredns-854895db77-8xkq2"]


def test_failed_pod_is_not_ready() -> None:
    pod = copy.deepcopy(load("pods-healthy.json")["items"][0])
    pod["status"] = {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory.",
    }
    [finding] = pod_not_ready(Inventory(objects={"Pod": [pod]}))
    assert "it failed (Evicted: The node was low on resource: memory.)" in finding.message


def test_a_manifest_without_status_is_not_judged() -> None:
    """Pods from rendered manifests (a Helm test pod) have no status: nothing ran yet."""
    pod = {k: v for k, v in load("pods-healthy.json")["items"][0].items() if k != "status"}
    assert list(pod_not_ready(Inventory(objects={"Pod": [pod]}))) == []


def test_oom_kill_and_crash_loop_restarts() -> None:
    findings = list(pod_restarts(cluster("pods-unhealthy.json")))
    assert [(f.object.name, f.severity) for f in findings] == [
        ("smartflow-api-server-5c8d7f9b6-r8v3n", Severity.WARNING),
        ("smartflow-compliance-6f7b8c9d5-c2w6j", Severity.ERROR),
    ]
    crash, oom = findings
    assert "restarted 7 times; last exit: Error (code 2)" in crash.message
    assert "kubectl logs --previous -c api-server" in crash.message
    assert "was OOMKilled (4 restarts): its memory limit (512Mi) is too low" in oom.message


def test_one_oom_kill_is_enough_and_two_restarts_are_not() -> None:
    pod = copy.deepcopy(load("pods-healthy.json")["items"][0])
    state = pod["status"]["containerStatuses"][0]
    state["restartCount"] = 2
    assert list(pod_restarts(Inventory(objects={"Pod": [pod]}))) == []
    state["restartCount"] = 1
    state["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    [finding] = pod_restarts(Inventory(objects={"Pod": [pod]}))
    assert finding.severity is Severity.ERROR


def test_memory_pressure_from_pod_metrics() -> None:
    """compliance at 475Mi of 512Mi (93%) is found; proxy at 450Mi of 512Mi (88%) is not."""
    [finding] = memory_pressure(cluster("pods-unhealthy.json", "podmetrics-pressure.json"))
    assert finding.object == ObjectRef("Pod", "smartflow-compliance-6f7b8c9d5-c2w6j", "smartflow")
    assert "uses 475Mi of its 512Mi memory limit (93%)" in finding.message


def test_metrics_without_a_limit_or_a_pod_are_skipped() -> None:
    inventory = cluster("pods-healthy.json", "podmetrics-healthy.json")
    for item in inventory.pod_metrics:
        item["containers"][0]["usage"]["memory"] = "64Gi"
    for pod in inventory.of_kind("Pod"):
        pod["spec"]["containers"][0]["resources"].pop("limits", None)
    assert list(memory_pressure(inventory)) == []


def test_version_skew_from_image_digests() -> None:
    [finding] = gateway_version_skew(cluster("pods-unhealthy.json"))
    assert finding.object == ObjectRef("Deployment", "smartflow-proxy", "smartflow")
    assert finding.severity is Severity.WARNING
    assert "2 different images in container proxy" in finding.message
    assert "sha256:3f1d8c0a9b7e: smartflow-proxy-7d9c6b5f4-x7k2p" in finding.message
    assert "sha256:9a8b7c6d5e4f: smartflow-proxy-7d9c6b5f4-m4q9t)" in finding.message  # not z0b7c


def test_version_skew_across_gateways() -> None:
    inventory = health("health-ok.json", "health-ok.json")
    assert list(gateway_version_skew(inventory)) == []
    inventory.gateway_health[1][1]["version"]["git_commit"] = "9d00bfb"
    [finding] = gateway_version_skew(inventory)
    assert finding.object == ObjectRef("GatewayComponent", "all")
    assert "0.1.0 4f2a9c1: http://gw-0:7778; 0.1.0 9d00bfb: http://gw-1:7778" in finding.message


@pytest.mark.parametrize(
    ("names", "redis", "database"),
    [
        (("health-ok.json",), 0, 0),
        (("health-redis-down.json",), 1, 0),
        (("health-both-down.json",), 1, 1),
        (("health-redis-down.json", "health-both-down.json"), 2, 1),
    ],
)
def test_dependencies_from_health(names: tuple[str, ...], redis: int, database: int) -> None:
    inventory = health(*names)
    assert len(list(redis_unreachable(inventory))) == redis
    assert len(list(database_unreachable(inventory))) == database


def test_dependency_messages_name_the_gateway_and_the_error() -> None:
    inventory = health("health-both-down.json")
    [redis] = redis_unreachable(inventory)
    [database] = database_unreachable(inventory)
    assert redis.object == ObjectRef("GatewayComponent", "redis")
    assert redis.message.startswith(
        "http://gw-0:7778: the gateway cannot reach Redis (ConnectionError"
    )
    assert "KEYSTORE_REDIS_URL" in redis.message
    assert database.message.startswith(
        "http://gw-0:7778: the gateway cannot reach its database (ConnectionRefusedError"
    )
    assert "DATABASE_URL" in database.message


def test_embedded_gateway_has_no_redis_component() -> None:
    answer = load("health-ok.json")
    del answer["components"]["redis"]
    assert list(redis_unreachable(Inventory(gateway_health=[("x", answer)]))) == []


def test_workload_and_digest_helpers() -> None:
    pods = load("pods-healthy.json")["items"]
    assert workload_of(pods[0]) == ObjectRef("Deployment", "smartflow-proxy", "smartflow")
    assert workload_of(pods[5]) == ObjectRef("StatefulSet", "smartflow-redis", "smartflow")
    bare = {"kind": "Pod", "metadata": {"name": "debug", "namespace": "default"}}
    assert workload_of(bare) == ObjectRef("Pod", "debug", "default")
    assert image_digest("docker-pullable://redis@sha256:ab") == "sha256:ab"
    assert image_digest("sha256:cd") == "sha256:cd"
    assert image_digest("") == ""
