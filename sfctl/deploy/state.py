"""Where a Compose deployment keeps sfctl's own state: its deploy lock and its history.

One deployment is one folder of rendered Compose files (`sfctl render compose` writes
`rendered/` by default); sfctl's state lives beside them in `<dir>/.sfctl/`, so it follows the
deployment when the folder is moved or copied, survives a re-render (render never deletes), and
two deployments on one host never share a lock. Kubernetes keeps the same records in the
cluster instead.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR = ".sfctl"
#: `sfctl render compose`'s default output folder: the current deployment unless --dir says
DEFAULT_COMPOSE_DIR = Path("rendered")


def compose_state_dir(deployment_dir: Path) -> Path:
    """The state folder of the Compose deployment rendered into `deployment_dir`."""
    return deployment_dir / STATE_DIR


def fsync_dir(folder: Path) -> None:
    """Make a file created or renamed in `folder` survive a crash (its directory entry)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
