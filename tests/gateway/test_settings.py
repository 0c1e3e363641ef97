"""Settings: environment names kept from the seeds, defaults, and errors that name the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gateway.settings import SettingsError, load_settings

KEY = {"ADMIN_API_KEY": "x" * 20}


def test_defaults_follow_the_seed() -> None:
    settings = load_settings(KEY)
    assert settings.service_type == "all"
    assert settings.port == 7775
    assert settings.semantic_cache_threshold == 0.90
    assert settings.compliance_timeout_secs == 8.0
    assert settings.max_body_bytes == 50 * 1024 * 1024
    assert settings.config.uses_mock_only


@pytest.mark.parametrize(
    ("service", "port"),
    [("proxy", 7775), ("api-server", 7778), ("compliance", 7777), ("policy-perfect", 7782)],
)
def test_default_port_per_service(service: str, port: int) -> None:
    assert load_settings({**KEY, "SERVICE_TYPE": service}).port == port


def test_seed_environment_names() -> None:
    settings = load_settings(
        {
            **KEY,
            "KEYSTORE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "DATABASE_URL": "postgresql://127.0.0.1/test",
            "MCP_GATEWAY_ENABLED": "true",
            "RATE_LIMIT_REQUESTS_PER_HOUR": "500",
            "SEMANTIC_CACHE_THRESHOLD": "0.85",
            "COMPLIANCE_TIMEOUT_SECS": "3",
        }
    )
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url == "postgresql://127.0.0.1/test"
    assert settings.mcp_gateway_enabled is True and "mcp" in settings.features
    assert settings.rate_limit_requests_per_hour == 500
    assert settings.semantic_cache_threshold == 0.85
    assert settings.compliance_timeout_secs == 3.0


def test_provider_key_comes_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "providers": [{"name": "oai", "type": "openai", "api_key_env": "MY_OPENAI_KEY"}],
                "models": [{"name": "gpt-4o", "deployments": [{"provider": "oai"}]}],
            }
        )
    )
    settings = load_settings({**KEY, "SMARTFLOW_CONFIG": str(path), "MY_OPENAI_KEY": "sk-live-1"})
    provider = settings.config.providers[0]
    assert provider.api_key is not None and provider.api_key.get_secret_value() == "sk-live-1"
    assert "sk-live-1" not in repr(settings)
    with pytest.raises(SettingsError, match="MY_OPENAI_KEY is not set"):
        load_settings({**KEY, "SMARTFLOW_CONFIG": str(path)})


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"providers": [{"name": "a", "type": "openai", "api_key": "sk-1"}]}, "api_key_env"),
        ({"providers": [{"name": "a", "type": "gpt"}]}, "providers.0.type"),
        ({"providers": [{"name": "a", "type": "azure"}]}, "needs base_url"),
        (
            {"models": [{"name": "m", "deployments": [{"provider": "ghost"}]}]},
            "unknown provider 'ghost'",
        ),
        (
            {
                "providers": [{"name": "a", "type": "mock"}],
                "models": [{"name": "m", "deployments": [{"provider": "a"}], "fallbacks": ["n"]}],
            },
            "unknown fallback model 'n'",
        ),
        ({"routing": {"num_retries": -1}}, "routing.num_retries"),
        ({"routing": {"retries": 3}}, "routing.retries"),
        (["not", "a", "mapping"], "mapping at the top level"),
        (
            {"policies": [{"name": "p", "rules": [{"name": "r", "when": "modle == 'x'"}]}]},
            "policies[0]: rules[0].action: required",
        ),
        (
            {
                "policies": [
                    {"name": "p", "rules": [{"name": "r", "when": "modle == 'x'", "action": "log"}]}
                ]
            },
            "policies[0]: rules[0].when: unknown field 'modle'",
        ),
        (
            {"policies": [{"name": "p", "rules": [{"name": "r", "action": "log"}]}] * 2},
            "policies[1]: a second policy named 'p'",
        ),
        ({"guardrails": {"phone_regions": ["XX"]}}, "guardrails.phone_regions"),
        ({"guardrails": {"patterns": [{"name": "bad", "regex": "("}]}}, "pattern 'bad'"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, config: object, fragment: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SettingsError, match=re.escape(fragment)):
        load_settings({**KEY, "SMARTFLOW_CONFIG": str(path)})


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("providers: [unclosed")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings({**KEY, "SMARTFLOW_CONFIG": str(path)})


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SEMANTIC_CACHE_THRESHOLD": "1.5"}, "between 0 and 1"),
        ({"COMPLIANCE_TIMEOUT_SECS": "soon"}, "not a number"),
        ({"SMARTFLOW_WORKERS": "0"}, "at least 1"),
        ({"SERVICE_TYPE": "gateway"}, "unknown"),
        ({"SMARTFLOW_LOG_MAX_BYTES": "1000000"}, "without SMARTFLOW_LOG_FILE"),
        ({"SMARTFLOW_LOG_FILE": "g.log", "SMARTFLOW_LOG_MAX_BYTES": "1MB"}, "not a number"),
        ({"SMARTFLOW_LOG_FILE": "g.log", "SMARTFLOW_LOG_BACKUPS": "0"}, "BACKUPS.*at least 1"),
    ],
)
def test_bad_environment(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        load_settings({**KEY, **env})


def test_logs_go_to_stdout_unless_a_log_file_is_named(tmp_path: Path) -> None:
    assert load_settings(KEY).log_file is None
    path = tmp_path / "gateway.log"
    log_file = load_settings({**KEY, "SMARTFLOW_LOG_FILE": str(path)}).log_file
    assert log_file is not None
    assert (log_file.path, log_file.max_bytes, log_file.backups) == (path, 20_000_000, 5)
    rotation = {"SMARTFLOW_LOG_MAX_BYTES": "65536", "SMARTFLOW_LOG_BACKUPS": "3"}
    log_file = load_settings({**KEY, "SMARTFLOW_LOG_FILE": str(path), **rotation}).log_file
    assert log_file is not None and (log_file.max_bytes, log_file.backups) == (65536, 3)


def test_pricing_section_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {"pricing": {"house-llama": {"input_per_mtok": 0.05, "output_per_mtok": 0.1}}}
        )
    )
    settings = load_settings({**KEY, "SMARTFLOW_CONFIG": str(path)})
    assert settings.config.pricing["house-llama"].output_per_mtok == 0.1
    path.write_text(
        yaml.safe_dump({"pricing": {"m": {"input_per_mtok": -1, "output_per_mtok": 0}}})
    )
    with pytest.raises(SettingsError, match=r"pricing\.m\.input_per_mtok"):
        load_settings({**KEY, "SMARTFLOW_CONFIG": str(path)})


def test_responses_retention_in_days() -> None:
    assert load_settings(KEY).responses_retention_s == 30 * 86400
    kept_a_week = load_settings({**KEY, "SMARTFLOW_RESPONSES_RETENTION_DAYS": "7"})
    assert kept_a_week.responses_retention_s == 7 * 86400
    assert (
        load_settings({**KEY, "SMARTFLOW_RESPONSES_RETENTION_DAYS": "0"}).responses_retention_s == 0
    )
    with pytest.raises(SettingsError, match="SMARTFLOW_RESPONSES_RETENTION_DAYS"):
        load_settings({**KEY, "SMARTFLOW_RESPONSES_RETENTION_DAYS": "a month"})
    with pytest.raises(SettingsError, match="SMARTFLOW_RESPONSES_RETENTION_DAYS"):
        load_settings({**KEY, "SMARTFLOW_RESPONSES_RETENTION_DAYS": "-1"})
