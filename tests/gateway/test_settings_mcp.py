"""Settings of the MCP gateway and A2A routes: environment variables and the config file's
read-only `mcp_servers:` / `a2a_agents:` lists, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.settings import McpSettings, SettingsError, load_settings


def _config(tmp_path: Path, document: object) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return {"SMARTFLOW_CONFIG": str(path)}


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.mcp == McpSettings()
    assert settings.mcp.enabled is False and settings.mcp_gateway_enabled is False
    assert settings.mcp.refresh_s == 2.0 and settings.mcp.tools_refresh_s == 60.0
    assert settings.mcp.cache_max_entries == 10_000 and settings.mcp.public_url is None


def test_environment() -> None:
    settings = load_settings(
        {
            "MCP_GATEWAY_ENABLED": "true",
            "SMARTFLOW_MCP_STDIO": "yes",
            "SMARTFLOW_MCP_REFRESH_SECS": "0.5",
            "SMARTFLOW_MCP_TOOLS_REFRESH_SECS": "30",
            "SMARTFLOW_MCP_CACHE_MAX_ENTRIES": "500",
            "SMARTFLOW_PUBLIC_URL": "https://gw.example.com/",
        }
    )
    mcp = settings.mcp
    assert mcp.enabled and settings.mcp_gateway_enabled and "mcp" in settings.features
    assert mcp.allow_stdio and mcp.refresh_s == 0.5 and mcp.tools_refresh_s == 30
    assert mcp.cache_max_entries == 500
    assert mcp.public_url == "https://gw.example.com"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SMARTFLOW_MCP_STDIO": "maybe"}, "SMARTFLOW_MCP_STDIO"),
        ({"SMARTFLOW_MCP_REFRESH_SECS": "0"}, "SMARTFLOW_MCP_REFRESH_SECS"),
        ({"SMARTFLOW_MCP_TOOLS_REFRESH_SECS": "x"}, "SMARTFLOW_MCP_TOOLS_REFRESH_SECS"),
        ({"SMARTFLOW_MCP_CACHE_MAX_ENTRIES": "-1"}, "SMARTFLOW_MCP_CACHE_MAX_ENTRIES"),
        ({"SMARTFLOW_PUBLIC_URL": "gw.example.com"}, "SMARTFLOW_PUBLIC_URL"),
    ],
)
def test_bad_environment_is_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(env)


def test_config_file_registrations(tmp_path: Path) -> None:
    env = _config(
        tmp_path,
        {
            "mcp_servers": [
                {
                    "name": "docs",
                    "url": "https://docs.example.com/mcp",
                    "auth": {"headers": [{"header": "Authorization", "env": "DOCS_TOKEN"}]},
                    "cache_tools": ["search"],
                    "price_per_call_usd": 0.001,
                }
            ],
            "a2a_agents": [{"name": "helper", "url": "http://127.0.0.1:9999"}],
        },
    )
    settings = load_settings(env)
    (server,) = settings.mcp.servers
    assert server.name == "docs" and server.cache_tools == ("search",)
    assert server.auth.env_vars() == ("DOCS_TOKEN",)
    (agent,) = settings.mcp.agents
    assert agent.card_url() == "http://127.0.0.1:9999/.well-known/agent-card.json"
    assert settings.config.providers == []  # the LLM side is unaffected


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ({"mcp_servers": [{"name": "Bad_Name", "url": "http://x"}]}, r"mcp_servers\[0\]\.name"),
        ({"mcp_servers": [{"name": "tools", "url": "http://x"}]}, "reserved"),
        ({"mcp_servers": [{"name": "a"}]}, "needs a url"),
        ({"mcp_servers": [{"name": "a", "url": "ftp://x"}]}, r"mcp_servers\[0\]\.url"),
        ({"mcp_servers": [{"name": "a", "url": "http://x", "ttl": 3}]}, "unknown field"),
        (
            {"mcp_servers": [{"name": "a", "url": "http://x", "price_per_call_usd": True}]},
            "price_per_call_usd",
        ),
        (
            {"mcp_servers": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]},
            "second entry",
        ),
        ({"mcp_servers": {"name": "a"}}, "must be a list"),
        ({"a2a_agents": [{"name": "x", "url": "http://x", "card_path": "x"}]}, "card_path"),
        ({"mcp_servers": [{"name": "s", "transport": "stdio", "command": ["srv"]}]}, "STDIO"),
    ],
)
def test_bad_registrations_fail_at_load(tmp_path: Path, document: object, needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(_config(tmp_path, document))


def test_stdio_servers_need_the_switch(tmp_path: Path) -> None:
    env = _config(
        tmp_path,
        {"mcp_servers": [{"name": "local", "transport": "stdio", "command": ["my-server", "-v"]}]},
    )
    settings = load_settings({**env, "SMARTFLOW_MCP_STDIO": "true"})
    assert settings.mcp.servers[0].command == ("my-server", "-v")
