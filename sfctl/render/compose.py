"""The Compose target: docker-compose.yaml, the Caddyfile it mounts, and the gateway config."""

from __future__ import annotations

from pathlib import Path

from sfctl.render.caddy import caddyfile
from sfctl.render.engine import render_template, write_files
from sfctl.render.gateway_config import gateway_config_yaml, gateway_environment
from sfctl.spec import ADMIN_API_KEY, POSTGRES_PASSWORD, REDIS_PASSWORD, SERVICES, Spec

COMPOSE_FILE = "docker-compose.yaml"
_PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}


def secret_ref(name: str) -> str:
    """A Compose reference to a secret in the env file; Compose stops with this message when
    the variable is missing, so a secret is never silently empty."""
    return f"${{{name}:?set {name} in the secrets file (.env)}}"


def compose_file(spec: Spec) -> str:
    secret = {name: secret_ref(name) for name in spec.secret_names()}
    if spec.redis.mode == "bundled":
        redis_url = f"redis://:{secret[REDIS_PASSWORD]}@redis:6379/0"
    else:
        redis_url = secret[spec.redis.url_env]
    if spec.database.mode == "bundled":
        db = spec.database
        database_url = f"postgresql://{db.user}:{secret[POSTGRES_PASSWORD]}@postgres:5432/{db.name}"
    else:
        database_url = secret[spec.database.url_env]
    depends = [
        name
        for name, mode in (("redis", spec.redis.mode), ("postgres", spec.database.mode))
        if mode == "bundled"
    ]
    services = [{"info": info, "spec": getattr(spec.services, info.key)} for info in SERVICES]
    return render_template(
        "compose/docker-compose.yaml.j2",
        spec=spec,
        services=services,
        gateway_env=gateway_environment(spec),
        secret=secret,
        admin_key=ADMIN_API_KEY,
        redis_url=redis_url,
        database_url=database_url,
        provider_keys=[p.api_key_env for p in spec.providers if p.api_key_env],
        pull_policy=_PULL[spec.image.pull_policy],
        depends=depends,
    )


def render_compose(spec: Spec, out_dir: Path) -> list[Path]:
    """docker-compose.yaml plus the files it mounts (Caddyfile, smartflow.yaml)."""
    return write_files(
        out_dir,
        {
            COMPOSE_FILE: compose_file(spec),
            "Caddyfile": caddyfile(spec, host=None),
            "smartflow.yaml": gateway_config_yaml(spec),
        },
    )
