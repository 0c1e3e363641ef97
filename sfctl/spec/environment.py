"""The environment sfctl reads: state directory, management URL and admin key. Everything else
receives these values as arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CliEnvironment:
    data_dir: Path
    admin_url: str | None
    admin_api_key: str | None


def default_data_dir(env: Mapping[str, str]) -> Path:
    """SMARTFLOW_DATA_DIR, else $XDG_DATA_HOME/smartflow, else ~/.local/share/smartflow."""
    if env.get("SMARTFLOW_DATA_DIR"):
        return Path(env["SMARTFLOW_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smartflow"


def cli_environment(env: Mapping[str, str] | None = None) -> CliEnvironment:
    env = os.environ if env is None else env
    return CliEnvironment(
        data_dir=default_data_dir(env),
        admin_url=env.get("SMARTFLOW_ADMIN_URL") or None,
        admin_api_key=env.get("ADMIN_API_KEY") or None,
    )
