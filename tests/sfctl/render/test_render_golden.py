"""Golden files: what `sfctl render` writes for the default spec and a fully customised one.
A deliberate change to a template: regenerate with SFCTL_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sfctl.render import targets

from support.sfctl_render import custom_spec, default_spec

GOLDEN = Path(__file__).parent / "golden"
# this suite's targets; the Helm chart's output has tests of its own
TARGETS = ("compose", "caddy", "cert-manager", "ingress-nginx")
UPDATE = os.environ.get("SFCTL_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("which", ["default", "custom"])
@pytest.mark.parametrize("target", TARGETS)
def test_render_matches_golden(tmp_path: Path, which: str, target: str) -> None:
    spec = default_spec() if which == "default" else custom_spec()
    written = targets()[target](spec, tmp_path)
    expected_dir = GOLDEN / which / target
    rendered = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in written}
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for name, text in rendered.items():
            (expected_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / name).write_text(text)
    expected = {
        p.relative_to(expected_dir).as_posix(): p.read_text()
        for p in sorted(expected_dir.rglob("*"))
        if p.is_file()
    }
    assert sorted(rendered) == sorted(expected), "files differ; SFCTL_UPDATE_GOLDEN=1 regenerates"
    for name, text in rendered.items():
        assert text == expected[name], (
            f"{which}/{target}/{name} changed; SFCTL_UPDATE_GOLDEN=1 regenerates"
        )
