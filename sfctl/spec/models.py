"""The deployment spec (sfctl.yaml) as pydantic models.

Every default is the value the deployment guide recommends (seeds/000): Compose limits, Kubernetes
requests and limits, the HPA, the ingress annotations, the issuer name. Secrets never live here:
the spec names the variable (in `.env`, or the key in a Kubernetes Secret) that holds each one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from sfctl import __version__
from sfctl.spec.types import (
    ApiVersion,
    Cidr,
    ComposeSize,
    CpuQuantity,
    DnsLabel,
    Email,
    EnvName,
    Hostname,
    MemoryQuantity,
)

#: secrets `sfctl init` generates into .env; the spec never holds their values
ADMIN_API_KEY = "ADMIN_API_KEY"
POSTGRES_PASSWORD = "POSTGRES_PASSWORD"  # noqa: S105 (a variable name)
REDIS_PASSWORD = "REDIS_PASSWORD"  # noqa: S105 (a variable name)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --- image ------------------------------------------------------------------------------------


class BuildSpec(_Model):
    """Build the image from source instead of pulling it (the guide's `build:` compose form)."""

    context: str = "."
    dockerfile: str = "Dockerfile.runtime"


class ImageSpec(_Model):
    """One image for every service; SERVICE_TYPE selects which one runs."""

    repository: str = Field(default="smartflow/gateway", min_length=1)
    # Pinned to the build this sfctl belongs to, not the guide's `latest` + Always: a moving tag
    # makes "which build is running?" unanswerable and turns every node drain into an upgrade.
    tag: str = Field(default=__version__, min_length=1)
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    build: BuildSpec | None = None

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


# --- services ---------------------------------------------------------------------------------


class Requests(_Model):
    cpu: CpuQuantity
    memory: MemoryQuantity


class Limits(_Model):
    """Memory limits always; no CPU limit by default (CFS throttling adds latency spikes)."""

    memory: MemoryQuantity
    cpu: CpuQuantity | None = None


class Resources(_Model):
    """`cpus`, `memory`: Compose (`cpus`, `mem_limit` and `memswap_limit`: no swap).
    `requests`, `limits`: Kubernetes."""

    cpus: float = Field(gt=0, le=256)
    memory: ComposeSize
    requests: Requests
    limits: Limits


class ServiceSpec(Resources):
    """One service's replicas (Kubernetes, when the HPA is off) and resources."""

    replicas: int = Field(ge=0, le=100)


_R = TypeVar("_R", bound=BaseModel)


def _resources_model(
    base: type[_R],
    name: str,
    *,
    cpus: float,
    memory: str,
    requests: tuple[str, str],
    limit: str,
    replicas: int | None = None,
) -> type[_R]:
    """`base` with one service's defaults, so a spec can override one setting and keep the rest
    (and the JSON schema shows each service's own defaults)."""
    req = create_model(
        f"{name}Requests",
        __base__=Requests,
        cpu=(CpuQuantity, requests[0]),
        memory=(MemoryQuantity, requests[1]),
    )
    lim = create_model(f"{name}Limits", __base__=Limits, memory=(MemoryQuantity, limit))
    fields: dict[str, Any] = {
        "cpus": (float, Field(default=cpus, gt=0, le=256)),
        "memory": (ComposeSize, memory),
        "requests": (req, Field(default_factory=req)),
        "limits": (lim, Field(default_factory=lim)),
    }
    if replicas is not None:
        fields["replicas"] = (int, Field(default=replicas, ge=0, le=100))
    return create_model(name, __base__=base, __doc__=base.__doc__, **fields)


# the guide's values: Compose from docker-compose.simple.yaml, Kubernetes from values.yaml
_GUIDE: dict[str, tuple[int | None, float, str, tuple[str, str], str]] = {
    "ProxySpec": (2, 2.0, "1g", ("200m", "256Mi"), "512Mi"),
    "ApiServerSpec": (2, 1.0, "512m", ("100m", "128Mi"), "256Mi"),
    "ComplianceSpec": (1, 1.5, "768m", ("100m", "256Mi"), "512Mi"),
    "PolicySpec": (1, 0.5, "256m", ("50m", "128Mi"), "256Mi"),
    # not in the guide: sized for the key store and the audit log of one gateway
    "RedisResources": (None, 1.0, "512m", ("100m", "128Mi"), "512Mi"),
    "DatabaseResources": (None, 1.0, "1g", ("250m", "512Mi"), "1Gi"),
}


def _guide_model(name: str) -> Any:
    replicas, cpus, memory, requests, limit = _GUIDE[name]
    base = Resources if replicas is None else ServiceSpec
    return _resources_model(
        base, name, cpus=cpus, memory=memory, requests=requests, limit=limit, replicas=replicas
    )


def _factory(model: type[BaseModel]) -> Callable[[], Any]:
    """A default factory mypy accepts for the generated models (it sees their bases)."""
    return model


if TYPE_CHECKING:
    ProxySpec: TypeAlias = ServiceSpec
    ApiServerSpec: TypeAlias = ServiceSpec
    ComplianceSpec: TypeAlias = ServiceSpec
    PolicySpec: TypeAlias = ServiceSpec
    RedisResources: TypeAlias = Resources
    DatabaseResources: TypeAlias = Resources
else:
    ProxySpec = _guide_model("ProxySpec")
    ApiServerSpec = _guide_model("ApiServerSpec")
    ComplianceSpec = _guide_model("ComplianceSpec")
    PolicySpec = _guide_model("PolicySpec")
    RedisResources = _guide_model("RedisResources")
    DatabaseResources = _guide_model("DatabaseResources")


class ServicesSpec(_Model):
    """The four services of the one image; each setting defaults to the guide's value."""

    proxy: ProxySpec = Field(default_factory=_factory(ProxySpec))
    api_server: ApiServerSpec = Field(default_factory=_factory(ApiServerSpec))
    compliance: ComplianceSpec = Field(default_factory=_factory(ComplianceSpec))
    policy: PolicySpec = Field(default_factory=_factory(PolicySpec))


class ServiceInfo(BaseModel):
    """What is fixed about a service: its SERVICE_TYPE and its port (kept from the seeds)."""

    model_config = ConfigDict(frozen=True)
    key: str  # field name under `services`
    service_type: str  # SERVICE_TYPE, also the Compose service name
    port: int
    values_key: str  # the Helm values key (camelCase)


SERVICES: tuple[ServiceInfo, ...] = (
    ServiceInfo(key="proxy", service_type="proxy", port=7775, values_key="proxy"),
    ServiceInfo(key="api_server", service_type="api-server", port=7778, values_key="apiServer"),
    ServiceInfo(key="compliance", service_type="compliance", port=7777, values_key="compliance"),
    ServiceInfo(key="policy", service_type="policy-perfect", port=7782, values_key="policyPerfect"),
)


# --- providers and models ---------------------------------------------------------------------

ProviderType = Literal["openai", "azure", "anthropic", "openai-compatible"]


class ProviderSpec(_Model):
    """An upstream account. `api_key_env` names the variable (Compose: in .env; Kubernetes: the
    key in the Secret) that holds the key; the key itself never appears in sfctl.yaml."""

    name: DnsLabel
    type: ProviderType
    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    api_version: ApiVersion | None = None
    api_key_env: EnvName | None = None
    azure_ad: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ProviderSpec:
        if self.type in ("azure", "openai-compatible") and not self.base_url:
            raise ValueError(f"a provider of type {self.type} needs base_url")
        if self.api_version and self.type != "azure":
            raise ValueError("api_version is for azure providers only; remove it")
        if self.azure_ad and self.type != "azure":
            raise ValueError("azure_ad is for azure providers only; remove it")
        if not self.api_key_env and not self.azure_ad and self.type != "openai-compatible":
            raise ValueError(
                "set api_key_env to the variable that holds the key, e.g. OPENAI_API_KEY"
            )
        return self


class ModelSpec(_Model):
    """A model name clients ask for, served by `provider` as `model` (Azure: the deployment)."""

    name: str = Field(min_length=1)
    provider: str
    model: str | None = None


# --- datastores -------------------------------------------------------------------------------


class RedisSpec(_Model):
    """`bundled`: a Redis container/StatefulSet with a password (REDIS_PASSWORD);
    `external`: the URL comes from the variable `url_env` (a secret: it holds the password)."""

    mode: Literal["bundled", "external"] = "bundled"
    url_env: EnvName = "KEYSTORE_REDIS_URL"
    image: str = "redis:7.2-alpine"
    storage: MemoryQuantity = "1Gi"
    resources: RedisResources = Field(default_factory=_factory(RedisResources))


class DatabaseSpec(_Model):
    """`bundled`: TimescaleDB (PostgreSQL) with a volume, password POSTGRES_PASSWORD;
    `external`: the DSN comes from the variable `url_env`."""

    mode: Literal["bundled", "external"] = "bundled"
    url_env: EnvName = "DATABASE_URL"
    image: str = "timescale/timescaledb:2.17.2-pg16"
    name: DnsLabel = "smartflow"
    user: DnsLabel = "smartflow"
    storage: MemoryQuantity = "20Gi"
    resources: DatabaseResources = Field(default_factory=_factory(DatabaseResources))


# --- features, TLS, management ----------------------------------------------------------------


class FeaturesSpec(_Model):
    """The gateway's feature settings (MCP_GATEWAY_ENABLED, SEMANTIC_CACHE_THRESHOLD,
    COMPLIANCE_TIMEOUT_SECS, RATE_LIMIT_REQUESTS_PER_HOUR; 0: no default hourly cap)."""

    mcp_gateway_enabled: bool = False
    semantic_cache_threshold: float = Field(default=0.90, gt=0, le=1)
    compliance_timeout_secs: float = Field(default=8, gt=0, le=300)
    rate_limit_requests_per_hour: int = Field(default=0, ge=0)


class TlsSpec(_Model):
    """TLS at the edge: Caddy's automatic HTTPS (Compose) or cert-manager (Kubernetes).
    `internal`: Caddy's own local CA instead of ACME, for a host with no public DNS."""

    enabled: bool = True
    internal: bool = False
    cluster_issuer: DnsLabel = "letsencrypt-prod"
    acme_server: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory", pattern=r"^https://\S+$"
    )
    hsts_max_age: int = Field(default=31536000, ge=0)


class ManagementSpec(_Model):
    """The management API (api-server :7778). Not exposed publicly by default; when it is, only
    behind an IP allow-list and/or basic auth (a bcrypt hash from `caddy hash-password`, kept in
    the variable `basic_auth_hash_env`)."""

    expose: bool = False
    allowed_sources: list[Cidr] = Field(default_factory=list)
    basic_auth_user: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    basic_auth_hash_env: EnvName = "MANAGEMENT_BASIC_AUTH_HASH"

    @model_validator(mode="after")
    def _guarded(self) -> ManagementSpec:
        if self.expose and not self.allowed_sources and not self.basic_auth_user:
            raise ValueError(
                "expose: true needs allowed_sources (IP ranges) or basic_auth_user: "
                "the management API never goes public without an auth layer"
            )
        return self


# --- Compose and Kubernetes ------------------------------------------------------------------


class ComposeSpec(_Model):
    """Compose only: Caddy is the one service that publishes ports, on `bind_address` (empty:
    every interface; 127.0.0.1 for a local deployment). Rollouts: a new container must answer
    /ready within `health_timeout_secs`; an old one drains for `drain_timeout_secs`
    (SMARTFLOW_SHUTDOWN_TIMEOUT_SECS); the images of the last `keep_releases` releases stay."""

    caddy_image: str = "caddy:2.10-alpine"
    bind_address: str = Field(
        default="",
        pattern=r"^$|^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$",
    )
    http_port: int = Field(default=80, ge=1, le=65535)
    https_port: int = Field(default=443, ge=1, le=65535)
    caddy_cpus: float = Field(default=1.0, gt=0, le=256)
    caddy_memory: ComposeSize = "256m"
    drain_timeout_secs: int = Field(default=30, ge=1, le=3600)
    health_timeout_secs: int = Field(default=90, ge=5, le=3600)
    keep_releases: int = Field(default=5, ge=1, le=100)
    #: open files per container (the guide's 65536); at most the host's hard limit (ulimit -Hn)
    nofile: int = Field(default=65536, ge=1024, le=1048576)

    @model_validator(mode="after")
    def _ports(self) -> ComposeSpec:
        if self.http_port == self.https_port:
            raise ValueError("http_port and https_port must differ")
        return self


# --- Kubernetes -------------------------------------------------------------------------------


class NodePoolSpec(_Model):
    """Dedicated nodes for Smartflow pods so cert-manager and ingress don't compete for CPU."""

    labels: dict[str, str] = Field(default_factory=lambda: {"role": "smartflow"})
    affinity: Literal["none", "preferred", "required"] = "preferred"


class HpaSpec(_Model):
    """Autoscale the proxy on CPU (the guide: 2 to 8 replicas at 60%)."""

    enabled: bool = True
    min_replicas: int = Field(default=2, ge=1)
    max_replicas: int = Field(default=8, ge=1)
    cpu_target_percent: int = Field(default=60, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> HpaSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be at least min_replicas")
        return self


class IngressSpec(_Model):
    """ingress-nginx with buffering off (streaming), a 50m body and 300 s timeouts."""

    enabled: bool = True
    class_name: str = "nginx"
    body_size: str = Field(default="50m", pattern=r"^[0-9]+[kmgKMG]?$")
    timeout_secs: int = Field(default=300, ge=1)
    annotations: dict[str, str] = Field(default_factory=dict)


class AddOnSpec(_Model):
    """A cluster add-on `sfctl deploy k8s` installs or upgrades before Smartflow. `install:
    false` when the cluster already runs one (sfctl then only checks it is there); `chart_repo`
    for a mirror (air-gapped clusters: or `sfctl deploy k8s --charts-from DIR`)."""

    install: bool = True
    chart_repo: str | None = Field(default=None, pattern=r"^https?://\S+$")  # None: upstream


class KubernetesSpec(_Model):
    namespace: DnsLabel = "smartflow"
    cert_manager: AddOnSpec = Field(default_factory=AddOnSpec)
    ingress_nginx: AddOnSpec = Field(default_factory=AddOnSpec)
    node_pool: NodePoolSpec = Field(default_factory=NodePoolSpec)
    external_traffic_policy: Literal["Local", "Cluster"] = "Local"
    dns_ndots: int = Field(default=2, ge=1, le=15)
    ingress: IngressSpec = Field(default_factory=IngressSpec)
    hpa: HpaSpec = Field(default_factory=HpaSpec)
    service_monitor: bool = False
    existing_secret: DnsLabel | None = None
    storage_class: str | None = None


# --- the whole spec ---------------------------------------------------------------------------


class Spec(_Model):
    """sfctl.yaml: everything `sfctl render` needs, and nothing secret."""

    name: DnsLabel = "smartflow"
    domain: Hostname
    acme_email: Email
    image: ImageSpec = Field(default_factory=ImageSpec)
    services: ServicesSpec = Field(default_factory=ServicesSpec)
    providers: list[ProviderSpec] = Field(default_factory=list)
    models: list[ModelSpec] = Field(default_factory=list)
    redis: RedisSpec = Field(default_factory=RedisSpec)
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    tls: TlsSpec = Field(default_factory=TlsSpec)
    management: ManagementSpec = Field(default_factory=ManagementSpec)
    compose: ComposeSpec = Field(default_factory=ComposeSpec)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)

    @model_validator(mode="after")
    def _references(self) -> Spec:
        """Cross-field checks; the message starts with the field path, as the loader's do."""
        names = [p.name for p in self.providers]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(
                    f"providers.{i}.name: {name!r} is used twice; names must be unique"
                )
        if self.tls.internal and not self.tls.enabled:
            raise ValueError("tls.internal needs tls.enabled: true (or drop internal)")
        for i, model in enumerate(self.models):
            if model.provider not in names:
                raise ValueError(
                    f"models.{i}.provider: {model.provider!r} is not under providers "
                    f"(have: {', '.join(names) or 'none'}); add it there or fix the name"
                )
        return self

    def secret_names(self) -> list[str]:
        """Every variable the deployment reads from the secrets file / Kubernetes Secret."""
        names = [ADMIN_API_KEY]
        names += [REDIS_PASSWORD] if self.redis.mode == "bundled" else [self.redis.url_env]
        names += [POSTGRES_PASSWORD] if self.database.mode == "bundled" else [self.database.url_env]
        names += [p.api_key_env for p in self.providers if p.api_key_env]
        if self.management.expose and self.management.basic_auth_user:
            names.append(self.management.basic_auth_hash_env)
        return list(dict.fromkeys(names))
