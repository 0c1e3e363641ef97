"""secret-in-env: plaintext secrets in the env of Smartflow containers and in the ConfigMaps the
install reads. Messages name the variables, never the values."""

from __future__ import annotations

import pytest

from sfctl.doctor.checks.secrets import looks_secret, secret_name
from sfctl.doctor.model import Severity

from support.doctor_objects import cluster, container, get, refs, run

OPENAI_KEY = "sk-proj-4fZ9qT2mLx8VbN1cR7wK3yH6jD0sPq"
VKEY = "sk-sf-9b1f0c7e5a3d4e2f8a6b0c1d"


def test_healthy_install_keeps_secrets_in_secrets() -> None:
    assert run("secret-in-env", cluster("healthy")) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_API_KEY", "adm-2f8a6b0c1d9e7f5a"),
        ("OPENAI_API_KEY", OPENAI_KEY),
        ("DATABASE_URL", "postgres://smartflow:Tr0ub4dor@smartflow-timescaledb:5432/smartflow"),
        ("KEYSTORE_REDIS_URL", "redis://:hunter2@smartflow-redis:6379/0"),
        ("SMARTFLOW_DEFAULT_KEY", VKEY),
        ("AZURE_CLIENT_SECRET", "Qx8~f1.Zr3"),
        ("HF_TOKEN", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz"),
    ],
)
def test_literal_secret_in_env_is_found_without_its_value(name: str, value: str) -> None:
    inv = cluster("healthy")
    proxy = container(get(inv, "Deployment", "smartflow-proxy"))
    proxy["env"] = [e for e in proxy["env"] if e["name"] != name] + [{"name": name, "value": value}]
    [finding] = run("secret-in-env", inv)
    assert str(finding.object) == "Deployment/smartflow/smartflow-proxy"
    assert finding.severity is Severity.ERROR
    assert f"container proxy holds plaintext secrets ({name})" in finding.message
    assert "secretKeyRef" in finding.message and "rotate" in finding.message
    assert value not in finding.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_TOKENS", "4096"),
        ("SMARTFLOW_CACHE_KEY_PREFIX", "sf:"),
        ("SMARTFLOW_CONFIG", "/etc/smartflow/config.yaml"),
        ("TLS_KEY_FILE", "/etc/tls/tls.key"),
        ("KEYSTORE_REDIS_URL", "redis://smartflow-redis:6379/0"),
        # Kubernetes fills $(VAR) in from a Secret: what the chart renders
        ("KEYSTORE_REDIS_URL", "redis://:$(REDIS_PASSWORD)@smartflow-redis:6379/0"),
        ("DATABASE_URL", "postgresql://smartflow:$(POSTGRES_PASSWORD)@smartflow-timescaledb/sf"),
        ("ADMIN_API_KEY", ""),
        ("ADMIN_API_KEY", "$(ADMIN_KEY_FROM_SECRET)"),
        ("OPENAI_API_KEY_ENV", "OPENAI_API_KEY"),
    ],
)
def test_not_secrets(name: str, value: str) -> None:
    inv = cluster("healthy")
    container(get(inv, "Deployment", "smartflow-proxy"))["env"].append(
        {"name": name, "value": value}
    )
    assert run("secret-in-env", inv) == []


def test_init_containers_count() -> None:
    inv = cluster("healthy")
    spec = get(inv, "StatefulSet", "smartflow-timescaledb")["spec"]["template"]["spec"]
    spec["initContainers"] = [
        {
            "name": "migrate",
            "image": "ghcr.io/smartflow-ai/smartflow:1.4.2",
            "command": ["smartflow-gateway", "migrate"],
            "env": [{"name": "PGPASSWORD", "value": "Tr0ub4dor"}],
        }
    ]
    [finding] = run("secret-in-env", inv)
    assert "container migrate holds plaintext secrets (PGPASSWORD)" in finding.message


def test_configmap_read_by_the_install_with_a_secret_key() -> None:
    inv = cluster("healthy")
    get(inv, "ConfigMap", "smartflow-env")["data"]["ADMIN_API_KEY"] = "adm-2f8a6b0c1d9e7f5a"
    [finding] = run("secret-in-env", inv)
    assert str(finding.object) == "ConfigMap/smartflow/smartflow-env"
    assert "(ADMIN_API_KEY)" in finding.message
    assert "adm-2f8a6b0c1d9e7f5a" not in finding.message


def test_provider_key_inside_the_mounted_config_file() -> None:
    inv = cluster("healthy")
    data = get(inv, "ConfigMap", "smartflow-config")["data"]
    data["config.yaml"] = data["config.yaml"].replace(
        "api_key_env: OPENAI_API_KEY", f'api_key: "{OPENAI_KEY}"'
    )
    [finding] = run("secret-in-env", inv)
    assert "(config.yaml: api_key)" in finding.message
    assert OPENAI_KEY not in finding.message


def test_dotenv_style_configmap_value() -> None:
    inv = cluster("healthy")
    get(inv, "ConfigMap", "smartflow-env")["data"][".env"] = (
        "SMARTFLOW_LOG_LEVEL=info\nDATABASE_URL=postgres://smartflow:Tr0ub4dor@db:5432/smartflow\n"
    )
    [finding] = run("secret-in-env", inv)
    assert "(.env: DATABASE_URL)" in finding.message


def test_configmaps_outside_the_install_are_not_read() -> None:
    inv = cluster("healthy")
    get(inv, "ConfigMap", "ingress-nginx-controller", "ingress-nginx")["data"]["PASSWORD"] = "x"
    assert run("secret-in-env", inv) == []


def test_env_of_workloads_outside_the_install_is_not_read() -> None:
    inv = cluster("healthy")
    controller = get(inv, "Deployment", "ingress-nginx-controller", "ingress-nginx")
    container(controller)["env"] = [{"name": "API_TOKEN", "value": "abc123"}]
    assert run("secret-in-env", inv) == []


def test_a_secret_shaped_value_anywhere_in_the_install() -> None:
    inv = cluster("healthy")
    container(get(inv, "Deployment", "smartflow-compliance"))["env"].append(
        {"name": "UPSTREAM_HEADER", "value": f"Bearer {OPENAI_KEY}"}
    )
    assert refs(run("secret-in-env", inv)) == ["Deployment/smartflow/smartflow-compliance"]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ADMIN_API_KEY", True),
        ("APIKEY", True),
        ("DB_PASSWORD", True),
        ("ACCESS_TOKEN", True),
        ("CLIENT_SECRET", True),
        ("GCP_CREDENTIALS", True),
        ("MAX_TOKENS", False),
        ("CACHE_KEY_PREFIX", False),
        ("KEY", False),
        ("PASSWORD_FILE", False),
        ("TLS_SECRET_NAME", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


def test_looks_secret_needs_a_literal() -> None:
    assert looks_secret("ADMIN_API_KEY", None) is False  # valueFrom
    assert looks_secret("ANYTHING", VKEY) is True


@pytest.mark.parametrize("value", ["true", "Disabled", "90", "0.5"])
def test_settings_with_secret_like_names_are_not_secrets(value: str) -> None:
    assert looks_secret("SMARTFLOW_SECRET_SCANNING", value) is False
    assert looks_secret("SMARTFLOW_SECRET_SCANNING", value + "x7Kq") is True
