"""sfctl's one reader of configuration: the environment (`environment`) and the deployment spec,
sfctl.yaml (`models`, `loader`). Everything else receives these values as arguments."""

from __future__ import annotations

from sfctl.spec.environment import CliEnvironment, cli_environment, default_data_dir
from sfctl.spec.loader import load_spec, parse_spec
from sfctl.spec.models import (
    ADMIN_API_KEY,
    POSTGRES_PASSWORD,
    REDIS_PASSWORD,
    SERVICES,
    ComposeSpec,
    DatabaseSpec,
    FeaturesSpec,
    ImageSpec,
    KubernetesSpec,
    ManagementSpec,
    ModelSpec,
    ProviderSpec,
    RedisSpec,
    ServiceInfo,
    ServiceSpec,
    Spec,
    TlsSpec,
)

__all__ = [
    "ADMIN_API_KEY",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "SERVICES",
    "CliEnvironment",
    "ComposeSpec",
    "DatabaseSpec",
    "FeaturesSpec",
    "ImageSpec",
    "KubernetesSpec",
    "ManagementSpec",
    "ModelSpec",
    "ProviderSpec",
    "RedisSpec",
    "ServiceInfo",
    "ServiceSpec",
    "Spec",
    "TlsSpec",
    "cli_environment",
    "default_data_dir",
    "load_spec",
    "parse_spec",
]
