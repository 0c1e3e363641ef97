"""replicas-below-ha and pdb-blocks-drain: what a node drain during an upgrade does to the
install (and to any workload a PodDisruptionBudget protects)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sfctl.doctor.model import Inventory, Severity

from support.doctor_objects import cluster, get, refs, remove, run


def test_healthy_install_is_clean() -> None:
    inv = cluster("healthy")
    assert run("replicas-below-ha", inv) == []
    assert run("pdb-blocks-drain", inv) == []


# --- replicas-below-ha -----------------------------------------------------------------------


def test_single_api_server_is_found() -> None:
    inv = cluster("healthy")
    get(inv, "Deployment", "smartflow-api-server")["spec"]["replicas"] = 1
    [finding] = run("replicas-below-ha", inv)
    assert str(finding.object) == "Deployment/smartflow/smartflow-api-server"
    assert finding.severity is Severity.WARNING
    assert "api-server can run a single replica (replicas is 1)" in finding.message


def test_hpa_min_replicas_is_the_floor() -> None:
    inv = cluster("healthy")
    get(inv, "Deployment", "smartflow-proxy")["spec"]["replicas"] = 1  # the HPA keeps 2
    assert run("replicas-below-ha", inv) == []
    get(inv, "HorizontalPodAutoscaler", "smartflow-proxy")["spec"]["minReplicas"] = 1
    get(inv, "Deployment", "smartflow-proxy")["spec"]["replicas"] = 3
    [finding] = run("replicas-below-ha", inv)
    assert "HorizontalPodAutoscaler's minReplicas is 1" in finding.message


def test_hpa_without_min_replicas_defaults_to_one() -> None:
    inv = cluster("healthy")
    del get(inv, "HorizontalPodAutoscaler", "smartflow-proxy")["spec"]["minReplicas"]
    assert refs(run("replicas-below-ha", inv)) == ["Deployment/smartflow/smartflow-proxy"]


def test_single_compliance_and_policy_are_as_the_guide_runs_them() -> None:
    inv = cluster("healthy")
    assert get(inv, "Deployment", "smartflow-compliance")["spec"]["replicas"] == 1
    assert run("replicas-below-ha", inv) == []


# --- pdb-blocks-drain ------------------------------------------------------------------------


def pdb(inv: Inventory, name: str = "smartflow-proxy", ns: str = "smartflow") -> dict[str, Any]:
    return get(inv, "PodDisruptionBudget", name, ns)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"minAvailable": 2}, "minAvailable is 2 with 2 pod(s)"),
        ({"minAvailable": "100%"}, "minAvailable is 100% with 2 pod(s)"),
        ({"maxUnavailable": 0}, "maxUnavailable is 0"),
        ({"maxUnavailable": "0%"}, "maxUnavailable is 0%"),
    ],
)
def test_budgets_that_allow_no_eviction(spec: dict[str, Any], why: str) -> None:
    inv = cluster("healthy")
    budget = pdb(inv)
    budget["spec"] = {"selector": budget["spec"]["selector"], **spec}
    del budget["status"]  # a manifest: counted from the Deployment's replicas
    [finding] = run("pdb-blocks-drain", inv)
    assert str(finding.object) == "PodDisruptionBudget/smartflow/smartflow-proxy"
    assert finding.severity is Severity.ERROR
    assert f"({why})" in finding.message
    assert "maxUnavailable: 1" in finding.message


@pytest.mark.parametrize(
    "spec",
    [
        {"minAvailable": 1},
        {"minAvailable": "50%"},
        {"maxUnavailable": 1},
        {"maxUnavailable": "10%"},
    ],
)
def test_budgets_that_allow_one_eviction(spec: dict[str, Any]) -> None:
    inv = cluster("healthy")
    budget = pdb(inv)
    budget["spec"] = {"selector": budget["spec"]["selector"], **spec}
    del budget["status"]
    assert run("pdb-blocks-drain", inv) == []


def test_live_status_with_no_disruption_allowed() -> None:
    """minAvailable 1 of 2, but one pod is down: a drain blocks now."""
    inv = cluster("healthy")
    pdb(inv)["status"].update(currentHealthy=1, desiredHealthy=1, disruptionsAllowed=0)
    [finding] = run("pdb-blocks-drain", inv)
    assert "allows no disruption now (1 healthy, 1 required)" in finding.message


def test_status_expected_pods_wins_over_the_template_count() -> None:
    inv = cluster("healthy")
    budget = pdb(inv)
    budget["spec"] = {"selector": budget["spec"]["selector"], "minAvailable": 2}
    budget["status"]["expectedPods"] = 3  # the HPA scaled out to 3
    assert run("pdb-blocks-drain", inv) == []


def test_budget_selecting_nothing_blocks_nothing() -> None:
    inv = cluster("healthy")
    budget = copy.deepcopy(pdb(inv))
    budget["metadata"]["name"] = "leftover"
    budget["spec"] = {"selector": {"matchLabels": {"app": "gone"}}, "minAvailable": 1}
    del budget["status"]
    inv.add(budget)
    assert run("pdb-blocks-drain", inv) == []


def test_budgets_outside_smartflow_block_drains_too() -> None:
    inv = cluster("healthy")
    coredns = pdb(inv, "coredns", "kube-system")
    coredns["spec"] = {"selector": coredns["spec"]["selector"], "minAvailable": 2}
    del coredns["status"]
    assert refs(run("pdb-blocks-drain", inv)) == ["PodDisruptionBudget/kube-system/coredns"]


def test_single_replica_statefulset_with_min_available_one() -> None:
    inv = cluster("healthy")
    remove(inv, "PodDisruptionBudget", "smartflow-api-server")
    inv.add(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "smartflow-redis", "namespace": "smartflow"},
            "spec": {
                "minAvailable": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "redis"}},
            },
        }
    )
    [finding] = run("pdb-blocks-drain", inv)
    assert "minAvailable is 1 with 1 pod(s)" in finding.message
