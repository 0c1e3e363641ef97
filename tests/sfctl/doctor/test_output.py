"""What doctor prints: the JSON document's exact shape, SARIF 2.1.0 (structurally validated
against the spec's required properties), and the table grouped by severity."""

from __future__ import annotations

import jsonschema
import pytest

from sfctl.doctor.checks import all_checks
from sfctl.doctor.engine import INTERNAL_ERROR, Report, diagnose, select_checks
from sfctl.doctor.model import Finding, ObjectRef, Severity
from sfctl.doctor.output import print_table, to_json, to_sarif
from sfctl.doctor.suppress import ANNOTATION

from support.doctor_objects import cluster, get

# The SARIF 2.1.0 schema's required properties and enums for what doctor emits (the full
# schema lives on the web; tests never download).
_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
SARIF = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": _MESSAGE,
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {
                                                        "level": {
                                                            "enum": [
                                                                "none",
                                                                "note",
                                                                "warning",
                                                                "error",
                                                            ]
                                                        }
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "invocations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {
                                "toolExecutionNotifications": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["message"],
                                        "properties": {"message": _MESSAGE},
                                    },
                                }
                            },
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": _MESSAGE,
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "logicalLocations": {
                                                "type": "array",
                                                "minItems": 1,
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "name": {"type": "string"},
                                                        "fullyQualifiedName": {"type": "string"},
                                                        "kind": {"type": "string"},
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                                "suppressions": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["kind"],
                                        "properties": {
                                            "kind": {"enum": ["inSource", "external"]},
                                            "justification": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def report_with_everything() -> Report:
    """Errors, a warning, an info and one suppressed finding, from the DigitalOcean fixture."""
    inv = cluster("doks")
    proxy = get(inv, "Deployment", "smartflow-proxy")
    proxy["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/smartflow-ai/smartflow"
    del get(inv, "Deployment", "smartflow-compliance")["spec"]["template"]["spec"]["dnsConfig"]
    get(inv, "MutatingWebhookConfiguration", "cert-manager-webhook", None)["metadata"][
        "annotations"
    ][ANNOTATION] = "webhook-timeout: tracked in OPS-1432"
    inv.notes.append("metrics.k8s.io is not served: memory-pressure was skipped")
    return diagnose(inv)


def test_json_shape_is_exactly_findings_and_summary() -> None:
    payload = to_json(report_with_everything(), Severity.ERROR)
    assert set(payload) == {"findings", "summary"}
    for finding in payload["findings"]:
        assert set(finding) - {"suppressed"} == {"check", "severity", "object", "message"}
        assert set(finding["object"]) == {"kind", "namespace", "name"}
        assert finding["severity"] in ("error", "warning", "info")
    suppressed = [f for f in payload["findings"] if "suppressed" in f]
    assert suppressed == [
        {
            "check": "webhook-timeout",
            "severity": "error",
            "object": {
                "kind": "MutatingWebhookConfiguration",
                "namespace": None,
                "name": "cert-manager-webhook",
            },
            "message": suppressed[0]["message"],
            "suppressed": "tracked in OPS-1432",
        }
    ]
    assert payload["summary"] == {
        "checks_run": len(all_checks()),
        "findings": 3,
        "error": 1,
        "warning": 1,
        "info": 1,
        "suppressed": 1,
        "fail_on": "error",
        "failed": True,
        "notes": ["metrics.k8s.io is not served: memory-pressure was skipped"],
    }


def test_sarif_is_structurally_valid_and_consistent() -> None:
    report = report_with_everything()
    sarif = to_sarif(report)
    jsonschema.validate(sarif, SARIF)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.id for c in report.checks]
    assert len({r["id"] for r in rules}) == len(rules)
    levels = {r["id"]: r["defaultConfiguration"]["level"] for r in rules}
    assert levels["webhook-timeout"] == "error" and levels["dns-ndots"] == "note"
    assert len(run["results"]) == len(report.findings) == 4
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    by_rule = {r["ruleId"]: r for r in run["results"] if "suppressions" not in r}
    latest = by_rule["image-latest-tag"]
    assert latest["level"] == "warning"
    assert latest["locations"][0]["logicalLocations"][0] == {
        "name": "smartflow-proxy",
        "fullyQualifiedName": "Deployment/smartflow/smartflow-proxy",
        "kind": "resource",
    }
    assert by_rule["dns-ndots"]["level"] == "note"
    [suppressed] = [r for r in run["results"] if "suppressions" in r]
    assert suppressed["suppressions"] == [
        {"kind": "inSource", "justification": "tracked in OPS-1432"}
    ]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"].startswith("metrics.k8s.io is not served")


def test_sarif_declares_the_internal_error_rule_when_a_check_crashed() -> None:
    crashed = Finding(INTERNAL_ERROR, Severity.ERROR, ObjectRef("DoctorCheck", "x"), "boom")
    report = Report(select_checks(all_checks(), only=["dns-ndots"]), [crashed])
    sarif = to_sarif(report)
    jsonschema.validate(sarif, SARIF)
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["dns-ndots", INTERNAL_ERROR]
    assert sarif["runs"][0]["results"][0]["ruleIndex"] == 1


def test_clean_sarif_has_rules_and_no_results() -> None:
    sarif = to_sarif(diagnose(cluster("healthy")))
    jsonschema.validate(sarif, SARIF)
    assert sarif["runs"][0]["results"] == []
    assert len(sarif["runs"][0]["tool"]["driver"]["rules"]) == len(all_checks())


def test_table_groups_by_severity_then_suppressed_then_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    print_table(report_with_everything(), Severity.ERROR)
    out, err = capsys.readouterr()
    positions = [
        out.index(title) for title in ("error (1)", "warning (1)", "info (1)", "suppressed (1)")
    ]
    assert positions == sorted(positions)
    assert "ValidatingWebhookConfiguration/cert-manager-webhook" in out
    assert "tracked in OPS-1432" in out
    assert "1 error, 1 warning, 1 info, 1 suppressed" in out
    assert "metrics.k8s.io is not served" in err


def test_table_for_a_clean_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(diagnose(cluster("healthy")), Severity.ERROR)
    out = capsys.readouterr().out
    assert "no findings: 0 errors, 0 warnings, 0 info, 0 suppressed" in out
    assert "error (" not in out


def test_markup_in_data_is_printed_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    finding = Finding(
        "dns-ndots",
        Severity.INFO,
        ObjectRef("Deployment", "[bold]x[/bold]", "n"),
        "value [red]literal[/red]",
    )
    print_table(Report([], [finding]), Severity.ERROR)
    out = capsys.readouterr().out
    assert "[bold]x[/bold]" in out and "[red]literal[/red]" in out
