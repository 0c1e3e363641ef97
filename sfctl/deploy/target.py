"""The Python an image runs, and the wheel tags that fit it. Pure.

The wheelhouse is made on the build host for the image's interpreter, not the host's: its
version gives the ABI tag, its machine and C library the manylinux platform tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sfctl.errors import SfctlError

#: the legacy manylinux names: the glibc version each stands for, and its machines (PEP 600)
_INTEL = frozenset({"x86_64", "i686"})
_LEGACY: dict[tuple[int, int], tuple[str, frozenset[str] | None]] = {
    (2, 17): ("manylinux2014", None),
    (2, 12): ("manylinux2010", _INTEL),
    (2, 5): ("manylinux1", _INTEL),
}
#: what probing a base image prints (python version, machine, C library)
PROBE = (
    "import json, os, platform; print(json.dumps({'python': platform.python_version(), "
    "'machine': platform.machine(), 'libc': os.confstr('CS_GNU_LIBC_VERSION') or ''}))"
)


@dataclass(frozen=True, slots=True)
class TargetPython:
    version: tuple[int, int, int]
    machine: str  # platform.machine(): x86_64, aarch64
    glibc: tuple[int, int]

    @property
    def abi(self) -> str:
        return f"cp{self.version[0]}{self.version[1]}"

    @property
    def full_version(self) -> str:
        return ".".join(str(part) for part in self.version)


def bookworm(machine: str) -> TargetPython:
    """Debian bookworm's python3: the default base image's, and `sfctl build base`'s."""
    return TargetPython(version=(3, 11, 2), machine=machine, glibc=(2, 36))


def parse_probe(answer: dict[str, str], image: str) -> TargetPython:
    """The base image's answer to PROBE; it must be CPython 3.11+ on glibc (manylinux)."""
    version = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\S*", answer.get("python", ""))
    libc = re.fullmatch(r"glibc (\d+)\.(\d+)\S*", answer.get("libc", ""))
    if version is None:
        raise SfctlError(f"base image {image}: cannot read its Python version; is it CPython?")
    major, minor, micro = (int(part) for part in version.groups())
    if (major, minor) < (3, 11):
        raise SfctlError(
            f"base image {image} has Python {major}.{minor}; Smartflow needs 3.11 or newer"
        )
    if libc is None:
        raise SfctlError(
            f"base image {image} has no glibc (musl?); use a Debian or Ubuntu based image"
        )
    glibc = (int(libc[1]), int(libc[2]))
    return TargetPython(version=(major, minor, micro), machine=answer["machine"], glibc=glibc)


def platform_tags(target: TargetPython) -> list[str]:
    """manylinux tags the target's glibc runs, newest first, with the legacy aliases."""
    major, newest = target.glibc
    tags = []
    for minor in range(newest, 4, -1):
        tags.append(f"manylinux_{major}_{minor}_{target.machine}")
        legacy, machines = _LEGACY.get((major, minor), ("", frozenset()))
        if legacy and (machines is None or target.machine in machines):
            tags.append(f"{legacy}_{target.machine}")
    return tags
