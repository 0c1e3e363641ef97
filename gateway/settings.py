"""The only module that reads the environment and the config file.

Everything the gateway needs is collected into one frozen `Settings` at start and passed down.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import yaml
from pydantic import SecretStr, ValidationError

from gateway import __version__
from gateway.core.config import GatewayConfig
from gateway.core.toolspecs import A2aAgentSpec, McpServerSpec, specs_from_config

ServiceType = Literal["proxy", "api-server", "compliance", "policy-perfect", "all"]
SERVICE_TYPES: tuple[ServiceType, ...] = (
    "proxy",
    "api-server",
    "compliance",
    "policy-perfect",
    "all",
)
DEFAULT_PORTS: dict[str, int] = {
    "proxy": 7775,
    "api-server": 7778,
    "compliance": 7777,
    "policy-perfect": 7782,
    "all": 7775,
}


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it and says what to do."""


@dataclass(frozen=True, slots=True)
class BuildInfo:
    version: str
    git_commit: str
    build_time: str


@dataclass(frozen=True, slots=True)
class LogFileSettings:
    """SMARTFLOW_LOG_FILE: logs go to this file instead of stdout, rotated by size."""

    path: Path
    max_bytes: int = 20_000_000
    backups: int = 5


EmbedderKind = Literal["onnx", "static", "http", "none"]
EMBEDDER_KINDS: tuple[EmbedderKind, ...] = ("onnx", "static", "http", "none")
SidecarApi = Literal["tei", "openai"]


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """MetaCache (SMARTFLOW_CACHE_*). Names follow seed 002's cache settings (TTL, capacity)."""

    enabled: bool = True  # SMARTFLOW_CACHE: off disables every phase (x-smartflow-cache: bypass)
    semantic: bool = True  # SMARTFLOW_CACHE_SEMANTIC: phase 4 on when an embedder is available
    ttl_s: float = 86_400.0  # SMARTFLOW_CACHE_TTL_SECS
    max_entries: int = 10_000  # SMARTFLOW_CACHE_MAX_CAPACITY, per namespace
    local_max_entries: int = 50_000  # SMARTFLOW_CACHE_LOCAL_MAX_ENTRIES: phase 1's LRU, in all
    max_entry_bytes: int = 1_000_000  # SMARTFLOW_CACHE_MAX_ENTRY_BYTES: larger answers not kept
    # SMARTFLOW_CACHE_EMBEDDER: onnx (all-MiniLM-L6-v2 via onnxruntime), static (distilled from
    # it), http (a sidecar: TEI /embed or OpenAI-compatible /v1/embeddings), none (exact only).
    # None: onnx when its model is built, else none.
    embedder: EmbedderKind | None = None
    embedder_url: str | None = None  # SMARTFLOW_CACHE_EMBEDDER_URL (http)
    embedder_api: SidecarApi = "tei"  # SMARTFLOW_CACHE_EMBEDDER_API
    embedder_model: str | None = None  # SMARTFLOW_CACHE_EMBEDDER_MODEL (openai API's model)
    embedder_key_env: str | None = None  # SMARTFLOW_CACHE_EMBEDDER_KEY_ENV: names the env var
    model_dir: Path | None = None  # SMARTFLOW_MODEL_DIR; None: <data dir>/models
    ann_threshold: int = 20_000  # SMARTFLOW_CACHE_ANN_THRESHOLD: exact search below, ANN above
    shadow_rate: float = 0.0  # SMARTFLOW_CACHE_SHADOW_RATE: share of semantic hits re-asked
    max_temperature: float | None = 1.0  # SMARTFLOW_CACHE_MAX_TEMPERATURE ("none": no bound)


@dataclass(frozen=True, slots=True)
class ComplianceSettings:
    """Guardrails in the proxy (SMARTFLOW_COMPLIANCE_*); the timeout is COMPLIANCE_TIMEOUT_SECS."""

    enabled: bool = True  # SMARTFLOW_COMPLIANCE: off skips scanning and policies entirely
    # SMARTFLOW_COMPLIANCE_AUDIT_SCAN: with no policy to enforce, still scan (off the hot path,
    # after the response) so the audit log and metrics count findings
    audit_scan: bool = True
    stream_chunk_chars: int = 200  # SMARTFLOW_COMPLIANCE_STREAM_CHUNK_CHARS
    stream_context_chars: int = 50  # SMARTFLOW_COMPLIANCE_STREAM_CONTEXT_CHARS
    refresh_s: float = 1.0  # SMARTFLOW_POLICY_REFRESH_SECS: how often proxies look for changes


@dataclass(frozen=True, slots=True)
class McpSettings:
    """The MCP tool gateway and the A2A routes (issue 15)."""

    enabled: bool = False  # MCP_GATEWAY_ENABLED: /api/mcp*, /a2a/*, /.well-known/* on the proxy
    allow_stdio: bool = False  # SMARTFLOW_MCP_STDIO: servers the gateway starts as subprocesses
    refresh_s: float = 2.0  # SMARTFLOW_MCP_REFRESH_SECS: how often registrations are re-read
    tools_refresh_s: float = 60.0  # SMARTFLOW_MCP_TOOLS_REFRESH_SECS: tools/list and health
    cache_max_entries: int = 10_000  # SMARTFLOW_MCP_CACHE_MAX_ENTRIES: tool results kept
    public_url: str | None = None  # SMARTFLOW_PUBLIC_URL; None: from the request
    # read-only registrations from the SMARTFLOW_CONFIG file (`mcp_servers:`, `a2a_agents:`)
    servers: tuple[McpServerSpec, ...] = ()
    agents: tuple[A2aAgentSpec, ...] = ()
    # the process environment, where upstream credentials are read (a registration names its
    # variables; they are looked up when the upstream is connected). Never printed or compared.
    environ: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )


@dataclass(frozen=True, slots=True)
class Settings:
    service_type: ServiceType
    host: str
    port: int
    admin_api_key: SecretStr | None
    config: GatewayConfig
    build: BuildInfo
    workers: int = 1
    redis_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path("smartflow-data")  # load_settings always sets it
    mcp_gateway_enabled: bool = False  # the same as mcp.enabled (kept for existing readers)
    mcp: McpSettings = field(default_factory=McpSettings)
    rate_limit_requests_per_hour: int | None = None
    semantic_cache_threshold: float = 0.90
    cache: CacheSettings = field(default_factory=CacheSettings)
    compliance_timeout_secs: float = 8.0
    compliance: ComplianceSettings = field(default_factory=ComplianceSettings)
    max_body_bytes: int = 50 * 1024 * 1024
    shutdown_timeout_s: float = 30.0
    log_level: str = "INFO"
    access_log: bool = True
    # how long /v1/responses answers are kept for previous_response_id (0: never stored)
    responses_retention_s: float = 30 * 86400.0
    log_file: LogFileSettings | None = None  # None: JSON lines on stdout
    # Set by the --workers supervisor: workers' metrics are shared through files here.
    metrics_multiprocess_dir: Path | None = None
    otel_endpoint: str | None = None
    features: tuple[str, ...] = field(default=())


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean: use true or false")


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def load_config(path: str | None, env: Mapping[str, str]) -> GatewayConfig:
    """Read and validate SMARTFLOW_CONFIG, resolving each provider's api_key_env from `env`."""
    return _load_config(path, env)[0]


ToolSpecs = tuple[tuple[McpServerSpec, ...], tuple[A2aAgentSpec, ...]]


def _load_config(path: str | None, env: Mapping[str, str]) -> tuple[GatewayConfig, ToolSpecs]:
    """The config and the file's MCP servers and A2A agents (validated here: GatewayConfig is
    the LLM side and does not know them)."""
    if not path:
        return GatewayConfig(), ((), ())
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SettingsError(f"SMARTFLOW_CONFIG: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"SMARTFLOW_CONFIG: {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"SMARTFLOW_CONFIG: {path} must hold a mapping at the top level")
    tool_specs = _tool_specs(raw, path)
    for provider in raw.get("providers") or []:
        if not isinstance(provider, dict):
            continue
        if "api_key" in provider:
            raise SettingsError(
                f"SMARTFLOW_CONFIG: provider {provider.get('name')!r} has api_key in the file; "
                "put the key in the environment and name the variable in api_key_env"
            )
        key_env = provider.get("api_key_env")
        if key_env:
            if not env.get(key_env):
                raise SettingsError(
                    f"provider {provider.get('name')!r}: environment variable {key_env} is not set"
                )
            provider["api_key"] = env[key_env]
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SettingsError(f"SMARTFLOW_CONFIG {path}: {where}: {first['msg']}") from None
    for provider_config in config.providers:
        if provider_config.azure_ad and not _installed("azure.identity"):
            raise SettingsError(
                f"provider {provider_config.name!r} uses azure_ad, which needs azure-identity: "
                "pip install 'smartflow[azure]'"
            )
    _check_guardrails(config, path)
    return config, tool_specs


def _tool_specs(raw: dict[str, object], path: str) -> ToolSpecs:
    """Take `mcp_servers:` and `a2a_agents:` out of the file's mapping, validated."""
    try:
        servers = specs_from_config(raw.pop("mcp_servers", None), McpServerSpec, "mcp_servers")
        agents = specs_from_config(raw.pop("a2a_agents", None), A2aAgentSpec, "a2a_agents")
    except ValueError as exc:
        raise SettingsError(f"SMARTFLOW_CONFIG {path}: {exc}") from None
    return servers, agents


def _check_guardrails(config: GatewayConfig, path: str) -> None:
    """The config file's policies and guardrail settings, checked before anything starts (the
    proxy compiles them again when it opens the policy set)."""
    from gateway.compliance.config import GuardrailConfig
    from gateway.policy.compile import PolicyError, compile_policy

    names: set[str] = set()
    for index, document in enumerate(config.policies):
        try:
            compiled = compile_policy(document)
        except PolicyError as exc:
            raise SettingsError(
                f"SMARTFLOW_CONFIG {path}: policies[{index}]: {exc.message}"
            ) from None
        if compiled.policy.name in names:
            raise SettingsError(
                f"SMARTFLOW_CONFIG {path}: policies[{index}]: a second policy named "
                f"{compiled.policy.name!r}"
            )
        names.add(compiled.policy.name)
    if config.guardrails is not None:
        try:
            GuardrailConfig.model_validate(config.guardrails)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "guardrails"
            message = str(first["msg"]).removeprefix("Value error, ")
            raise SettingsError(f"SMARTFLOW_CONFIG {path}: guardrails.{where}: {message}") from None


def _log_file(env: Mapping[str, str]) -> LogFileSettings | None:
    rotation = [
        name for name in ("SMARTFLOW_LOG_MAX_BYTES", "SMARTFLOW_LOG_BACKUPS") if env.get(name)
    ]
    path = env.get("SMARTFLOW_LOG_FILE")
    if not path:
        if rotation:
            raise SettingsError(
                f"{rotation[0]} is set without SMARTFLOW_LOG_FILE: logs go to stdout, which the "
                "gateway does not rotate; set SMARTFLOW_LOG_FILE to a file path"
            )
        return None
    default = LogFileSettings(Path(path))
    return LogFileSettings(
        Path(path),
        max_bytes=int(_number(env, "SMARTFLOW_LOG_MAX_BYTES", default.max_bytes, minimum=1024)),
        backups=int(_number(env, "SMARTFLOW_LOG_BACKUPS", default.backups, minimum=1)),
    )


def _default_data_dir(env: Mapping[str, str]) -> Path:
    """Where embedded state lives when SMARTFLOW_DATA_DIR is not set (the same place sfctl uses)."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smartflow"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


def _build_info(env: Mapping[str, str]) -> BuildInfo:
    return BuildInfo(
        version=__version__,
        git_commit=env.get("SMARTFLOW_GIT_COMMIT", "unknown"),
        build_time=env.get("SMARTFLOW_BUILD_TIME", "unknown"),
    )


def _features(config: GatewayConfig, env: Mapping[str, str], mcp: bool) -> tuple[str, ...]:
    features = ["openai", "anthropic", "streaming", "routing", "metrics"]
    if config.uses_mock_only:
        features.append("mock-provider")
    if mcp:
        features.append("mcp")
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        features.append("otel")
    return tuple(features)


def _embedder(env: Mapping[str, str]) -> EmbedderKind | None:
    raw = env.get("SMARTFLOW_CACHE_EMBEDDER", "").strip().lower()
    if not raw:
        return None
    for known in EMBEDDER_KINDS:
        if raw == known:
            return known
    raise SettingsError(
        f"SMARTFLOW_CACHE_EMBEDDER={raw!r} is unknown: use one of {', '.join(EMBEDDER_KINDS)}"
    )


def _cache_settings(env: Mapping[str, str]) -> CacheSettings:
    embedder = _embedder(env)
    url = env.get("SMARTFLOW_CACHE_EMBEDDER_URL") or None
    if embedder == "http" and url is None:
        raise SettingsError(
            "SMARTFLOW_CACHE_EMBEDDER=http needs SMARTFLOW_CACHE_EMBEDDER_URL (the sidecar's base "
            "URL, e.g. http://tei:8080)"
        )
    api = env.get("SMARTFLOW_CACHE_EMBEDDER_API", "tei").strip().lower()
    if api not in ("tei", "openai"):
        raise SettingsError(f"SMARTFLOW_CACHE_EMBEDDER_API={api!r} is unknown: use tei or openai")
    shadow = _number(env, "SMARTFLOW_CACHE_SHADOW_RATE", 0.0)
    if shadow > 1:
        raise SettingsError("SMARTFLOW_CACHE_SHADOW_RATE must be between 0 and 1")
    raw_temperature = env.get("SMARTFLOW_CACHE_MAX_TEMPERATURE", "").strip().lower()
    max_temperature = (
        None if raw_temperature == "none" else _number(env, "SMARTFLOW_CACHE_MAX_TEMPERATURE", 1.0)
    )
    model_dir = env.get("SMARTFLOW_MODEL_DIR") or None
    return CacheSettings(
        enabled=_bool(env, "SMARTFLOW_CACHE", True),
        semantic=_bool(env, "SMARTFLOW_CACHE_SEMANTIC", True),
        ttl_s=_number(env, "SMARTFLOW_CACHE_TTL_SECS", 86_400.0, minimum=1),
        max_entries=int(_number(env, "SMARTFLOW_CACHE_MAX_CAPACITY", 10_000, minimum=1)),
        local_max_entries=int(_number(env, "SMARTFLOW_CACHE_LOCAL_MAX_ENTRIES", 50_000, minimum=1)),
        max_entry_bytes=int(
            _number(env, "SMARTFLOW_CACHE_MAX_ENTRY_BYTES", 1_000_000, minimum=1024)
        ),
        embedder=embedder,
        embedder_url=url,
        embedder_api="openai" if api == "openai" else "tei",
        embedder_model=env.get("SMARTFLOW_CACHE_EMBEDDER_MODEL") or None,
        embedder_key_env=env.get("SMARTFLOW_CACHE_EMBEDDER_KEY_ENV") or None,
        model_dir=Path(model_dir) if model_dir else None,
        ann_threshold=int(_number(env, "SMARTFLOW_CACHE_ANN_THRESHOLD", 20_000, minimum=1)),
        shadow_rate=shadow,
        max_temperature=max_temperature,
    )


def _service_type(value: str) -> ServiceType:
    for known in SERVICE_TYPES:
        if value == known:
            return known
    raise SettingsError(f"SERVICE_TYPE={value!r} is unknown: use one of {', '.join(SERVICE_TYPES)}")


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    service_type: str | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    config_path: str | None = None,
) -> Settings:
    """Build Settings from the environment; explicit arguments (command-line flags) win."""
    env = os.environ if env is None else env
    service = _service_type(service_type or env.get("SERVICE_TYPE", "all"))
    config, tool_specs = _load_config(config_path or env.get("SMARTFLOW_CONFIG"), env)
    admin = env.get("ADMIN_API_KEY") or None
    if admin is not None and len(admin) < 16:
        raise SettingsError("ADMIN_API_KEY is too short: use at least 16 random characters")
    rph_raw = env.get("RATE_LIMIT_REQUESTS_PER_HOUR")
    mcp = _bool(env, "MCP_GATEWAY_ENABLED", False)
    threshold = _number(env, "SEMANTIC_CACHE_THRESHOLD", 0.90)
    if threshold > 1:
        raise SettingsError("SEMANTIC_CACHE_THRESHOLD must be between 0 and 1")
    if env.get("KEYSTORE_REDIS_URL") and not env.get("DATABASE_URL"):
        raise SettingsError(
            "KEYSTORE_REDIS_URL is set without DATABASE_URL: shared mode keeps counters in Redis "
            "and the durable record (keys, audit log, spend) in PostgreSQL; set DATABASE_URL"
        )
    data_dir = env.get("SMARTFLOW_DATA_DIR") or str(_default_data_dir(env))
    resolved_port = (
        port
        if port is not None
        else int(_number(env, "SMARTFLOW_PORT", DEFAULT_PORTS[service], minimum=0))
    )
    return Settings(
        service_type=service,  # checked against SERVICE_TYPES above
        host=host or env.get("SMARTFLOW_HOST", "0.0.0.0"),
        port=resolved_port,
        workers=workers
        if workers is not None
        else int(_number(env, "SMARTFLOW_WORKERS", 1, minimum=1)),
        admin_api_key=SecretStr(admin) if admin else None,
        config=config,
        build=_build_info(env),
        redis_url=env.get("KEYSTORE_REDIS_URL") or None,
        database_url=env.get("DATABASE_URL") or None,
        data_dir=Path(data_dir),
        mcp_gateway_enabled=mcp,
        mcp=_mcp_settings(env, mcp, tool_specs),
        rate_limit_requests_per_hour=int(_number(env, "RATE_LIMIT_REQUESTS_PER_HOUR", 0))
        if rph_raw
        else None,
        semantic_cache_threshold=threshold,
        cache=_cache_settings(env),
        compliance_timeout_secs=_number(env, "COMPLIANCE_TIMEOUT_SECS", 8.0),
        compliance=_compliance_settings(env),
        max_body_bytes=int(
            _number(env, "SMARTFLOW_MAX_BODY_BYTES", 50 * 1024 * 1024, minimum=1024)
        ),
        shutdown_timeout_s=_number(env, "SMARTFLOW_SHUTDOWN_TIMEOUT_SECS", 30.0),
        log_level=env.get("SMARTFLOW_LOG_LEVEL", "INFO").upper(),
        access_log=_bool(env, "SMARTFLOW_ACCESS_LOG", True),
        responses_retention_s=_number(env, "SMARTFLOW_RESPONSES_RETENTION_DAYS", 30.0) * 86400,
        log_file=_log_file(env),
        otel_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        features=_features(config, env, mcp),
    )


def _mcp_settings(env: Mapping[str, str], enabled: bool, specs: ToolSpecs) -> McpSettings:
    public_url = (env.get("SMARTFLOW_PUBLIC_URL") or "").strip().rstrip("/") or None
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise SettingsError(
            f"SMARTFLOW_PUBLIC_URL={public_url!r} must be an http:// or https:// URL (the "
            "gateway's address as clients reach it)"
        )
    servers, agents = specs
    allow_stdio = _bool(env, "SMARTFLOW_MCP_STDIO", False)
    stdio = [server.name for server in servers if server.transport == "stdio"]
    if stdio and not allow_stdio:
        raise SettingsError(
            f"SMARTFLOW_CONFIG: mcp server {stdio[0]!r} is a stdio server, which the gateway "
            "starts only with SMARTFLOW_MCP_STDIO=true"
        )
    return McpSettings(
        enabled=enabled,
        allow_stdio=allow_stdio,
        refresh_s=_number(env, "SMARTFLOW_MCP_REFRESH_SECS", 2.0, minimum=0.05),
        tools_refresh_s=_number(env, "SMARTFLOW_MCP_TOOLS_REFRESH_SECS", 60.0, minimum=0.05),
        cache_max_entries=int(_number(env, "SMARTFLOW_MCP_CACHE_MAX_ENTRIES", 10_000)),
        public_url=public_url,
        servers=servers,
        agents=agents,
        environ=MappingProxyType(dict(env)),
    )


def _compliance_settings(env: Mapping[str, str]) -> ComplianceSettings:
    chunk = int(_number(env, "SMARTFLOW_COMPLIANCE_STREAM_CHUNK_CHARS", 200, minimum=16))
    context = int(_number(env, "SMARTFLOW_COMPLIANCE_STREAM_CONTEXT_CHARS", 50))
    if context >= chunk:
        raise SettingsError(
            "SMARTFLOW_COMPLIANCE_STREAM_CONTEXT_CHARS must be smaller than "
            "SMARTFLOW_COMPLIANCE_STREAM_CHUNK_CHARS"
        )
    return ComplianceSettings(
        enabled=_bool(env, "SMARTFLOW_COMPLIANCE", True),
        audit_scan=_bool(env, "SMARTFLOW_COMPLIANCE_AUDIT_SCAN", True),
        stream_chunk_chars=chunk,
        stream_context_chars=context,
        refresh_s=_number(env, "SMARTFLOW_POLICY_REFRESH_SECS", 1.0, minimum=0.05),
    )
