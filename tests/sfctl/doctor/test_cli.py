"""`sfctl doctor` end to end through the real entry point (`sfctl.main.run`): every source
option wired to its collector, the output formats, suppression, and the exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from sfctl.doctor.checks import all_checks
from sfctl.doctor.suppress import ANNOTATION
from sfctl.main import run

from support.doctor_objects import FIXTURES, broken_cluster, fixture_files, write_dump
from support.json_server import json_server
from support.sfctl_cli import sfctl


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def doctor(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)

    def invoke(*args: str | Path) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["sfctl", "doctor", *map(str, args)])
        with pytest.raises(SystemExit) as exited:
            run()
        out, err = capsys.readouterr()
        return Result(int(exited.value.code or 0), out, err)

    yield invoke


def dumps(name: str) -> list[str]:
    return [arg for path in fixture_files(name) for arg in ("--from-file", str(path))]


# --- exit codes and formats ------------------------------------------------------------------


def test_healthy_cluster_exits_0(doctor: Any) -> None:
    result = doctor(*dumps("healthy"))
    assert result.code == 0, result.out
    assert "no findings" in result.out


def test_doks_cluster_exits_1_and_names_the_webhooks(doctor: Any) -> None:
    result = doctor(*dumps("doks"), "-o", "json")
    assert result.code == 1
    payload = result.json()
    assert [(f["check"], f["object"]["kind"]) for f in payload["findings"]] == [
        ("webhook-timeout", "MutatingWebhookConfiguration"),
        ("webhook-timeout", "ValidatingWebhookConfiguration"),
    ]
    assert payload["summary"]["error"] == 2 and payload["summary"]["failed"] is True


def test_table_output_of_the_doks_cluster(doctor: Any) -> None:
    result = doctor(*dumps("doks"))
    assert result.code == 1
    assert "error (2)" in result.out and "has timeoutSeconds 30" in result.out
    assert "webhook.timeoutSeconds: 29" not in result.out  # the fix is behind --explain
    explained = doctor(*dumps("doks"), "--explain")
    assert explained.code == 1 and "webhook.timeoutSeconds: 29" in explained.out


def test_sarif_output(doctor: Any) -> None:
    result = doctor(*dumps("doks"), "--output", "sarif")
    assert result.code == 1
    sarif = result.json()
    assert sarif["version"] == "2.1.0"
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["webhook-timeout"] * 2


def write_broken(tmp_path: Path, image: str) -> list[str]:
    """The healthy dumps with the proxy's image replaced: a warning, not an error."""
    args = []
    for path in fixture_files("healthy"):
        if path.name == "smartflow.json":
            data = json.loads(path.read_text())
            for item in data["items"]:
                if item["kind"] == "Deployment" and item["metadata"]["name"] == "smartflow-proxy":
                    item["spec"]["template"]["spec"]["containers"][0]["image"] = image
            copy = tmp_path / path.name
            copy.write_text(json.dumps(data))
            path = copy  # noqa: PLW2901 - the broken copy replaces the original
        args += ["-f", str(path)]
    return args


def test_fail_on_decides_which_severity_fails(doctor: Any, tmp_path: Path) -> None:
    args = write_broken(tmp_path, "ghcr.io/smartflow-ai/smartflow:latest")
    assert doctor(*args).code == 0  # a warning; --fail-on error by default
    assert doctor(*args, "--fail-on", "warning").code == 1
    assert doctor(*args, "--fail-on", "info").code == 1


def test_upgrade_runs_the_upgrade_group_only(doctor: Any) -> None:
    result = doctor(*dumps("doks"), "--upgrade", "-o", "json")
    assert result.code == 1
    upgrade = [c for c in all_checks().values() if "upgrade" in c.groups]
    assert result.json()["summary"]["checks_run"] == len(upgrade)


def test_check_and_skip(doctor: Any) -> None:
    assert doctor(*dumps("doks"), "--skip", "webhook-timeout").code == 0
    only = doctor(*dumps("doks"), "--check", "dns-ndots,node-min-vcpu", "-o", "json")
    assert only.code == 0 and only.json()["summary"]["checks_run"] == 2


def test_list_checks(doctor: Any) -> None:
    result = doctor("--list", "-o", "json")
    assert result.code == 0
    listed = {c["id"]: c for c in result.json()["checks"]}
    assert set(listed) == set(all_checks())
    assert listed["webhook-timeout"]["severity"] == "error"
    assert "upgrade" in listed["webhook-timeout"]["groups"]
    table = doctor("--list", "--upgrade")
    assert "webhook-timeout" in table.out and "dns-ndots" not in table.out


# --- suppression -----------------------------------------------------------------------------


def test_config_file_suppression_keeps_the_findings(doctor: Any, tmp_path: Path) -> None:
    config = tmp_path / "doctor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suppress": [
                    {
                        "check": "webhook-timeout",
                        "name": "cert-manager-webhook",
                        "reason": "DOKS 1.31 tolerates 30 s; fix before 1.32 (OPS-1432)",
                    }
                ]
            }
        )
    )
    result = doctor(*dumps("doks"), "--config", config, "-o", "json")
    assert result.code == 0
    payload = result.json()
    assert len(payload["findings"]) == 2
    assert {f["suppressed"] for f in payload["findings"]} == {
        "DOKS 1.31 tolerates 30 s; fix before 1.32 (OPS-1432)"
    }
    assert payload["summary"]["suppressed"] == 2 and payload["summary"]["error"] == 0


def test_annotation_suppression_from_the_dump(doctor: Any, tmp_path: Path) -> None:
    args = []
    for path in fixture_files("doks"):
        if path.name == "webhooks.yaml":
            data = yaml.safe_load(path.read_text())
            for item in data["items"]:
                if item["metadata"]["name"] == "cert-manager-webhook":
                    item["metadata"]["annotations"][ANNOTATION] = "webhook-timeout: OPS-1432"
            copy = tmp_path / path.name
            copy.write_text(yaml.safe_dump(data))
            path = copy  # noqa: PLW2901 - the annotated copy replaces the original
        args += ["-f", str(path)]
    result = doctor(*args)
    assert result.code == 0
    assert "suppressed (2)" in result.out and "OPS-1432" in result.out


# --- doctor could not run: exit 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to lint: pass --from-file"),
        (("--check", "nope", "-f", "x.json"), "unknown check(s): nope. Valid checks:"),
        (("--group", "nope", "-f", "x.json"), "unknown group(s): nope"),
        (("-n", "smartflow", "-f", "x.json"), "--namespace applies to a live cluster"),
        (("-f", "/nonexistent/dump.json"), "--from-file /nonexistent/dump.json: cannot read it"),
        (("--config", "/nonexistent/doctor.yaml", "-f", "x"), "--config /nonexistent/doctor.yaml"),
    ],
)
def test_usage_and_input_errors_exit_2(doctor: Any, args: tuple[str, ...], message: str) -> None:
    result = doctor(*args)
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_invalid_dump_exits_2_naming_the_file(doctor: Any, tmp_path: Path) -> None:
    bad = tmp_path / "pods.yaml"
    bad.write_text("items:\n  - kind: Pod\n   metadata: {}\n")
    result = doctor(*dumps("healthy"), "-f", bad)
    assert result.code == 2
    assert f"--from-file {bad}: not valid JSON or YAML" in result.err
    assert result.out == ""


# --- the other sources -----------------------------------------------------------------------


def test_unreachable_live_cluster_exits_2(doctor: Any, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
        "clusters: [{name: lab, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: ops}}]\n"
        "users: [{name: ops, user: {token: not-a-real-token}}]\n"
    )
    result = doctor("--kubeconfig", kubeconfig)
    assert result.code == 2
    assert "127.0.0.1" in result.err
    missing = doctor("--kubeconfig", kubeconfig, "--context", "prod")
    assert missing.code == 2 and "prod" in missing.err


def test_caddyfile_source(doctor: Any, tmp_path: Path) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        "smartflow.example.com {\n"
        "\thandle /api/enterprise/* {\n\t\treverse_proxy localhost:7778\n\t}\n"
        "\thandle {\n\t\treverse_proxy localhost:7775\n\t}\n}\n"
    )
    result = doctor("--caddyfile", caddyfile, "-o", "json")
    assert result.code == 1
    assert [f["check"] for f in result.json()["findings"]] == ["caddy-trailing-slash-wildcard"]


def test_compose_source(doctor: Any) -> None:
    result = doctor("--compose", FIXTURES / "compose" / "guide", "-o", "json")
    assert result.code == 1
    checks = {f["check"] for f in result.json()["findings"]}
    # the guide's stack also publishes the management API (7778) on every interface
    assert "mgmt-api-exposed" in checks
    assert all(c.startswith("compose-") for c in checks - {"mgmt-api-exposed"})


HEALTH = {
    "status": "degraded",
    "checked_at": 1768209331.5,
    "components": {
        "gateway": {"status": "ok", "service": "api-server", "version": "1.4.2"},
        "redis": {
            "status": "down",
            "error": "ConnectionError: connection refused",
            "latency_ms": 2.1,
        },
        "database": {"status": "ok", "latency_ms": 1.2},
    },
}
VERSION = {"version": "1.4.2", "git_commit": "4f2a9c1", "build_time": "2026-01-10T08:00:00Z"}


def test_gateway_source(doctor: Any) -> None:
    seen: list[str] = []

    def answer(path: str, headers: Mapping[str, str]) -> tuple[int, Any]:
        seen.append(headers.get("Authorization", ""))
        routes = {"/api/health/comprehensive": HEALTH, "/version": VERSION}
        return (200, routes[path]) if path in routes else (404, {"error": "not found"})

    with json_server(answer) as url:
        result = doctor("--gateway", url, "--admin-key", "sf-admin-test", "-o", "json")
    assert result.code == 1
    assert [f["check"] for f in result.json()["findings"]] == ["redis-unreachable"]
    assert seen and set(seen) == {"Bearer sf-admin-test"}


def test_gateway_source_needs_an_admin_key(
    doctor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTFLOW_DATA_DIR", str(tmp_path))
    result = doctor("--gateway", "http://127.0.0.1:9")
    assert result.code == 2 and "no admin key" in result.err


# --- the installed entry point ---------------------------------------------------------------


def test_real_entry_point_exit_codes_and_streams() -> None:
    done = sfctl("doctor", *dumps("doks"), "-o", "json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["summary"]["error"] == 2
    bad = sfctl("doctor", "-f", "/nonexistent/dump.json")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --from-file /nonexistent/dump.json: cannot read it (No such file or directory)"
    ]


# --- the terminal report at 80 columns -------------------------------------------------------


def doctor_at(columns: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The installed `sfctl doctor` in a terminal `columns` wide (rich reads $COLUMNS)."""
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    env.pop("ADMIN_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "sfctl", "doctor", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def blocks(out: str) -> list[list[str]]:
    """The findings of a terminal report: a header line (two spaces, then the check id), then
    the lines indented under it."""
    found: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            found.append([line])
        elif line.startswith("    ") and found:
            found[-1].append(line)
    return found


def ref(finding: Mapping[str, Any]) -> str:
    obj = finding["object"]
    return "/".join(p for p in (obj["kind"], obj["namespace"], obj["name"]) if p)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A cluster dump with a dozen findings, and those findings as `-o json` reports them."""
    dump = write_dump(broken_cluster(), tmp_path_factory.mktemp("dump") / "cluster.json")
    findings = json.loads(doctor_at(80, "-f", dump, "-o", "json").stdout)["findings"]
    assert len(findings) >= 10 and len({f["check"] for f in findings}) >= 8
    return dump, findings


def test_at_80_columns_each_finding_is_a_few_lines(
    broken: tuple[Path, list[dict[str, Any]]],
) -> None:
    """Before: a table whose third column wrapped each message into 20 to 30 lines."""
    dump, findings = broken
    done = doctor_at(80, "-f", dump)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    found = blocks(done.stdout)
    assert [(b[0].split()[0], b[0].split()[1]) for b in found] == [
        (f["check"], ref(f)) for f in findings
    ]
    assert all(len(block) <= 4 for block in found), found
    assert len(lines) <= 3 * len(findings) + 12
    # grouped by severity, most severe first, then the summary and the hint
    titles = [line for line in lines if line and not line.startswith(" ")]
    assert titles[:3] == ["error (5)", "warning (6)", "info (1)"]
    assert titles[3].startswith("5 errors, 6 warnings, 1 info, 0 suppressed")
    assert "--explain" in titles[4]


def test_a_wider_terminal_uses_its_width(broken: tuple[Path, list[dict[str, Any]]]) -> None:
    dump, findings = broken
    at_80 = doctor_at(80, "-f", dump).stdout.splitlines()
    wide = doctor_at(160, "-f", dump).stdout
    assert 80 < max(len(line) for line in wide.splitlines()) <= 160
    assert all(len(block) <= 2 for block in blocks(wide))
    assert len(blocks(wide)) == len(findings) and len(wide.splitlines()) < len(at_80)


def test_explain_prints_every_message_whole_within_80_columns(
    broken: tuple[Path, list[dict[str, Any]]],
) -> None:
    dump, findings = broken
    done = doctor_at(80, "-f", dump, "--explain")
    assert done.returncode == 1
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    bodies = [" ".join(line.strip() for line in block[1:]) for block in blocks(done.stdout)]
    assert bodies == [" ".join(f["message"].split()) for f in findings]
    assert "--explain:" not in done.stdout


def test_suppressed_findings_stay_listed_compactly(
    broken: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    dump, _ = broken
    config = tmp_path / "doctor.yaml"
    reason = "DOKS 1.31 tolerates 30 s; fix before the 1.32 upgrade (OPS-1432, owner: platform)"
    config.write_text(
        yaml.safe_dump({"suppress": [{"check": "webhook-timeout", "reason": reason}]})
    )
    done = doctor_at(80, "-f", dump, "--config", config)
    out = done.stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    suppressed = blocks(out[out.index("suppressed (2)") :])
    assert [block[0].split()[0] for block in suppressed] == ["webhook-timeout"] * 2
    assert all(len(block) <= 3 for block in suppressed)
    assert " ".join(line.strip() for line in suppressed[0][1:]) == f"suppressed: {reason}"
