"""The Caddyfile: bare metal / VM (upstreams on localhost) or inside Compose (service names)."""

from __future__ import annotations

from pathlib import Path

from sfctl.render.engine import render_template, write_files
from sfctl.spec import SERVICES, Spec

LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


def caddyfile(spec: Spec, *, host: str | None) -> str:
    """`host` None: each service by its Compose name, where `sfctl upgrade` rolls containers
    behind Caddy (so no keep-alive to them, see the template); otherwise each service on `host`
    (the guide's bare-metal layout: localhost), with keep-alive."""
    upstream = {info.service_type: f"{host or info.service_type}:{info.port}" for info in SERVICES}
    return render_template(
        "caddy/Caddyfile.j2",
        spec=spec,
        upstream=upstream,
        rolling=host is None,
        LETSENCRYPT=LETSENCRYPT,
    )


def render_caddy(spec: Spec, out_dir: Path) -> list[Path]:
    """The bare-metal / VM Caddyfile: every service on localhost, as in the guide."""
    return write_files(out_dir, {"Caddyfile": caddyfile(spec, host="localhost")})
