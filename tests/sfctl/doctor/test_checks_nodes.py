"""node-min-vcpu: nodes that run or may run Smartflow pods, by placement and by scheduling rules
(nodeSelector, required node affinity on role=smartflow, taints, cordons)."""

from __future__ import annotations

import copy

from sfctl.doctor.model import Inventory, Severity

from support.doctor_objects import cluster, get, pod_spec, pods_of, refs, run


def system_node(inv: Inventory) -> dict:
    return get(inv, "Node", "sf-system-1", None)


def test_small_system_node_outside_smartflow_placement_is_fine() -> None:
    inv = cluster("healthy")
    assert system_node(inv)["status"]["capacity"]["cpu"] == "2"  # 2 vCPU, but role=system
    assert run("node-min-vcpu", inv) == []


def test_small_node_labelled_for_smartflow_may_run_it() -> None:
    inv = cluster("healthy")
    system_node(inv)["metadata"]["labels"]["role"] = "smartflow"
    [finding] = run("node-min-vcpu", inv)
    assert str(finding.object) == "Node/sf-system-1"
    assert finding.severity is Severity.WARNING
    assert "node has 2 vCPU and may run Deployment/smartflow/smartflow-proxy" in finding.message
    assert "at least 4 vCPU" in finding.message and "role=smartflow" in finding.message


def test_small_node_running_a_smartflow_pod_is_found() -> None:
    inv = cluster("healthy")
    pod = pods_of(inv, "smartflow-proxy")[0]
    pod["spec"]["nodeName"] = "sf-system-1"
    [finding] = run("node-min-vcpu", inv)
    assert f"runs Pod/smartflow/{pod['metadata']['name']}" in finding.message


def test_without_node_affinity_every_node_may_run_smartflow() -> None:
    inv = cluster("healthy")
    del pod_spec(get(inv, "Deployment", "smartflow-proxy"))["affinity"]
    assert refs(run("node-min-vcpu", inv)) == ["Node/sf-system-1"]


def test_untolerated_taint_keeps_smartflow_off() -> None:
    inv = cluster("healthy")
    node = system_node(inv)
    node["metadata"]["labels"]["role"] = "smartflow"
    node["spec"]["taints"] = [{"effect": "NoSchedule", "key": "dedicated", "value": "system"}]
    assert run("node-min-vcpu", inv) == []
    pod_spec(get(inv, "Deployment", "smartflow-proxy"))["tolerations"] = [
        {"effect": "NoSchedule", "key": "dedicated", "operator": "Equal", "value": "system"}
    ]
    assert refs(run("node-min-vcpu", inv)) == ["Node/sf-system-1"]


def test_cordoned_node_gets_no_new_pods() -> None:
    inv = cluster("healthy")
    node = system_node(inv)
    node["metadata"]["labels"]["role"] = "smartflow"
    node["spec"]["unschedulable"] = True
    assert run("node-min-vcpu", inv) == []


def test_node_selector_instead_of_affinity() -> None:
    inv = cluster("healthy")
    spec = pod_spec(get(inv, "Deployment", "smartflow-proxy"))
    del spec["affinity"]
    spec["nodeSelector"] = {"role": "smartflow"}
    assert run("node-min-vcpu", inv) == []


def test_millicore_capacity_below_four() -> None:
    inv = cluster("healthy")
    node = copy.deepcopy(get(inv, "Node", "sf-worker-1", None))
    node["metadata"]["name"] = "sf-worker-4"
    node["status"]["capacity"]["cpu"] = "3920m"
    inv.add(node)
    assert refs(run("node-min-vcpu", inv)) == ["Node/sf-worker-4"]


def test_no_smartflow_workloads_no_findings() -> None:
    inv = Inventory()
    for node in cluster("healthy").of_kind("Node"):
        inv.add(node)
    assert run("node-min-vcpu", inv) == []
