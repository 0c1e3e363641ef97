"""`sfctl render TARGET`: the deployment spec in, Compose / Caddy / Helm / cert-manager /
ingress-nginx / Kubernetes files out."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path

import typer

from sfctl import ui
from sfctl.errors import UsageError
from sfctl.render import Target, render_all, targets
from sfctl.spec import load_spec


class Output(StrEnum):
    table = "table"
    json = "json"


TARGET = typer.Argument(
    ..., help="compose, caddy, helm, cert-manager, ingress-nginx, k8s, or all.", show_default=False
)
SPEC_FILE = typer.Option(Path("sfctl.yaml"), "--file", "-f", help="The deployment spec.")
OUT_DIR = typer.Option(
    Path("rendered"), "--out", "-o", help="Folder to write into (`all`: one folder per target)."
)
OUTPUT = typer.Option(Output.table, "--output", help="Print a table or JSON.")


def render(
    target: str = TARGET,
    spec_file: Path = SPEC_FILE,
    out_dir: Path = OUT_DIR,
    output: Output = OUTPUT,
) -> None:
    """Render deployment files from sfctl.yaml."""
    registry = targets()
    if target != "all" and target not in registry:
        known = ", ".join([*registry, "all"])
        raise UsageError(f"unknown render target {target!r}; use one of: {known}")
    spec = load_spec(spec_file)
    if target == "all":
        written = render_all(spec, out_dir)
    else:
        chosen: Target = registry[target]
        written = chosen(spec, out_dir)
    rows = [_describe(path, out_dir) for path in written]
    if output is Output.json:
        files = [{"path": name, "bytes": size, "sha256": digest} for name, size, digest in rows]
        ui.emit_json({"target": target, "out_dir": str(out_dir), "files": files})
        return
    ui.table(
        f"sfctl render {target}",
        ("file", "bytes", "sha256"),
        [(name, size, digest[:12]) for name, size, digest in rows],
        literal=True,
    )
    compose_dir = out_dir / "compose" if target == "all" else out_dir
    if target in ("compose", "all"):
        env_file = spec_file.parent / ".env"
        compose_file = compose_dir / "docker-compose.yaml"
        ui.plain(f"Start it with: docker compose --env-file {env_file} -f {compose_file} up -d")


def _describe(path: Path, out_dir: Path) -> tuple[str, int, str]:
    """(path relative to out_dir, size, sha256) of a written file."""
    data = path.read_bytes()
    shown = path.relative_to(out_dir) if path.is_relative_to(out_dir) else path
    return str(shown), len(data), hashlib.sha256(data).hexdigest()
