"""Which Compose project a deployment folder is: the `name:` of its docker-compose.yaml (what
`sfctl render compose` writes from the spec's name), or, as Compose itself does without one,
the folder's name. Containers are then found by the project's label, never by container name:
during an upgrade a service runs two containers.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sfctl.errors import SfctlError

#: the file `sfctl render compose` writes (sfctl.render.compose.COMPOSE_FILE)
COMPOSE_FILE = "docker-compose.yaml"
_ALTERNATIVES = ("compose.yaml", "compose.yml", "docker-compose.yml")
_NOT_NAME = re.compile(r"[^a-z0-9_-]")


def compose_file(directory: Path) -> Path:
    """The Compose file of the deployment in `directory`; one line saying what to do if none."""
    if not directory.is_dir():
        raise SfctlError(
            f"no deployment folder {directory}: pass --dir with the folder `sfctl render "
            "compose` (or `sfctl deploy compose`) wrote"
        )
    for name in (COMPOSE_FILE, *_ALTERNATIVES):
        if (directory / name).is_file():
            return directory / name
    raise SfctlError(
        f"no {COMPOSE_FILE} in {directory}: pass --dir with the deployment's folder, or "
        f"render one there (`sfctl render compose -o {directory}`)"
    )


def project_name(directory: Path) -> str:
    """The Compose project the deployment in `directory` runs as."""
    path = compose_file(directory)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SfctlError(f"cannot read {path}: {exc}") from None
    name = loaded.get("name") if isinstance(loaded, dict) else None
    if isinstance(name, str) and name.strip():
        return name.strip()
    return default_project_name(directory)


def default_project_name(directory: Path) -> str:
    """Compose's own default: the folder's name, lowercased, other characters dropped."""
    cleaned = _NOT_NAME.sub("", directory.resolve().name.lower()).lstrip("_-")
    return cleaned or "default"
