"""datastore-network-policy-missing: NetworkPolicy selectors evaluated against the pods the
fixture cluster runs (Smartflow, ingress-nginx, cert-manager, CoreDNS)."""

from __future__ import annotations

from typing import Any

import pytest

from sfctl.doctor.model import Inventory, Severity

from support.doctor_objects import cluster, get, refs, remove, run

REDIS = "StatefulSet/smartflow/smartflow-redis"


def redis_policy(inv: Inventory) -> dict[str, Any]:
    return get(inv, "NetworkPolicy", "smartflow-redis")


def test_healthy_datastores_admit_only_smartflow() -> None:
    assert run("datastore-network-policy-missing", cluster("healthy")) == []


def test_no_policy_is_found() -> None:
    inv = cluster("healthy")
    remove(inv, "NetworkPolicy", "smartflow-redis")
    [finding] = run("datastore-network-policy-missing", inv)
    assert str(finding.object) == REDIS
    assert finding.severity is Severity.WARNING
    assert "Redis (no NetworkPolicy selects it" in finding.message
    assert "app.kubernetes.io/part-of: smartflow" in finding.message


def test_both_datastores_without_policies() -> None:
    inv = cluster("healthy")
    del inv.objects["NetworkPolicy"]
    assert refs(run("datastore-network-policy-missing", inv)) == [
        REDIS,
        "StatefulSet/smartflow/smartflow-timescaledb",
    ]
    assert "PostgreSQL" in run("datastore-network-policy-missing", inv)[1].message


def test_egress_only_policy_does_not_restrict_ingress() -> None:
    inv = cluster("healthy")
    policy = redis_policy(inv)
    policy["spec"]["policyTypes"] = ["Egress"]
    policy["spec"]["egress"] = [{}]
    [finding] = run("datastore-network-policy-missing", inv)
    assert "no NetworkPolicy selects it" in finding.message


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ({}, "has a rule with no `from` (every source)"),
        ({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}, "admits ipBlock 0.0.0.0/0"),
        ({"from": [{"podSelector": {}}]}, "admits every pod in namespace smartflow"),
        ({"from": [{"namespaceSelector": {}}]}, "admits every pod in matching namespaces"),
        (
            {
                "from": [
                    {
                        "namespaceSelector": {},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                    }
                ]
            },
            "admits Deployment/ingress-nginx/ingress-nginx-controller, which is not part of Smartflow",
        ),
    ],
)
def test_rules_that_admit_more_than_smartflow(rule: dict[str, Any], why: str) -> None:
    inv = cluster("healthy")
    redis_policy(inv)["spec"]["ingress"].append(rule)
    [finding] = run("datastore-network-policy-missing", inv)
    assert f"smartflow-redis {why}" in finding.message


def test_policies_add_up_a_second_open_policy_opens_it() -> None:
    inv = cluster("healthy")
    inv.add(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-monitoring", "namespace": "smartflow"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                                }
                            }
                        ]
                    }
                ],
            },
        }
    )
    found = run("datastore-network-policy-missing", inv)
    assert len(found) == 2
    assert "allow-monitoring admits every pod in matching namespaces" in found[0].message


def test_default_deny_beside_the_allow_is_fine() -> None:
    inv = cluster("healthy")
    inv.add(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "smartflow"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
    )
    assert run("datastore-network-policy-missing", inv) == []


def test_smartflow_pods_from_another_namespace_are_fine() -> None:
    inv = cluster("healthy")
    redis_policy(inv)["spec"]["ingress"][0]["from"] = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "smartflow"}},
            "podSelector": {
                "matchExpressions": [
                    {"key": "app.kubernetes.io/part-of", "operator": "In", "values": ["smartflow"]}
                ]
            },
        }
    ]
    assert run("datastore-network-policy-missing", inv) == []


def test_selector_matching_no_pod_admits_nothing() -> None:
    inv = cluster("healthy")
    redis_policy(inv)["spec"]["ingress"][0]["from"] = [
        {"podSelector": {"matchLabels": {"app": "does-not-exist"}}}
    ]
    assert run("datastore-network-policy-missing", inv) == []


def test_policy_in_another_namespace_does_not_select() -> None:
    inv = cluster("healthy")
    redis_policy(inv)["metadata"]["namespace"] = "default"
    assert refs(run("datastore-network-policy-missing", inv)) == [REDIS]


def test_datastores_outside_smartflow_are_not_judged() -> None:
    inv = cluster("healthy")
    del inv.objects["NetworkPolicy"]
    for kind, name in (
        ("StatefulSet", "smartflow-redis"),
        ("StatefulSet", "smartflow-timescaledb"),
    ):
        workload = get(inv, kind, name)
        workload["metadata"]["namespace"] = "analytics"
        for labels in (workload["metadata"]["labels"], workload["spec"]["template"]["metadata"]
                       ["labels"]):  # fmt: skip
            for key in ("app.kubernetes.io/part-of", "helm.sh/chart"):  # another chart's
                del labels[key]
    for pod in list(inv.of_kind("Pod")):
        if pod["metadata"]["name"].startswith(("smartflow-redis", "smartflow-timescaledb")):
            inv.objects["Pod"].remove(pod)
    assert run("datastore-network-policy-missing", inv) == []
