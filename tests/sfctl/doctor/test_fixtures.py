"""The fixture dumps themselves: valid Kubernetes objects (the official schemas, strict, via
kubernetes-validate), a healthy install that every check passes, and a DigitalOcean-like
cluster whose only problem is cert-manager's default webhook timeout."""

from __future__ import annotations

import kubernetes_validate
import pytest

from sfctl.doctor.collect_files import collect_files
from sfctl.doctor.engine import diagnose

from support.doctor_objects import fixture_files

KUBERNETES = "1.31.0"  # what the fixture clusters run (kubeletVersion v1.31.4)


@pytest.mark.parametrize("name", ["healthy", "doks"])
def test_every_fixture_object_is_valid_under_the_strict_schema(name: str) -> None:
    inventory = collect_files(fixture_files(name))
    objects = [obj for objs in inventory.objects.values() for obj in objs]
    assert len(objects) > 60
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_healthy_install_passes_every_check() -> None:
    report = diagnose(collect_files(fixture_files("healthy")))
    assert [f.to_dict() for f in report.findings] == []
    assert report.notes == []


def test_doks_cluster_finds_only_cert_managers_default_webhook_timeout() -> None:
    inventory = collect_files(fixture_files("doks"))
    nodes = list(inventory.of_kind("Node"))
    assert nodes and all(
        "doks.digitalocean.com/node-pool" in n["metadata"]["labels"] for n in nodes
    )
    report = diagnose(inventory)
    assert [(f.check, str(f.object)) for f in report.findings] == [
        ("webhook-timeout", "MutatingWebhookConfiguration/cert-manager-webhook"),
        ("webhook-timeout", "ValidatingWebhookConfiguration/cert-manager-webhook"),
    ]
