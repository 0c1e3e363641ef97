"""webhook-timeout, webhook-blocks-node-replacement and webhook-service-missing on the fixture
clusters' real webhook configurations (cert-manager, ingress-nginx) and on clusterlint's cases."""

from __future__ import annotations

from typing import Any

import pytest

from sfctl.doctor.model import Inventory, Severity

from support.doctor_objects import cluster, get, refs, remove, run

VWC, MWC = "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"


def cm_hook(inv: Inventory, kind: str = VWC) -> dict[str, Any]:
    return get(inv, kind, "cert-manager-webhook", None)["webhooks"][0]


def pod_webhook(
    name: str = "policy.example.com",
    *,
    namespace: str = "policy",
    failure: str | None = "Fail",
    selector: dict[str, Any] | None = None,
    object_selector: dict[str, Any] | None = None,
    groups: tuple[str, ...] = ("",),
    service: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A validating webhook on pods, the kind that stalls node replacement."""
    hook: dict[str, Any] = {
        "admissionReviewVersions": ["v1"],
        "clientConfig": {
            "caBundle": "LS0tLS1CRUdJTi0tLS0t",
            "service": service
            if service is not None
            else {
                "name": "policy-webhook",
                "namespace": namespace,
                "path": "/validate",
                "port": 443,
            },
        },
        "matchPolicy": "Equivalent",
        "name": name,
        "namespaceSelector": selector if selector is not None else {},
        "objectSelector": object_selector if object_selector is not None else {},
        "rules": [
            {
                "apiGroups": list(groups),
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["pods"] if groups == ("",) else ["deployments"],
                "scope": "Namespaced",
            }
        ],
        "sideEffects": "None",
        "timeoutSeconds": 10,
    }
    if failure is not None:
        hook["failurePolicy"] = failure
    return hook


def add_config(inv: Inventory, *hooks: dict[str, Any], kind: str = VWC) -> None:
    inv.add(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": "policy", "uid": "8f1c7e0a-3f0e-4a55-9a43-0a4b1b9e2f10"},
            "webhooks": list(hooks),
        }
    )


def add_namespace_and_service(inv: Inventory, namespace: str = "policy") -> None:
    inv.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}},
        }
    )
    inv.add(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "policy-webhook", "namespace": namespace},
            "spec": {"selector": {"app": "policy"}, "ports": [{"port": 443, "targetPort": 9443}]},
        }
    )


# --- webhook-timeout -------------------------------------------------------------------------


def test_timeout_healthy_cluster_has_29_seconds_and_no_finding() -> None:
    inv = cluster("healthy")
    assert cm_hook(inv)["timeoutSeconds"] == 29
    assert run("webhook-timeout", inv) == []


def test_timeout_cert_manager_default_30_is_found_with_the_fix() -> None:
    found = run("webhook-timeout", cluster("doks"))
    assert refs(found) == [f"{MWC}/cert-manager-webhook", f"{VWC}/cert-manager-webhook"]
    message = found[0].message
    assert found[0].severity is Severity.ERROR
    assert "timeoutSeconds 30" in message
    assert "DigitalOcean" in message and "between 1 and 29" in message
    assert "cert-manager >= 1.14 defaults" in message
    assert "webhook.timeoutSeconds: 29" in message


@pytest.mark.parametrize(
    ("timeout", "found"), [(0, True), (1, False), (10, False), (29, False), (30, True), (60, True)]
)
def test_timeout_bounds(timeout: int, found: bool) -> None:
    inv = cluster("healthy")
    cm_hook(inv)["timeoutSeconds"] = timeout
    assert bool(run("webhook-timeout", inv)) is found


def test_timeout_unset_is_fine_the_api_defaults_it_to_10() -> None:
    inv = cluster("doks")
    del cm_hook(inv, VWC)["timeoutSeconds"]
    del cm_hook(inv, MWC)["timeoutSeconds"]
    assert run("webhook-timeout", inv) == []


def test_timeout_other_webhook_gets_a_generic_fix() -> None:
    inv = cluster("healthy")
    hook = pod_webhook()
    hook["timeoutSeconds"] = 45
    add_config(inv, hook)
    [finding] = run("webhook-timeout", inv)
    assert str(finding.object) == f"{VWC}/policy"
    assert "policy.example.com has timeoutSeconds 45" in finding.message
    assert "Set timeoutSeconds to 29 or less" in finding.message
    assert "cert-manager" not in finding.message


# --- webhook-blocks-node-replacement (clusterlint's admission-controller-webhook-replacement) --


def test_replacement_healthy_and_doks_clusters_have_none() -> None:
    # cert-manager's and ingress-nginx's webhooks fail closed but only on their own API groups
    assert run("webhook-blocks-node-replacement", cluster("healthy")) == []
    assert run("webhook-blocks-node-replacement", cluster("doks")) == []


def test_replacement_pod_webhook_applying_everywhere_is_found() -> None:
    inv = cluster("healthy")
    add_namespace_and_service(inv)
    add_config(inv, pod_webhook())
    [finding] = run("webhook-blocks-node-replacement", inv)
    assert str(finding.object) == f"{VWC}/policy"
    assert "failurePolicy Fail" in finding.message
    assert "kube-system and in policy" in finding.message
    assert "values [kube-system, policy]" in finding.message


def test_replacement_one_finding_per_configuration_like_clusterlint() -> None:
    inv = cluster("healthy")
    add_config(inv, pod_webhook("a.example.com"), pod_webhook("b.example.com"))
    assert len(run("webhook-blocks-node-replacement", inv)) == 1


def test_replacement_mutating_webhooks_count_too() -> None:
    inv = cluster("healthy")
    add_config(inv, pod_webhook(groups=("apps",)), kind=MWC)
    assert refs(run("webhook-blocks-node-replacement", inv)) == [f"{MWC}/policy"]


def test_replacement_unset_failure_policy_is_fail_in_v1() -> None:
    inv = cluster("healthy")
    add_config(inv, pod_webhook(failure=None))
    assert len(run("webhook-blocks-node-replacement", inv)) == 1


@pytest.mark.parametrize(
    "hook",
    [
        pod_webhook(failure="Ignore"),
        pod_webhook(service={}),  # replaced below by a URL
        pod_webhook(service={"name": "kubernetes", "namespace": "default"}),
        pod_webhook(groups=("cert-manager.io",)),
        pod_webhook(
            selector={
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": ["kube-system", "policy"],
                    }
                ]
            }
        ),
        pod_webhook(selector={"matchLabels": {"policy.example.com/enforce": "true"}}),
        pod_webhook(selector={"matchExpressions": [{"key": "team", "operator": "Exists"}]}),
        pod_webhook(object_selector={"matchLabels": {"policy.example.com/inject": "true"}}),
    ],
    ids=[
        "ignore",
        "url",
        "apiserver",
        "crd-only",
        "excludes-system",
        "opt-in-namespaces",
        "exists",
        "opt-in-objects",
    ],
)
def test_replacement_negatives(hook: dict[str, Any]) -> None:
    inv = cluster("healthy")
    if not hook["clientConfig"]["service"]:
        hook["clientConfig"] = {"url": "https://policy.example.com/validate"}
    add_config(inv, hook)
    assert run("webhook-blocks-node-replacement", inv) == []


def test_replacement_selector_matching_system_but_not_own_namespace() -> None:
    """clusterlint: fine on a multi-node cluster, a problem on a single node."""
    hook = pod_webhook(
        selector={
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["policy"]}
            ]
        }
    )
    inv = cluster("healthy")
    add_namespace_and_service(inv)
    add_config(inv, hook)
    assert run("webhook-blocks-node-replacement", inv) == []
    for node in list(inv.of_kind("Node"))[1:]:
        inv.objects["Node"].remove(node)
    assert len(run("webhook-blocks-node-replacement", inv)) == 1


def test_replacement_object_selector_matching_system_pods_still_counts() -> None:
    inv = cluster("healthy")
    add_config(inv, pod_webhook(object_selector={"matchLabels": {"k8s-app": "kube-dns"}}))
    assert len(run("webhook-blocks-node-replacement", inv)) == 1


# --- webhook-service-missing (clusterlint's basic admission-controller-webhook) ---------------


def test_service_missing_none_when_every_service_exists() -> None:
    assert run("webhook-service-missing", cluster("healthy")) == []
    assert run("webhook-service-missing", cluster("doks")) == []


def test_service_missing_found_when_the_service_is_gone() -> None:
    inv = cluster("healthy")
    remove(inv, "Service", "cert-manager-webhook", "cert-manager")
    found = run("webhook-service-missing", inv)
    assert refs(found) == [f"{MWC}/cert-manager-webhook", f"{VWC}/cert-manager-webhook"]
    assert "service cert-manager/cert-manager-webhook does not exist" in found[0].message
    assert "every request it matches is rejected" in found[0].message


def test_service_missing_found_when_the_namespace_is_gone() -> None:
    inv = cluster("healthy")
    add_config(inv, pod_webhook(namespace="gatekeeper-system"))
    [finding] = run("webhook-service-missing", inv)
    assert "namespace gatekeeper-system does not exist" in finding.message


def test_service_missing_ignore_policy_says_requests_wait() -> None:
    inv = cluster("healthy")
    add_config(inv, pod_webhook(namespace="gatekeeper-system", failure="Ignore"))
    [finding] = run("webhook-service-missing", inv)
    assert "waits for its timeout" in finding.message


def test_service_missing_not_judged_without_the_objects_to_judge_by() -> None:
    """A dump of only the webhook configurations cannot say a service is missing."""
    inv = Inventory()
    for kind in (VWC, MWC):
        for config in cluster("healthy").of_kind(kind):
            inv.add(config)
    add_config(inv, pod_webhook(namespace="gatekeeper-system"))
    assert run("webhook-service-missing", inv) == []


def test_service_missing_url_webhooks_are_not_judged() -> None:
    inv = cluster("healthy")
    hook = pod_webhook()
    hook["clientConfig"] = {"url": "https://policy.example.com/validate"}
    add_config(inv, hook)
    assert run("webhook-service-missing", inv) == []
