"""`sfctl doctor` on what a deploy is about to run: the files are rendered into a scratch
folder first, so a spec the doctor faults never reaches the live folder (its Caddyfile and
gateway config are mounted into running containers)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sfctl.doctor.collect_caddy import collect_caddyfile
from sfctl.doctor.collect_compose import collect_compose
from sfctl.doctor.engine import Report, diagnose
from sfctl.render.compose import render_compose
from sfctl.spec import Spec


def preflight(spec: Spec, env_file: Path) -> Report:
    """The doctor's report on the Compose project and Caddyfile rendered from `spec`."""
    with tempfile.TemporaryDirectory(prefix="sfctl-preflight-") as scratch:
        folder = Path(scratch)
        render_compose(spec, folder)
        inventory = collect_compose(folder, env_file=env_file)
        inventory.merge(collect_caddyfile(folder / "Caddyfile"))
        return diagnose(inventory)
