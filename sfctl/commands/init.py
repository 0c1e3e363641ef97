"""`sfctl init [DIR]`: a commented sfctl.yaml and a secrets file (.env, mode 0600) with freshly
generated ADMIN_API_KEY, POSTGRES_PASSWORD and REDIS_PASSWORD."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import typer

from sfctl import ui
from sfctl.errors import SfctlError
from sfctl.render.helm import secret_name
from sfctl.render.init_files import env_file, generate_secrets, spec_yaml
from sfctl.spec import parse_spec

DIRECTORY = typer.Argument(Path("."), help="Where to write sfctl.yaml and .env.")
DOMAIN = typer.Option("smartflow.example.com", "--domain", help="Public host name of the gateway.")
EMAIL = typer.Option("ops@example.com", "--email", help="ACME (Let's Encrypt) contact address.")
NAME = typer.Option("smartflow", "--name", help="Resource prefix: Compose project, Helm release.")
LOCAL = typer.Option(
    False, "--local", help="This host only: http://localhost:8080, no public DNS or ACME."
)
FORCE = typer.Option(
    False, "--force", help="Overwrite existing files (new secrets: a running deployment breaks)."
)


def init(
    directory: Path = DIRECTORY,
    domain: str = DOMAIN,
    email: str = EMAIL,
    name: str = NAME,
    local: bool = LOCAL,
    force: bool = FORCE,
) -> None:
    """Write a deployment spec (sfctl.yaml) and its secrets file (.env)."""
    spec_path, secrets_path = directory / "sfctl.yaml", directory / ".env"
    existing = [str(p) for p in (spec_path, secrets_path) if p.exists()]
    if existing and not force:
        raise SfctlError(f"{', '.join(existing)} already exist(s); use --force to overwrite")
    if local and domain == DOMAIN.default:
        domain = "localhost"
    text = spec_yaml(
        name=name, domain=domain, email=email, local=local, nofile=_nofile() if local else 65536
    )
    spec = parse_spec(text, source="sfctl init")  # a bad --domain or --email fails before any write
    directory.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(text, encoding="utf-8")
    write_private(secrets_path, env_file(generate_secrets(), kubernetes_secret=secret_name(spec)))
    ui.success(f"wrote {ui.literal(str(spec_path))} and {ui.literal(str(secrets_path))} (0600)")
    if local:
        ui.info("a local deployment: http://localhost:8080 once `sfctl deploy compose` ran")
    elif domain.endswith("example.com") or email.endswith("example.com"):
        ui.warn("set domain and acme_email in sfctl.yaml before you deploy")


def _nofile() -> int:
    """--local: the guide's 65536 open files, or this host's hard limit when lower (a container
    cannot get more than its host allows). A server's spec keeps 65536: it runs elsewhere."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else max(1024, min(65536, hard))


def write_private(path: Path, text: str) -> None:
    """Create or replace `path` readable by its owner only, whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
