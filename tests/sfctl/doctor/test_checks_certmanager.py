"""cert-manager-version on the fixture clusters' cert-manager v1.19.4 install."""

from __future__ import annotations

import pytest

from sfctl.doctor.checks.certmanager import cert_manager_deployments, parse_version

from support.doctor_objects import cluster, container, get, refs, run


def test_fixture_cert_manager_is_recognised_with_its_version() -> None:
    found = {
        (d["metadata"]["name"], component, version)
        for d, component, version in cert_manager_deployments(cluster("healthy"))
    }
    assert found == {
        ("cert-manager", "controller", "v1.19.4"),
        ("cert-manager-cainjector", "cainjector", "v1.19.4"),
        ("cert-manager-webhook", "webhook", "v1.19.4"),
    }


def test_supported_and_ready_cert_manager_has_no_finding() -> None:
    assert run("cert-manager-version", cluster("healthy")) == []
    assert run("cert-manager-version", cluster("doks")) == []


def test_old_cert_manager_is_found_with_the_upgrade_command() -> None:
    inv = cluster("healthy")
    controller = get(inv, "Deployment", "cert-manager", "cert-manager")
    container(controller)["image"] = "quay.io/jetstack/cert-manager-controller:v1.12.3"
    [finding] = run("cert-manager-version", inv)
    assert str(finding.object) == "Deployment/cert-manager/cert-manager"
    assert "v1.12.3, older than v1.14" in finding.message
    assert "--version v1.19.4" in finding.message
    assert "webhook.timeoutSeconds=29" in finding.message


def test_minimum_itself_is_supported() -> None:
    inv = cluster("healthy")
    controller = get(inv, "Deployment", "cert-manager", "cert-manager")
    container(controller)["image"] = "quay.io/jetstack/cert-manager-controller:v1.14.0"
    assert run("cert-manager-version", inv) == []


def test_version_label_when_the_image_is_pinned_by_digest() -> None:
    inv = cluster("healthy")
    webhook = get(inv, "Deployment", "cert-manager-webhook", "cert-manager")
    container(webhook)["image"] = (
        "quay.io/jetstack/cert-manager-webhook@sha256:"
        "3fa6b8c4d1e2f30405a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f801234"
    )
    webhook["metadata"]["labels"]["app.kubernetes.io/version"] = "v1.13.6"
    [finding] = run("cert-manager-version", inv)
    assert "webhook runs v1.13.6" in finding.message


def test_unready_deployment_is_found() -> None:
    inv = cluster("healthy")
    webhook = get(inv, "Deployment", "cert-manager-webhook", "cert-manager")
    webhook["status"]["readyReplicas"] = 0
    webhook["status"]["availableReplicas"] = 0
    webhook["status"]["conditions"][0].update(status="False", reason="MinimumReplicasUnavailable")
    [finding] = run("cert-manager-version", inv)
    assert refs([finding]) == ["Deployment/cert-manager/cert-manager-webhook"]
    assert "not ready (0/1 replicas ready)" in finding.message


def test_unavailable_condition_is_found_even_with_ready_replicas() -> None:
    inv = cluster("healthy")
    controller = get(inv, "Deployment", "cert-manager", "cert-manager")
    controller["status"]["conditions"][0].update(status="False", reason="ProgressDeadlineExceeded")
    [finding] = run("cert-manager-version", inv)
    assert "ProgressDeadlineExceeded" in finding.message


def test_a_manifest_without_status_is_not_judged_unready() -> None:
    inv = cluster("healthy")
    for name in ("cert-manager", "cert-manager-cainjector", "cert-manager-webhook"):
        del get(inv, "Deployment", name, "cert-manager")["status"]
    assert run("cert-manager-version", inv) == []


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("v1.19.4", (1, 19, 4)),
        ("1.14", (1, 14, 0)),
        ("v1.15.0-beta.1", (1, 15, 0)),
        ("latest", None),
        (None, None),
    ],
)
def test_parse_version(text: str | None, parsed: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == parsed
