"""`sfctl build base`: a Debian base image made from packages, for hosts that cannot pull one
(air-gapped sites, and this CI machine): debootstrap a minimal bookworm with python3, slim it
the way Debian's -slim images are, and `docker import` it.

Every image sfctl builds can start from it: the runtime image (python3, python3-venv) and the
stack images (apt-get works in them, from the mirror written into /etc/apt).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sfctl.deploy.engine import Engine
from sfctl.deploy.progress import Progress
from sfctl.errors import SfctlError

BASE_IMAGE = "smartflow/base:bookworm"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security"
HOST_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))
#: what debootstrap prints for a minbase with python3 (about 570 `I:` lines): the bar's scale
_EXPECTED_LINES = 570
#: as Debian's -slim images: no manuals, docs or translations, now or from later apt installs
SLIM_DPKG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""
SLIM_APT = """\
APT::Keep-Downloaded-Packages "false";
Acquire::Languages "none";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
_SLIM_REMOVE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")


def _paragraphs(text: str) -> Iterable[dict[str, str]]:
    """deb822 stanzas (sources.list.d/*.sources) as field -> value."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields:
            yield fields


def find_mirror(text: str, suite: str) -> str | None:
    """The first mirror serving `suite` (`bookworm`, `bookworm-security`) in a sources file,
    one-line (`deb URI SUITE ...`) or deb822 (`URIs:`, `Suites:`)."""
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()  # no [options]
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            return words[1]
    for fields in _paragraphs(text):
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            return fields.get("uris", "").split()[0] if fields.get("uris") else None
    return None


def host_mirrors(suite: str, sources: Iterable[Path] = HOST_SOURCES) -> tuple[str, str]:
    """The host's Debian mirror and security mirror for `suite`, else deb.debian.org's."""
    texts = []
    for place in sources:
        files = sorted(place.glob("*")) if place.is_dir() else [place]
        texts += [
            path.read_text(encoding="utf-8", errors="replace") for path in files if path.is_file()
        ]
    found = [find_mirror(text, suite) for text in texts]
    security = [find_mirror(text, f"{suite}-security") for text in texts]
    return (
        next((uri for uri in found if uri), DEFAULT_MIRROR),
        next((uri for uri in security if uri), DEFAULT_SECURITY),
    )


def apt_sources(suite: str, mirror: str, security: str) -> str:
    """/etc/apt/sources.list of the image: the release, its updates and security fixes."""
    return (
        f"deb {mirror} {suite} main\n"
        f"deb {mirror} {suite}-updates main\n"
        f"deb {security} {suite}-security main\n"
    )


def debootstrap_command(root: Path, suite: str, mirror: str) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        suite,
        str(root),
        mirror,
    ]


def slim_rootfs(root: Path, sources: str) -> None:
    """Drop what an image never needs (downloaded .debs, package lists, docs, translations)
    and keep it so for later apt installs."""
    for relative in _SLIM_REMOVE:
        shutil.rmtree(root / relative, ignore_errors=True)
        (root / relative).mkdir(parents=True, exist_ok=True)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (root / cache).glob("*"):
            if path.is_file():
                path.unlink()
    (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(SLIM_DPKG, encoding="utf-8")
    (root / "etc/apt/apt.conf.d/docker-slim").write_text(SLIM_APT, encoding="utf-8")
    (root / "etc/apt/sources.list").write_text(sources, encoding="utf-8")


def _debootstrap(command: list[str], progress: Progress) -> None:
    tail: list[str] = []
    lines = 0
    progress("base image", done=0, total=_EXPECTED_LINES, detail="debootstrap")
    with subprocess.Popen(  # noqa: S603 (debootstrap with our arguments)
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines += 1
            tail = [*tail[-19:], line.rstrip()]
            detail = line.removeprefix("I: ").strip()[:40]
            progress(
                "base image",
                done=min(lines, _EXPECTED_LINES - 1),
                total=_EXPECTED_LINES,
                detail=detail,
            )
    if process.returncode != 0:
        errors = [line for line in tail if line.startswith("E:")] or tail[-1:]
        raise SfctlError(f"debootstrap failed: {(errors or ['no output'])[-1]}")


def make_base_image(
    engine: Engine,
    *,
    reference: str = BASE_IMAGE,
    suite: str = SUITE,
    mirror: str | None = None,
    progress: Progress,
) -> str:
    """debootstrap + docker import; the new image's id. Needs root (debootstrap does)."""
    if os.geteuid() != 0:
        raise SfctlError("making a base image runs debootstrap, which needs root: use sudo")
    if shutil.which("debootstrap") is None:
        raise SfctlError("debootstrap is not installed: apt-get install debootstrap")
    host_mirror, security = host_mirrors(suite)
    mirror = mirror or host_mirror
    with tempfile.TemporaryDirectory(prefix="sfctl-base-", dir="/var/tmp") as scratch:
        root = Path(scratch) / "rootfs"
        _debootstrap(debootstrap_command(root, suite, mirror), progress)
        slim_rootfs(root, apt_sources(suite, mirror, security))
        progress("base image", done=_EXPECTED_LINES - 1, total=_EXPECTED_LINES, detail="import")
        archive = Path(scratch) / "rootfs.tar"
        packed = subprocess.run(  # noqa: S603 (tar of our own directory)
            ["tar", "-C", str(root), "-cf", str(archive), "."],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if packed.returncode != 0:
            raise SfctlError(f"packing the base image failed: {packed.stderr.strip()[-200:]}")
        image = engine.client.image.import_(
            archive,
            tag=reference,
            changes=[
                "ENV LANG=C.UTF-8",
                'CMD ["bash"]',
                f"LABEL org.opencontainers.image.title=smartflow-base "
                f"org.opencontainers.image.description=debootstrap-{suite}-minbase-python3",
            ],
        )
    progress("base image", done=_EXPECTED_LINES, total=_EXPECTED_LINES, detail="imported")
    return str(image.id)
