"""The hash-pinned requirement files the image installs (requirements/runtime.txt, made by
requirements/lock, and the image's own pins), read as data.

pip evaluates environment markers against the interpreter it runs on, not the one it downloads
for: a host on Python 3.11.7 skips `async-timeout ; python_full_version < '3.11.3'`, which
Debian's Python 3.11.2 needs. So the download list drops markers that only test the Python
version or implementation (a superset is fetched), and the image's pip, which runs on the
target, evaluates the untouched file. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sfctl.errors import SfctlError

_MARKER_NAMES = re.compile(
    r"\b(os_name|sys_platform|platform_machine|platform_python_implementation|platform_release"
    r"|platform_system|platform_version|python_version|python_full_version|implementation_name"
    r"|implementation_version|extra)\b"
)
#: markers that differ between the build host's Python and the image's, never the platform
PYTHON_ONLY = frozenset(
    {
        "python_version",
        "python_full_version",
        "implementation_name",
        "implementation_version",
        "platform_python_implementation",
    }
)


@dataclass(frozen=True, slots=True)
class Pin:
    requirement: str  # name==version (with extras)
    marker: str | None
    hashes: tuple[str, ...]

    @property
    def name(self) -> str:
        return re.split(r"[\[=<>!~ ]", self.requirement, maxsplit=1)[0].lower()


def _logical_lines(text: str) -> Iterable[str]:
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            yield joined


def parse_lock(text: str, *, source: str) -> list[Pin]:
    """Every requirement of a `--generate-hashes` file; one without hashes is an error (pip
    would refuse the whole file with --require-hashes, later and less clearly)."""
    pins = []
    for line in _logical_lines(text):
        if line.startswith("-"):
            raise SfctlError(f"{source}: option lines are not supported here: {line.split()[0]}")
        head, _, _ = line.partition(" --hash=")
        hashes = tuple(re.findall(r"--hash=(\S+)", line))
        requirement, _, marker = head.partition(";")
        pin = Pin(requirement.strip(), marker.strip() or None, hashes)
        if "==" not in pin.requirement or not hashes:
            raise SfctlError(
                f"{source}: {pin.requirement!r} is not pinned with hashes; regenerate it "
                "with requirements/lock"
            )
        pins.append(pin)
    return pins


def download_marker(marker: str | None) -> str | None:
    """The marker pip should still evaluate on the build host: none when it only tests the
    Python version or implementation (those are the target's to decide)."""
    if marker is None:
        return None
    names = set(_MARKER_NAMES.findall(marker))
    return None if names <= PYTHON_ONLY else marker


def for_python(pins: Iterable[Pin], version: tuple[int, int, int]) -> list[Pin]:
    """The pins the image's Python installs: one whose marker tests only the Python version or
    implementation is kept when it holds for `version` (CPython), dropped when not. Without
    this, a lock pinning one numpy for 3.11 and another for 3.12 asks pip download for both."""
    from packaging.markers import Marker

    full = ".".join(str(part) for part in version)
    environment = {
        "python_version": f"{version[0]}.{version[1]}",
        "python_full_version": full,
        "implementation_name": "cpython",
        "implementation_version": full,
        "platform_python_implementation": "CPython",
    }
    kept = []
    for pin in pins:
        python_only = pin.marker is not None and download_marker(pin.marker) is None
        if python_only and not Marker(str(pin.marker)).evaluate(environment):
            continue
        kept.append(pin)
    return kept


def format_pins(pins: Iterable[Pin], *, for_download: bool) -> str:
    """A requirements file pip reads with --require-hashes."""
    lines = []
    for pin in pins:
        marker = download_marker(pin.marker) if for_download else pin.marker
        head = f"{pin.requirement} ; {marker}" if marker else pin.requirement
        lines.append(" ".join([head, *(f"--hash={h}" for h in pin.hashes)]))
    return "\n".join(lines) + "\n"
