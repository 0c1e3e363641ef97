"""What the gateway itself reads, derived from the spec: its config file (SMARTFLOW_CONFIG) and
its non-secret environment. Compose and the Helm chart both use these, so they run the same."""

from __future__ import annotations

from typing import Any

import yaml

from sfctl.render.engine import HEADER, env_str
from sfctl.spec import Spec

CONFIG_PATH = "/etc/smartflow/smartflow.yaml"


def gateway_config(spec: Spec) -> dict[str, Any]:
    """The SMARTFLOW_CONFIG document: providers name their key's variable, never the key."""
    providers = [p.model_dump(exclude_none=True, exclude_defaults=True) for p in spec.providers]
    models = [
        {
            "name": model.name,
            "deployments": [
                {"provider": model.provider} | ({"model": model.model} if model.model else {})
            ],
        }
        for model in spec.models
    ]
    return {"providers": providers, "models": models}


def gateway_config_yaml(spec: Spec) -> str:
    body = yaml.safe_dump(gateway_config(spec), sort_keys=False, default_flow_style=False)
    return f"# {HEADER}\n{body}"


def gateway_environment(spec: Spec) -> dict[str, str]:
    """The feature settings every service reads, as environment strings."""
    features = spec.features
    return {
        "MCP_GATEWAY_ENABLED": env_str(features.mcp_gateway_enabled),
        "SEMANTIC_CACHE_THRESHOLD": env_str(features.semantic_cache_threshold),
        "COMPLIANCE_TIMEOUT_SECS": env_str(features.compliance_timeout_secs),
        "RATE_LIMIT_REQUESTS_PER_HOUR": env_str(features.rate_limit_requests_per_hour),
        "SMARTFLOW_CONFIG": CONFIG_PATH,
    }
