"""What `sfctl init` writes: a commented sfctl.yaml and the secrets file (.env)."""

from __future__ import annotations

import secrets

from sfctl import __version__
from sfctl.render.engine import render_template
from sfctl.spec import ADMIN_API_KEY, POSTGRES_PASSWORD, REDIS_PASSWORD

GENERATED_SECRETS = (ADMIN_API_KEY, POSTGRES_PASSWORD, REDIS_PASSWORD)


def spec_yaml(
    *, name: str, domain: str, email: str, local: bool = False, nofile: int = 65536
) -> str:
    """The commented starting spec; it loads back with `load_spec` unchanged. `local`: plain
    HTTP on 127.0.0.1:8080, no public DNS or ACME, management routed on this host only."""
    return render_template(
        "init/sfctl.yaml.j2",
        name=name,
        domain=domain,
        email=email,
        tag=__version__,
        local=local,
        nofile=nofile,
    )


def generate_secrets() -> dict[str, str]:
    """Fresh random values (URL-safe, so they can sit in a Redis or PostgreSQL URL as-is)."""
    return {name: secrets.token_urlsafe(32) for name in GENERATED_SECRETS}


def env_file(values: dict[str, str], *, kubernetes_secret: str) -> str:
    lines = [
        "# Smartflow secrets, written by `sfctl init`. Keep this file mode 0600; never commit it.",
        "# Compose: docker compose --env-file .env ...",
        f"# Kubernetes: kubectl create secret generic {kubernetes_secret} --from-env-file=.env",
        *(f"{name}={value}" for name, value in values.items()),
        "# Provider keys: one line for each providers[].api_key_env in sfctl.yaml, e.g.",
        "# OPENAI_API_KEY=sk-...",
        "",
    ]
    return "\n".join(lines)
