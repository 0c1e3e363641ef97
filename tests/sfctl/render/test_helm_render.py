"""`sfctl render helm|k8s`: the spec as chart values, the chart written out, and plain manifests
templated by the real Helm engine, checked against the Kubernetes schemas and golden files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from sfctl.errors import SfctlError
from sfctl.render import targets
from sfctl.render.helm import chart_files, render_helm, render_k8s, values_from_spec
from sfctl.spec import Spec, parse_spec

from support.helm_chart import CRD_KINDS, KUBE_VERSIONS, validate_strict
from support.sfctl_render import CUSTOM_YAML, DEFAULT_YAML, custom_spec, default_spec, write_env

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SFCTL_UPDATE_GOLDEN") == "1"
SPECS = {"default": default_spec, "custom": custom_spec}


def _k8s(spec: Spec, out: Path) -> dict[str, dict[str, Any]]:
    written = render_k8s(spec, out)
    return {p.name: yaml.safe_load(p.read_text()) for p in written}


# --- values --------------------------------------------------------------------------------------


def test_values_from_default_spec() -> None:
    values = values_from_spec(default_spec())
    assert values["fullnameOverride"] == "smartflow"
    assert values["secrets"] == {"existingSecret": "smartflow-secrets", "providerKeys": []}
    assert values["proxy"]["autoscaling"] == {
        "enabled": True,
        "minReplicas": 2,
        "maxReplicas": 8,
        "targetCPUUtilizationPercentage": 60,
    }
    assert values["proxy"]["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert values["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    assert values["ingress"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "50m"
    assert values["ingress"]["management"]["enabled"] is False
    assert values["redis"]["bundled"] is True
    assert values["redis"]["image"] == {"repository": "redis", "tag": "7.2-alpine"}


def test_values_from_custom_spec() -> None:
    values = values_from_spec(custom_spec())
    assert values["fullnameOverride"] == "acme-gw"
    assert values["image"] == {
        "repository": "registry.acme-corp.io/smartflow/gateway",
        "tag": "1.4.2",
        "pullPolicy": "IfNotPresent",
    }
    assert values["secrets"]["existingSecret"] == "acme-gw-secrets"
    assert values["secrets"]["providerKeys"] == [
        {"env": "OPENAI_API_KEY"},
        {"env": "AZURE_OPENAI_API_KEY"},
        {"env": "ANTHROPIC_API_KEY"},
    ]
    assert values["compliance"]["resources"]["limits"] == {"memory": "2Gi", "cpu": "2"}
    assert values["policyPerfect"]["replicas"] == 2
    assert values["redis"] == {
        "bundled": False,
        "external": {"url": "", "urlSecretKey": "ACME_REDIS_URL"},
    }
    assert values["timescaledb"]["persistence"] == {"size": "100Gi", "storageClassName": "fast-ssd"}
    assert (values["timescaledb"]["database"], values["timescaledb"]["username"]) == (
        "audit",
        "gateway",
    )
    assert values["nodeAffinity"] == {
        "mode": "required",
        "matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["llm"]},
            {"key": "tier", "operator": "In", "values": ["gateway"]},
        ],
    }
    assert values["dnsConfig"]["options"] == [{"name": "ndots", "value": "3"}]
    ingress = values["ingress"]
    assert ingress["className"] == "nginx-internal"
    assert ingress["clusterIssuer"] == "letsencrypt-staging"
    assert ingress["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "600"
    assert ingress["annotations"]["example.io/team"] == "platform"
    assert ingress["management"] == {
        "enabled": True,
        "allowedSources": ["10.20.0.0/16", "203.0.113.7/32"],
        "authSecret": "acme-gw-management-auth",
    }
    assert values["serviceMonitor"] == {"enabled": True}
    assert values["config"]["gateway"]["providers"][0] == {
        "name": "openai",
        "type": "openai",
        "api_key_env": "OPENAI_API_KEY",
    }


def test_cpu_limit_on_the_proxy_is_refused() -> None:
    spec = parse_spec(DEFAULT_YAML + "services:\n  proxy:\n    limits: {memory: 1Gi, cpu: '2'}\n")
    with pytest.raises(SfctlError, match=r"services\.proxy\.limits\.cpu: .*CFS throttling"):
        values_from_spec(spec)


def test_node_pool_without_labels_turns_affinity_off() -> None:
    spec = parse_spec(DEFAULT_YAML + "kubernetes:\n  node_pool: {labels: {}}\n")
    assert values_from_spec(spec)["nodeAffinity"] == {"mode": "none"}


# --- render helm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", SPECS)
def test_render_helm_chart_lints_strict_with_generated_values(tmp_path: Path, which: str) -> None:
    written = render_helm(SPECS[which](), tmp_path)
    assert tmp_path / "values.yaml" in written
    # the chart is copied verbatim from the package data
    for relative, data in chart_files().items():
        assert (tmp_path / "smartflow" / relative).read_bytes() == data
    assert {
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
    } <= set(chart_files())
    values = yaml.safe_load((tmp_path / "values.yaml").read_text())
    for kube in KUBE_VERSIONS:
        report = helm.lint(tmp_path / "smartflow", values, strict=True, kube_version=f"v{kube}.0")
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_render_helm_replaces_an_older_chart(tmp_path: Path) -> None:
    old = tmp_path / "smartflow" / "templates" / "removed-in-this-version.yaml"
    old.parent.mkdir(parents=True)
    old.write_text("kind: ConfigMap\n")
    render_helm(default_spec(), tmp_path)
    assert not old.exists()
    assert (tmp_path / "smartflow" / "templates" / "deployment.yaml").exists()


def test_values_file_says_how_to_install(tmp_path: Path) -> None:
    render_helm(custom_spec(), tmp_path)
    header = (tmp_path / "values.yaml").read_text().split("fullnameOverride")[0]
    assert (
        "helm upgrade --install acme-gw ./smartflow -n llm-gateway --create-namespace -f values.yaml"
        in header
    )
    keys = "ADMIN_API_KEY, ACME_REDIS_URL, POSTGRES_PASSWORD, OPENAI_API_KEY, AZURE_OPENAI_API_KEY, ANTHROPIC_API_KEY"
    assert f"Secret acme-gw-secrets (keys: {keys})." in header
    assert "acme-gw-management-auth" in header


# --- render k8s ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", SPECS)
def test_k8s_manifests_pass_kubernetes_validate_strict(tmp_path: Path, which: str) -> None:
    spec = SPECS[which]()
    docs = _k8s(spec, tmp_path)
    kustomization = docs.pop("kustomization.yaml")
    assert kustomization["resources"] == sorted(docs)
    errors: list[str] = []
    for name, obj in docs.items():
        assert name == f"{name[:2]}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            assert obj["kind"] == "ServiceMonitor" and which == "custom"
            assert obj["spec"]["endpoints"][0]["port"] == "http"
            continue
        errors += validate_strict(obj)
    assert errors == []
    namespace = spec.kubernetes.namespace
    first = sorted(docs)[0]
    assert docs[first]["kind"] == "Namespace"
    assert docs[first]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, obj in docs.items():
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, name
        assert obj["kind"] not in ("Pod", "Secret"), name  # no test hook, no secret
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sfctl"


def test_k8s_custom_spec_objects(tmp_path: Path) -> None:
    docs = _k8s(custom_spec(), tmp_path)
    kinds = sorted({d["kind"] for d in docs.values()})
    assert "ServiceMonitor" in kinds
    sts = [d["metadata"]["name"] for d in docs.values() if d["kind"] == "StatefulSet"]
    assert sts == ["acme-gw-timescaledb"]  # Redis is external
    proxy = docs["08-deployment-acme-gw-proxy.yaml"]
    assert "replicas" not in proxy["spec"]
    env = {e["name"]: e for e in proxy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KEYSTORE_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "acme-gw-secrets",
        "key": "ACME_REDIS_URL",
    }
    assert proxy["spec"]["template"]["spec"]["dnsConfig"]["options"] == [
        {"name": "ndots", "value": "3"}
    ]
    hpa = docs["09-horizontalpodautoscaler-acme-gw-proxy.yaml"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    mgmt = docs["11-ingress-acme-gw-management.yaml"]["metadata"]["annotations"]
    assert mgmt["nginx.ingress.kubernetes.io/auth-secret"] == "acme-gw-management-auth"
    # the MCP and A2A registry is management (behind the auth layer), the protocols public
    management = _ingress_paths(docs["11-ingress-acme-gw-management.yaml"])
    for path in ("/api/mcp/tools", "/api/mcp/auth", "/api/admin/mcp", "/api/admin/a2a"):
        assert management[path] == "acme-gw-api-server", path
    public = _ingress_paths(docs["11-ingress-acme-gw.yaml"])
    for path in ("/api/mcp", "/a2a", "/.well-known"):
        assert public[path] == "acme-gw-proxy", path
    assert not {"/api/admin/mcp", "/api/admin/a2a", "/api/mcp/tools"} & set(public)


def _ingress_paths(ingress: dict[str, Any]) -> dict[str, str]:
    (rule,) = ingress["spec"]["rules"]
    return {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}


def test_k8s_rerender_removes_objects_the_spec_dropped(tmp_path: Path) -> None:
    render_k8s(custom_spec(), tmp_path)
    assert (tmp_path / "12-servicemonitor-acme-gw.yaml").exists()
    mine = tmp_path / "extra-configmap.yaml"
    mine.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
    spec = parse_spec(CUSTOM_YAML.replace("service_monitor: true", "service_monitor: false"))
    render_k8s(spec, tmp_path)
    assert not (tmp_path / "12-servicemonitor-acme-gw.yaml").exists()
    assert mine.exists()  # not written by sfctl: left alone
    listed = yaml.safe_load((tmp_path / "kustomization.yaml").read_text())["resources"]
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == sorted(
        [*listed, "extra-configmap.yaml", "kustomization.yaml"]
    )


def test_helm_errors_become_one_line(tmp_path: Path) -> None:
    spec = parse_spec(DEFAULT_YAML + "name: " + "a" * 45 + "\n")
    with pytest.raises(SfctlError) as caught:
        render_k8s(spec, tmp_path)
    message = str(caught.value)
    assert message.startswith("helm: ") and "fullnameOverride" in message
    assert "\n" not in message


# --- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", SPECS)
def test_no_secret_value_in_rendered_output(tmp_path: Path, which: str) -> None:
    """Through the CLI, with a secrets file beside sfctl.yaml: not one value reaches a file."""
    (tmp_path / "sfctl.yaml").write_text(DEFAULT_YAML if which == "default" else CUSTOM_YAML)
    secrets = write_env(tmp_path / ".env", SPECS[which]())
    outputs = []
    for target in ("helm", "k8s"):
        out = tmp_path / target
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "sfctl",
                "render",
                target,
                "-f",
                str(tmp_path / "sfctl.yaml"),
                "-o",
                str(out),
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        listed = json.loads(result.stdout)["files"]
        assert len(listed) == len([p for p in out.rglob("*") if p.is_file()])
        outputs += [p for p in out.rglob("*") if p.is_file()]
    assert len(outputs) > 30
    for path in outputs:
        text = path.read_text()
        for name, value in secrets.items():
            assert value not in text, f"{name} leaked into {path}"
        if path.suffix == ".yaml" and "/k8s/" in path.as_posix():
            assert yaml.safe_load(text)["kind"] != "Secret"


def test_render_all_includes_helm_and_k8s() -> None:
    assert {"helm", "k8s"} <= set(targets())


# --- golden files --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", SPECS)
@pytest.mark.parametrize("target", ["helm", "k8s"])
def test_render_matches_golden(tmp_path: Path, which: str, target: str) -> None:
    """helm: the generated values.yaml (the chart itself is the source, not output);
    k8s: every manifest. A deliberate change: SFCTL_UPDATE_GOLDEN=1 and review the diff."""
    written = targets()[target](SPECS[which](), tmp_path)
    rendered = {
        p.relative_to(tmp_path).as_posix(): p.read_text()
        for p in written
        if target == "k8s" or (p.name == "values.yaml" and p.parent == tmp_path)
    }
    expected_dir = GOLDEN / which / target
    if UPDATE:
        for old in expected_dir.glob("*"):
            old.unlink()
        for name, text in rendered.items():
            (expected_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / name).write_text(text)
    expected = {p.name: p.read_text() for p in sorted(expected_dir.glob("*")) if p.is_file()}
    assert sorted(rendered) == sorted(expected), "files differ; SFCTL_UPDATE_GOLDEN=1 regenerates"
    for name, text in rendered.items():
        assert text == expected[name], (
            f"{which}/{target}/{name} changed; SFCTL_UPDATE_GOLDEN=1 regenerates"
        )
