"""The deployment spec: the guide's defaults, partial overrides, one-line errors that name the
field and the fix, and `sfctl spec schema` as a JSON schema editors can use."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sfctl.errors import SfctlError
from sfctl.spec import Spec, parse_spec

from support.sfctl_cli import sfctl
from support.sfctl_render import CUSTOM_YAML, DEFAULT_YAML

BASE = DEFAULT_YAML
# the guide: Compose (replicas, cpus, mem_limit) and Kubernetes (requests cpu/memory, memory limit)
GUIDE_SERVICES = {
    "proxy": (2, 2.0, "1g", "200m", "256Mi", "512Mi"),
    "api_server": (2, 1.0, "512m", "100m", "128Mi", "256Mi"),
    "compliance": (1, 1.5, "768m", "100m", "256Mi", "512Mi"),
    "policy": (1, 0.5, "256m", "50m", "128Mi", "256Mi"),
}


def test_defaults_are_the_guides() -> None:
    spec = parse_spec(BASE)
    for key, expected in GUIDE_SERVICES.items():
        svc = getattr(spec.services, key)
        got = (
            svc.replicas,
            svc.cpus,
            svc.memory,
            svc.requests.cpu,
            svc.requests.memory,
            svc.limits.memory,
        )
        assert got == expected, key
    s = spec.services
    assert all(svc.limits.cpu is None for svc in (s.proxy, s.api_server, s.compliance, s.policy))
    assert spec.features.semantic_cache_threshold == 0.90
    assert spec.features.compliance_timeout_secs == 8
    assert spec.tls.cluster_issuer == "letsencrypt-prod"
    assert spec.management.expose is False
    k = spec.kubernetes
    assert (k.hpa.min_replicas, k.hpa.max_replicas, k.hpa.cpu_target_percent) == (2, 8, 60)
    assert k.external_traffic_policy == "Local" and k.dns_ndots == 2
    assert k.node_pool.labels == {"role": "smartflow"}
    assert (k.ingress.body_size, k.ingress.timeout_secs) == ("50m", 300)
    assert spec.secret_names() == ["ADMIN_API_KEY", "REDIS_PASSWORD", "POSTGRES_PASSWORD"]


def test_one_setting_overrides_and_the_rest_keep_the_service_defaults() -> None:
    spec = parse_spec(BASE + "services:\n  compliance:\n    requests: {cpu: 300m}\n")
    assert spec.services.compliance.requests.cpu == "300m"
    assert spec.services.compliance.requests.memory == "256Mi"
    assert spec.services.compliance.memory == "768m"
    assert spec.services.proxy.memory == "1g"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "services:\n  proxy:\n    memory: 1 gig\n",
            "services.proxy.memory: '1 gig' is not a size; use e.g. 1g or 512m",
        ),
        (
            "services:\n  proxy:\n    memroy: 1g\n",
            "services.proxy.memroy: unknown setting; did you mean 'memory'?",
        ),
        (
            "services:\n  proxy:\n    requests: {cpu: 2 cores}\n",
            "services.proxy.requests.cpu: '2 cores' is not a Kubernetes CPU quantity; use e.g. 200m or 0.5",
        ),
        (
            "services:\n  proxy:\n    limits: {memory: 1gb}\n",
            "services.proxy.limits.memory: '1gb' is not a Kubernetes memory quantity; use e.g. 256Mi or 1Gi",
        ),
        (
            "services:\n  proxy:\n    replicas: many\n",
            "services.proxy.replicas: 'many': input should be a valid integer",
        ),
        (
            "providers:\n  - {name: oa, type: openai, api_key_env: sk-live-123}\n",
            "providers.0.api_key_env: 'sk-live-123' is not a variable name",
        ),
        (
            "providers:\n  - {name: oa, type: openai}\n",
            "providers.0: set api_key_env to the variable that holds the key",
        ),
        (
            "providers:\n  - {name: x, type: azure, api_key_env: K}\n",
            "providers.0: a provider of type azure needs base_url",
        ),
        (
            "providers:\n  - {name: x, type: bedrock}\n",
            "providers.0.type: 'bedrock': input should be 'openai', 'azure', 'anthropic' or 'openai-compatible'",
        ),
        (
            "models:\n  - {name: m, provider: ghost}\n",
            "models.0.provider: 'ghost' is not under providers (have: none); add it there or fix the name",
        ),
        (
            "providers:\n  - {name: a, type: openai, api_key_env: K}\n  - {name: a, type: anthropic, api_key_env: K}\n",
            "providers.1.name: 'a' is used twice; names must be unique",
        ),
        (
            "management: {expose: true}\n",
            "management: expose: true needs allowed_sources (IP ranges) or basic_auth_user",
        ),
        (
            "kubernetes: {hpa: {min_replicas: 5, max_replicas: 2}}\n",
            "kubernetes.hpa: max_replicas must be at least min_replicas",
        ),
        (
            "kubernetes: {hpa: {enabeld: false}}\n",
            "kubernetes.hpa.enabeld: unknown setting; did you mean 'enabled'?",
        ),
        (
            "redis: {mode: cluster}\n",
            "redis.mode: 'cluster': input should be 'bundled' or 'external'",
        ),
        (
            "features: {semantic_cache_threshold: 1.5}\n",
            "features.semantic_cache_threshold: 1.5: input should be less than or equal to 1",
        ),
        ("image: {tag: 1.5}\n", "image.tag: 1.5 is not text; quote it in the YAML"),
        ("colour: blue\n", "colour: unknown setting; expected one of: name, domain, acme_email"),
    ],
)
def test_errors_name_the_field_and_the_fix(extra: str, message: str) -> None:
    with pytest.raises(SfctlError) as caught:
        parse_spec(BASE + extra)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"sfctl.yaml: {message}"), text


def test_yaml_errors_and_missing_fields() -> None:
    with pytest.raises(SfctlError, match=r"^sfctl.yaml: line 2 column 1: .*; fix the YAML syntax$"):
        parse_spec("domain: [a\n")
    with pytest.raises(SfctlError, match=r"^sfctl.yaml: expected a mapping"):
        parse_spec("- a\n- b\n")
    with pytest.raises(
        SfctlError, match=r"^sfctl.yaml: domain: required; add it \(and 1 more problem\)$"
    ):
        parse_spec("name: x\n")


def test_spec_check_command(tmp_path: Path) -> None:
    (tmp_path / "sfctl.yaml").write_text(BASE + "tls: {enabeld: true}\n")
    bad = sfctl("spec", "check", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert (
        bad.stderr.strip()
        == "error: sfctl.yaml: tls.enabeld: unknown setting; did you mean 'enabled'?"
    )
    (tmp_path / "sfctl.yaml").write_text(BASE)
    assert sfctl("spec", "check", cwd=tmp_path).returncode == 0


def test_spec_schema_is_a_json_schema_that_checks_specs() -> None:
    result = sfctl("spec", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert schema["title"] == "sfctl.yaml"
    assert list(validator.iter_errors(yaml.safe_load(BASE))) == []
    custom = yaml.safe_load(CUSTOM_YAML)
    custom["providers"][1]["api_version"] = str(custom["providers"][1]["api_version"])  # YAML date
    assert list(validator.iter_errors(custom)) == []
    assert list(validator.iter_errors({"domain": "a.example.com"}))  # acme_email is required
    assert list(validator.iter_errors(yaml.safe_load(BASE + "servces: {}\n")))  # typo caught
    # editors show each service's own defaults
    defs = schema["$defs"]
    assert defs["ProxySpec"]["properties"]["memory"]["default"] == "1g"
    assert defs["PolicySpec"]["properties"]["cpus"]["default"] == 0.5
    assert Spec.model_json_schema()["required"] == ["domain", "acme_email"]
