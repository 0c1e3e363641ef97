"""The pinned toolchains (requirements/*.txt) must still satisfy pyproject.toml: an edited range
without a `requirements/lock` run would otherwise install something pyproject refuses, or
nothing at all for a new dependency (CI installs the lock with --no-deps)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _pins(lock: Path) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def _requirements(extras: list[str]) -> list[Requirement]:
    """The project's dependencies plus the named extras, following self-references."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional: dict[str, list[str]] = project["optional-dependencies"]
    found = [Requirement(text) for text in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in optional[extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def _unsatisfied(lock: Path, extras: list[str]) -> list[str]:
    pins = _pins(lock)
    environment = {**default_environment(), "python_version": "3.11", "extra": ""}
    problems = []
    for requirement in _requirements(extras):
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement}: not in {lock.name}")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement}: {lock.name} pins {pinned}")
    return problems


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("dev.txt", ["dev"]), ("runtime.txt", ["azure", "otel"])],
)
def test_the_lock_satisfies_pyproject(lock: str, extras: list[str]) -> None:
    assert _unsatisfied(ROOT / "requirements" / lock, extras) == [], "run requirements/lock"


def test_every_pin_carries_hashes() -> None:
    for lock in ("dev.txt", "runtime.txt"):
        text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert blocks, lock
        unhashed = [block.split()[0] for block in blocks if "--hash=sha256:" not in block]
        assert unhashed == [], f"{lock}: pins without hashes"


def test_a_stale_lock_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a pin outside its range and a missing package are named."""
    lock = tmp_path / "dev.txt"
    text = (ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8")
    text = re.sub(r"^aiohttp==\S+", "aiohttp==3.0.0", text, flags=re.M)
    text = re.sub(r"^orjson==", "not-orjson==", text, flags=re.M)
    lock.write_text(text, encoding="utf-8")
    problems = _unsatisfied(lock, ["dev"])
    assert any(p.startswith("aiohttp>=") and "pins 3.0.0" in p for p in problems), problems
    assert any(p.startswith("orjson") and "not in" in p for p in problems), problems
