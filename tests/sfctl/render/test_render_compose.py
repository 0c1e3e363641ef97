"""The rendered compose file passes the real `docker compose config` (Compose v2 CLI), and the
normalised result carries the guide's limits, health checks and the secrets-by-reference rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sfctl import __version__
from sfctl.render.compose import render_compose
from sfctl.spec import SERVICES, Spec

from support.sfctl_render import compose_config, custom_spec, default_spec, write_env

GATEWAY = [info.service_type for info in SERVICES]
GIB, MIB = 1024**3, 1024**2
# the guide's docker-compose.simple.yaml limits
GUIDE = {
    "proxy": (1 * GIB, 2.0),
    "api-server": (512 * MIB, 1.0),
    "compliance": (768 * MIB, 1.5),
    "policy-perfect": (256 * MIB, 0.5),
}


def _config(tmp_path: Path, spec: Spec) -> tuple[dict[str, Any], dict[str, str]]:
    render_compose(spec, tmp_path / "out")
    values = write_env(tmp_path / "secrets.env", spec)
    result = compose_config(tmp_path / "out" / "docker-compose.yaml", tmp_path / "secrets.env")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config, values


@pytest.mark.parametrize("which", ["default", "custom"])
def test_docker_compose_config_accepts_rendered_file(tmp_path: Path, which: str) -> None:
    spec = default_spec() if which == "default" else custom_spec()
    config, _ = _config(tmp_path, spec)
    assert config["name"] == spec.name
    expected = set(GATEWAY) | {"caddy"}
    expected |= {"redis"} if spec.redis.mode == "bundled" else set()
    expected |= {"postgres"} if spec.database.mode == "bundled" else set()
    assert set(config["services"]) == expected


def test_guide_limits_health_checks_and_restart(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, default_spec())
    services = config["services"]
    for name, (memory, cpus) in GUIDE.items():
        service = services[name]
        assert int(service["mem_limit"]) == memory
        assert int(service["memswap_limit"]) == memory  # no swap
        assert float(service["cpus"]) == cpus
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert service["ulimits"]["nofile"] == {"soft": 65536, "hard": 65536}, name
        check = service["healthcheck"]
        assert check["start_period"] in ("10s", "20s", "30s"), name
        assert check["interval"] and check["timeout"] and check["retries"] >= 3, name
    for info in SERVICES:
        test = services[info.service_type]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "python3"]
        assert f"http://127.0.0.1:{info.port}/health" in test[-1]


def test_one_image_service_type_and_only_caddy_publishes(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, default_spec())
    services = config["services"]
    images = {services[name]["image"] for name in GATEWAY}
    assert images == {f"smartflow/gateway:{__version__}"}  # pinned, never latest
    for info in SERVICES:
        service = services[info.service_type]
        assert service["environment"]["SERVICE_TYPE"] == info.service_type
        assert service["expose"] == [str(info.port)]
        assert service["pull_policy"] == "missing"
        assert "build" not in service
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"caddy"}
    assert sorted(
        (p["published"], p["target"], p["protocol"]) for p in services["caddy"]["ports"]
    ) == [
        ("443", 443, "tcp"),
        ("443", 443, "udp"),
        ("80", 80, "tcp"),
    ]
    # datastores sit on an internal network Caddy is not on
    assert config["networks"]["backend"]["internal"] is True
    assert set(services["redis"]["networks"]) == {"backend"}
    assert set(services["postgres"]["networks"]) == {"backend"}
    assert set(services["caddy"]["networks"]) == {"edge"}


def test_secrets_are_references_resolved_from_the_env_file(tmp_path: Path) -> None:
    config, values = _config(tmp_path, default_spec())
    rendered = (tmp_path / "out" / "docker-compose.yaml").read_text()
    for value in values.values():
        assert value not in rendered
    proxy = config["services"]["proxy"]["environment"]
    assert proxy["ADMIN_API_KEY"] == values["ADMIN_API_KEY"]
    assert proxy["KEYSTORE_REDIS_URL"] == f"redis://:{values['REDIS_PASSWORD']}@redis:6379/0"
    assert (
        proxy["DATABASE_URL"]
        == f"postgresql://smartflow:{values['POSTGRES_PASSWORD']}@postgres:5432/smartflow"
    )
    assert (
        config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
        == values["POSTGRES_PASSWORD"]
    )


def test_missing_secret_stops_compose_with_its_name(tmp_path: Path) -> None:
    render_compose(default_spec(), tmp_path)
    result = compose_config(tmp_path / "docker-compose.yaml", None)
    assert result.returncode != 0
    assert "ADMIN_API_KEY" in result.stderr
    assert "set ADMIN_API_KEY in the secrets file" in result.stderr


def test_custom_spec_build_external_redis_and_features(tmp_path: Path) -> None:
    spec = custom_spec()
    config, values = _config(tmp_path, spec)
    services = config["services"]
    proxy = services["proxy"]
    assert proxy["image"] == "registry.acme-corp.io/smartflow/gateway:1.4.2"
    assert proxy["build"]["dockerfile"] == "Dockerfile.runtime"
    assert Path(proxy["build"]["context"]) == (tmp_path / "src").resolve()
    assert proxy["environment"]["KEYSTORE_REDIS_URL"] == values["ACME_REDIS_URL"]
    assert proxy["environment"]["DATABASE_URL"].startswith("postgresql://gateway:")
    assert proxy["environment"]["MCP_GATEWAY_ENABLED"] == "true"
    assert proxy["environment"]["SEMANTIC_CACHE_THRESHOLD"] == "0.85"
    assert proxy["environment"]["COMPLIANCE_TIMEOUT_SECS"] == "4.5"
    assert proxy["environment"]["RATE_LIMIT_REQUESTS_PER_HOUR"] == "5000"
    for key in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        assert proxy["environment"][key] == values[key]
    assert int(proxy["mem_limit"]) == 2 * GIB and float(proxy["cpus"]) == 3.0
    assert services["caddy"]["environment"]["ACME_ADMIN_HTPASSWD"] == values["ACME_ADMIN_HTPASSWD"]
    assert {p["published"] for p in services["caddy"]["ports"]} == {"8080", "8443"}
    assert set(proxy["depends_on"]) == {"postgres"}
    # the gateway config names the key variables, never the keys
    gateway = yaml.safe_load((tmp_path / "out" / "smartflow.yaml").read_text())
    assert [p["name"] for p in gateway["providers"]] == ["openai", "azure-east", "claude", "vllm"]
    assert gateway["providers"][1]["api_version"] == "2024-06-01"
    assert gateway["models"][1] == {
        "name": "gpt-4o-azure",
        "deployments": [{"provider": "azure-east", "model": "gpt4o-deployment"}],
    }
