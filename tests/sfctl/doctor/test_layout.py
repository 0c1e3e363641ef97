"""The terminal report's layout, pure: every line within the width at any width, a header line
per finding with what is wrong under it, the whole message with --explain."""

from __future__ import annotations

import pytest

from sfctl.doctor.collect_caddy import collect_caddyfile
from sfctl.doctor.collect_compose import collect_compose
from sfctl.doctor.engine import diagnose
from sfctl.doctor.layout import Line, finding_lines, report_lines
from sfctl.doctor.model import Finding, ObjectRef, Severity

from support.doctor_objects import FIXTURES, broken_cluster


def text(line: Line) -> str:
    return "".join(part for part, _ in line)


def everything() -> list[Finding]:
    """Findings of most checks: a broken cluster, the guide's Compose stack and Caddyfile."""
    inv = broken_cluster()
    inv.merge(collect_compose(FIXTURES / "compose" / "guide"))
    inv.merge(collect_caddyfile(FIXTURES / "caddy" / "guide.Caddyfile"))
    return diagnose(inv).findings


def test_every_finding_says_what_is_wrong_in_short() -> None:
    findings = everything()
    assert len({f.check for f in findings}) >= 14
    for finding in findings:
        assert finding.headline, finding.check
        assert len(finding.headline) < len(finding.message) and len(finding.headline) <= 240


@pytest.mark.parametrize("width", [60, 80, 132])
@pytest.mark.parametrize("explain", [False, True])
def test_no_line_is_wider_than_the_terminal(width: int, explain: bool) -> None:
    lines = report_lines(everything(), width, explain=explain)
    assert max(len(text(line)) for line in lines) <= width


def test_a_finding_is_its_header_then_what_is_wrong() -> None:
    finding = Finding(
        "probe-missing",
        Severity.WARNING,
        ObjectRef("Deployment", "smartflow-proxy", "smartflow"),
        "container proxy (proxy) has no readinessProbe: without readiness, a rolling upgrade "
        "sends traffic to pods that are still starting. Add readinessProbe httpGet /ready.",
        headline="container proxy (proxy) has no readinessProbe",
    )
    assert [text(line) for line in finding_lines(finding, 80, explain=False)] == [
        "  probe-missing  Deployment/smartflow/smartflow-proxy",
        "    container proxy (proxy) has no readinessProbe",
    ]
    explained = [text(line) for line in finding_lines(finding, 80, explain=True)]
    assert explained[0] == "  probe-missing  Deployment/smartflow/smartflow-proxy"
    assert " ".join(line.strip() for line in explained[1:]) == finding.message
    assert all(line.startswith("    ") and len(line) <= 80 for line in explained[1:])


def test_a_long_object_goes_under_the_check_and_long_words_are_cut() -> None:
    name = "smartflow-" + "x" * 90
    finding = Finding("dns-ndots", Severity.INFO, ObjectRef("Deployment", name, "ns"), "a " * 5)
    lines = [text(line) for line in finding_lines(finding, 80, explain=False)]
    assert lines[0] == "  dns-ndots"
    assert "".join(line.strip() for line in lines[1:-1]) == f"Deployment/ns/{name}"
    assert all(len(line) <= 80 for line in lines)


def test_a_short_message_is_its_own_headline_and_hyphenated_names_stay_whole() -> None:
    message = "pod is not ready: container proxy is waiting (ImagePullBackOff) " + "x-y-z " * 12
    finding = Finding("pod-not-ready", Severity.ERROR, ObjectRef("Pod", "p", "n"), message)
    body = [text(line) for line in finding_lines(finding, 40, explain=False)][1:]
    assert " ".join(line.strip() for line in body) == message.strip()
    assert all(word == "x-y-z" for line in body[2:] for word in line.split())


def test_suppressed_findings_are_dimmed_with_their_reason() -> None:
    finding = Finding(
        "webhook-timeout",
        Severity.ERROR,
        ObjectRef("MutatingWebhookConfiguration", "cert-manager-webhook"),
        "long message " * 20,
        suppressed="tracked in OPS-1432",
        suppressed_by="config",
    )
    lines = report_lines([finding], 80, explain=True)
    assert [text(line) for line in lines] == [
        "suppressed (1)",
        "  webhook-timeout  MutatingWebhookConfiguration/cert-manager-webhook",
        "    suppressed: tracked in OPS-1432",
        "",
    ]
    assert {style for line in lines for _, style in line} == {"dim"}


def test_groups_by_severity_most_severe_first() -> None:
    found = [
        Finding(check, severity, ObjectRef("Pod", check, "n"), f"{check} is wrong")
        for check, severity in (("c", Severity.INFO), ("a", Severity.ERROR), ("b", Severity.INFO))
    ]
    titles = [text(line) for line in report_lines(found, 80, explain=False) if line]
    assert titles == ["error (1)", "  a  Pod/n/a", "    a is wrong", "info (2)",
                      "  c  Pod/n/c", "    c is wrong", "  b  Pod/n/b", "    b is wrong"]  # fmt: skip
