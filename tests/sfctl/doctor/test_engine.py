"""The engine: check selection, a crashing check, suppressions (annotation, namespace, config
file), counts and the exit code rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sfctl.doctor.checks import all_checks
from sfctl.doctor.engine import INTERNAL_ERROR, diagnose, exit_code, run_checks, select_checks
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.suppress import ANNOTATION, load_config, parse_annotation
from sfctl.errors import SfctlError, UsageError

from support.doctor_objects import cluster, get

CHECKS = all_checks()


def broken_cluster() -> Inventory:
    """The DigitalOcean fixture (2 webhook-timeout errors) plus a :latest proxy (a warning)."""
    inv = cluster("doks")
    proxy = get(inv, "Deployment", "smartflow-proxy")
    proxy["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/smartflow-ai/smartflow"
    return inv


# --- selection -------------------------------------------------------------------------------


def test_every_check_is_declared_once_with_a_summary_and_groups() -> None:
    assert len(CHECKS) >= 28
    for chk in CHECKS.values():
        assert chk.summary and chk.groups
        assert chk.id == chk.id.lower() and " " not in chk.id


def test_upgrade_group_is_the_runbook_subset() -> None:
    upgrade = {c.id for c in select_checks(CHECKS, groups=["upgrade"])}
    assert {
        "webhook-timeout",
        "webhook-blocks-node-replacement",
        "webhook-service-missing",
        "cert-manager-version",
        "pdb-blocks-drain",
        "replicas-below-ha",
        "pod-not-ready",
    } <= upgrade
    assert "dns-ndots" not in upgrade and "compose-mem-limit-missing" not in upgrade


def test_only_skip_and_comma_lists() -> None:
    picked = select_checks(
        CHECKS, only=["webhook-timeout,dns-ndots", "pdb-blocks-drain"], skip=["dns-ndots"]
    )
    assert [c.id for c in picked] == [
        c for c in CHECKS if c in ("webhook-timeout", "pdb-blocks-drain")
    ]


def test_group_and_only_intersect() -> None:
    picked = select_checks(CHECKS, only=["dns-ndots", "webhook-timeout"], groups=["upgrade"])
    assert [c.id for c in picked] == ["webhook-timeout"]


def test_unknown_check_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as raised:
        select_checks(CHECKS, skip=["webhook-timout"])
    assert "unknown check(s): webhook-timout" in str(raised.value)
    assert "webhook-timeout" in str(raised.value) and "dns-ndots" in str(raised.value)
    assert raised.value.exit_code == 2


def test_unknown_group_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown group\(s\): upgrades\. Valid groups: .*upgrade"):
        select_checks(CHECKS, groups=["upgrades"])


# --- running ---------------------------------------------------------------------------------


@check("explodes", Severity.WARNING, groups={"test"}, summary="a check with a bug")
def explodes(inv: Inventory) -> Iterator[Finding]:
    yield Finding("explodes", Severity.WARNING, ObjectRef("Node", "a"), "first one is fine")
    raise KeyError("spec")


def test_a_crashing_check_becomes_a_finding_and_the_others_still_run() -> None:
    findings = run_checks([explodes, CHECKS["webhook-timeout"]], cluster("doks"))
    internal = [f for f in findings if f.check == INTERNAL_ERROR]
    assert len(internal) == 1
    assert str(internal[0].object) == "DoctorCheck/explodes"
    assert internal[0].severity is Severity.ERROR
    assert "check explodes failed: KeyError: 'spec'" in internal[0].message
    assert "--skip explodes" in internal[0].message
    assert sum(f.check == "webhook-timeout" for f in findings) == 2


def test_report_orders_by_severity_and_counts() -> None:
    report = diagnose(broken_cluster())
    assert [f.severity for f in report.findings] == sorted(
        (f.severity for f in report.findings), reverse=True
    )
    summary = report.summary(Severity.ERROR)
    assert summary["error"] == 2 and summary["warning"] == 1 and summary["info"] == 0
    assert summary["findings"] == 3 and summary["suppressed"] == 0
    assert summary["checks_run"] == len(CHECKS)
    assert summary["failed"] is True and summary["fail_on"] == "error"


def test_exit_code_rule() -> None:
    warning = Finding("dns-ndots", Severity.WARNING, ObjectRef("Deployment", "x", "y"), "m")
    assert exit_code([], Severity.ERROR) == 0
    assert exit_code([warning], Severity.ERROR) == 0
    assert exit_code([warning], Severity.WARNING) == 1
    assert exit_code([warning], Severity.INFO) == 1
    suppressed = Finding("dns-ndots", Severity.ERROR, warning.object, "m", suppressed="ok")
    assert exit_code([suppressed], Severity.INFO) == 0


# --- suppression -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (
            "webhook-timeout: managed by DigitalOcean",
            {"webhook-timeout": "managed by DigitalOcean"},
        ),
        ("a: one, b: two", {"a": "one", "b": "two"}),
        ("a: first, with a comma\nb: second", {"a": "first, with a comma", "b": "second"}),
        ("image-latest-tag", {"image-latest-tag": "no reason given"}),
        ("a: x, b", {"a": "x", "b": "no reason given"}),
        ("", {}),
    ],
)
def test_parse_annotation(text: str, parsed: dict[str, str]) -> None:
    assert parse_annotation(text) == parsed


def test_annotation_on_the_object_suppresses_and_keeps_the_finding() -> None:
    inv = broken_cluster()
    config = get(inv, "ValidatingWebhookConfiguration", "cert-manager-webhook", None)
    config["metadata"]["annotations"][ANNOTATION] = (
        "webhook-timeout: DOKS 1.31 accepts 30 s, re-check before the 1.32 upgrade"
    )
    report = diagnose(inv)
    suppressed = [f for f in report.findings if f.suppressed]
    assert [str(f.object) for f in suppressed] == [
        "ValidatingWebhookConfiguration/cert-manager-webhook"
    ]
    assert suppressed[0].suppressed == "DOKS 1.31 accepts 30 s, re-check before the 1.32 upgrade"
    assert suppressed[0].suppressed_by == "annotation"
    assert report.summary(Severity.ERROR)["suppressed"] == 1
    assert report.summary(Severity.ERROR)["error"] == 1


def test_namespace_annotation_covers_its_objects() -> None:
    inv = broken_cluster()
    get(inv, "Namespace", "smartflow", None)["metadata"]["annotations"] = {
        ANNOTATION: "image-latest-tag: staging follows latest"
    }
    [latest] = [f for f in diagnose(inv).findings if f.check == "image-latest-tag"]
    assert latest.suppressed == "staging follows latest"


def test_annotation_for_another_check_does_not_suppress() -> None:
    inv = broken_cluster()
    get(inv, "Deployment", "smartflow-proxy")["metadata"]["annotations"][ANNOTATION] = (
        "dns-ndots: tuned elsewhere, webhook-timeou: typo"
    )
    report = diagnose(inv)
    assert not any(f.suppressed for f in report.findings)
    assert report.notes == [
        f"Deployment/smartflow/smartflow-proxy: {ANNOTATION} names an unknown check 'webhook-timeou'"
    ]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doctor.yaml"
    path.write_text(text)
    return path


def test_config_file_rules_match_by_kind_namespace_and_name_patterns(tmp_path: Path) -> None:
    rules = load_config(
        write(
            tmp_path,
            """
suppress:
  - check: webhook-timeout
    kind: MutatingWebhookConfiguration
    name: cert-manager-*
    reason: mutating hook, ticket OPS-1432
  - check: image-latest-tag
    namespace: smartflow
    reason: dev cluster
""",
        ),
        CHECKS,
    )
    report = diagnose(broken_cluster(), rules=rules)
    by_object = {str(f.object): f for f in report.findings}
    assert by_object["MutatingWebhookConfiguration/cert-manager-webhook"].suppressed == (
        "mutating hook, ticket OPS-1432"
    )
    assert by_object["MutatingWebhookConfiguration/cert-manager-webhook"].suppressed_by == "config"
    assert by_object["ValidatingWebhookConfiguration/cert-manager-webhook"].suppressed is None
    assert by_object["Deployment/smartflow/smartflow-proxy"].suppressed == "dev cluster"
    assert exit_code(report.findings, Severity.ERROR) == 1  # the validating one is still there


def test_annotation_reason_wins_over_the_config_file(tmp_path: Path) -> None:
    inv = broken_cluster()
    get(inv, "Deployment", "smartflow-proxy")["metadata"]["annotations"][ANNOTATION] = (
        "image-latest-tag: from the annotation"
    )
    rules = load_config(
        write(tmp_path, "- check: image-latest-tag\n  reason: from the file\n"), CHECKS
    )
    [latest] = [f for f in diagnose(inv, rules=rules).findings if f.check == "image-latest-tag"]
    assert latest.suppressed == "from the annotation"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("suppress:\n  - check: webhook-timeout\n", "a reason is required"),
        ("suppress:\n  - check: nope\n    reason: x\n", "check 'nope' is not a check id"),
        (
            "suppress:\n  - check: dns-ndots\n    reason: x\n    names: y\n",
            "unknown field(s) names",
        ),
        ("suppress: {check: dns-ndots}\n", "`suppress` must be a list"),
        ("rules: []\n", "only a `suppress` list is understood"),
        ("suppress:\n  - dns-ndots\n", "must be a mapping with check and reason"),
        ("suppress: [\n", "not valid YAML"),
    ],
)
def test_bad_config_files_are_usage_errors(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(UsageError) as raised:
        load_config(write(tmp_path, text), CHECKS)
    assert problem in str(raised.value)
    assert raised.value.exit_code == 2


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SfctlError, match="cannot read it") as raised:
        load_config(tmp_path / "doctor.yaml", CHECKS)
    assert raised.value.exit_code == 2


def test_empty_config_file_suppresses_nothing(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing yet\n"), CHECKS) == []


def test_pod_template_annotation_counts_for_its_workload() -> None:
    """Helm charts expose podAnnotations more often than Deployment annotations."""
    inv = broken_cluster()
    template = get(inv, "Deployment", "smartflow-proxy")["spec"]["template"]["metadata"]
    template["annotations"][ANNOTATION] = "image-latest-tag: canary tracks latest"
    [latest] = [f for f in diagnose(inv).findings if f.check == "image-latest-tag"]
    assert latest.suppressed == "canary tracks latest"


def test_compose_service_label_suppresses_its_findings() -> None:
    inv = Inventory()
    inv.compose.append(
        (
            "/srv/smartflow/docker-compose.yaml",
            {
                "name": "smartflow",
                "services": {
                    "redis": {
                        "image": "redis:7.2.5",
                        "labels": {
                            ANNOTATION: "compose-mem-limit-missing: capped by the VM (2 GiB)"
                        },
                        "restart": "unless-stopped",
                        "healthcheck": {
                            "test": ["CMD", "redis-cli", "ping"],
                            "start_period": 5000000000,
                        },
                    },
                    "cache": {"image": "redis:7.2.5", "restart": "unless-stopped"},
                },
            },
        )
    )
    report = diagnose(inv, select_checks(CHECKS, only=["compose-mem-limit-missing"]))
    by_name = {f.object.name: f for f in report.findings}
    assert by_name["redis"].suppressed == "capped by the VM (2 GiB)"
    assert by_name["cache"].suppressed is None
