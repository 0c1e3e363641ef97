"""The routing configuration (the YAML file named by SMARTFLOW_CONFIG), as validated models.

`gateway.settings` reads the file and the environment; this module only describes and checks the
shape, so a mistake is reported with the field that is wrong.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from gateway.core.pricing import ModelPrice

ProviderKind = Literal["openai", "azure", "anthropic", "openai-compatible", "mock"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderConfig(_Strict):
    """One upstream account or server. Secrets come from the environment (`api_key_env`)."""

    name: str = Field(min_length=1)
    type: ProviderKind
    base_url: str | None = None
    api_key_env: str | None = None
    # Resolved from api_key_env by gateway.settings; never written in the YAML file itself.
    api_key: SecretStr | None = Field(default=None, exclude=True)
    api_version: str | None = None  # azure
    azure_ad: bool = False  # azure: use azure-identity instead of an api key
    timeout_s: float = Field(default=600.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    headers: dict[str, str] = Field(default_factory=dict)
    # Some OpenAI-compatible servers reject stream_options; the gateway drops it for them.
    supports_stream_options: bool = True

    @model_validator(mode="after")
    def _needs_url(self) -> ProviderConfig:
        if self.type in ("azure", "openai-compatible") and not self.base_url:
            raise ValueError(f"provider {self.name!r} of type {self.type} needs base_url")
        return self


class DeploymentConfig(_Strict):
    """A model served by one provider; `model` is the upstream name (Azure: the deployment)."""

    provider: str
    model: str | None = None
    weight: float = Field(default=1.0, gt=0)
    timeout_s: float | None = Field(default=None, gt=0)


class ModelConfig(_Strict):
    """A client-facing model name and where it may be served, in order of preference."""

    name: str = Field(min_length=1)
    deployments: list[DeploymentConfig] = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list)


class RoutingConfig(_Strict):
    num_retries: int = Field(default=2, ge=0, le=10)
    backoff_base_s: float = Field(default=0.1, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    # Longest Retry-After the gateway waits out itself; past it, it moves on to the next deployment.
    max_retry_after_s: float = Field(default=10.0, ge=0)
    failures_before_cooldown: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)


class GatewayConfig(_Strict):
    providers: list[ProviderConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    # per-model prices (USD per million tokens), over the built-in defaults; keyed by the model
    # name clients ask for or the upstream name a deployment serves
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)
    # guardrail policies and scanner settings (issue 14), validated by gateway.settings with
    # gateway.policy.compile and gateway.compliance.config: read-only beside those managed
    # through /api/policies and /api/guardrails
    policies: list[dict[str, Any]] = Field(default_factory=list)
    guardrails: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> GatewayConfig:
        provider_names = [p.name for p in self.providers]
        if len(set(provider_names)) != len(provider_names):
            raise ValueError("provider names must be unique")
        model_names = {m.name for m in self.models}
        if len(model_names) != len(self.models):
            raise ValueError("model names must be unique")
        for model in self.models:
            for dep in model.deployments:
                if dep.provider not in provider_names:
                    raise ValueError(
                        f"model {model.name!r}: deployment names unknown provider {dep.provider!r}"
                    )
            for fallback in model.fallbacks:
                if fallback not in model_names:
                    raise ValueError(f"model {model.name!r}: unknown fallback model {fallback!r}")
        return self

    @property
    def uses_mock_only(self) -> bool:
        """True when nothing real is configured: every model is then served by the mock."""
        return not self.providers
