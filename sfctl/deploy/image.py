"""`sfctl build`: the runtime image from a source tree, end to end. Probe the base image's
Python, make the wheelhouse for it, ask the built wheel its version and features, build
Dockerfile.runtime with the build's identity, push when asked, and report what was built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sfctl.deploy.base_image import BASE_IMAGE
from sfctl.deploy.buildinfo import (
    BuildInfo,
    build_args,
    build_info,
    image_labels,
    image_reference,
)
from sfctl.deploy.engine import Engine
from sfctl.deploy.progress import Progress
from sfctl.deploy.source import read_source_state
from sfctl.deploy.wheelhouse import make_wheelhouse
from sfctl.deploy.wheelinfo import describe_wheel, wheel_version
from sfctl.errors import SfctlError

DOCKERFILE = "Dockerfile.runtime"
#: Dockerfile.runtime's own default; where no registry answers, `sfctl build base` makes one
DEFAULT_BASE_IMAGE = "python:3.11-slim-bookworm"
LOG_DIR = Path("build") / "logs"
MAKE_BASE = (
    f"make one with `sfctl build base` (debootstrap, tagged {BASE_IMAGE}) and pass "
    f"--base-image {BASE_IMAGE}"
)
NO_DIGEST = "none: not pushed (a registry assigns the digest on push; the id names it here)"


@dataclass(frozen=True, slots=True)
class BuildRequest:
    root: Path  # the source tree: Dockerfile.runtime, pyproject.toml, requirements/
    repository: str  # the spec's image repository
    tag: str | None = None  # --tag: a tag or a full reference
    base_image: str = DEFAULT_BASE_IMAGE
    commit: str | None = None  # --commit: overrides git
    push: bool = False
    wheels_from: Path | None = None  # offline: the dependency wheels come from here


@dataclass(frozen=True, slots=True)
class BuiltImage:
    reference: str
    image_id: str
    repo_digest: str | None
    info: BuildInfo
    features: tuple[str, ...]
    base_image: str
    size: int
    image_store: str  # classic or containerd: their digests differ
    labels: dict[str, str]

    def as_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "image_id": self.image_id,
            "repo_digest": self.repo_digest,
            "version": self.info.version,
            "build_version": self.info.build_version,
            "commit": self.info.commit,
            "dirty": self.info.dirty,
            "created": self.info.created,
            "features": list(self.features),
            "base_image": self.base_image,
            "size": self.size,
            "image_store": self.image_store,
            "labels": self.labels,
        }


def find_source_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding Dockerfile.runtime."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / DOCKERFILE).is_file():
            return folder
    raise SfctlError(
        f"no {DOCKERFILE} in {start} or above: run sfctl build in the Smartflow source "
        "checkout, or pass --source DIR"
    )


def build_runtime_image(
    engine: Engine, request: BuildRequest, *, now: datetime, progress: Progress
) -> BuiltImage:
    root = request.root
    if not (root / DOCKERFILE).is_file():
        raise SfctlError(f"{root / DOCKERFILE}: not found; pass --source with the source checkout")
    state = read_source_state(root)  # before anything is written
    progress("base image", done=0, total=1, detail=request.base_image[-40:])
    engine.ensure_image(request.base_image, missing=MAKE_BASE)
    target = engine.probe_python(request.base_image)
    progress("base image", done=1, total=1, detail=f"Python {target.full_version}")
    house = make_wheelhouse(root, target, find_links=request.wheels_from, progress=progress)
    wheel = describe_wheel(house.project_wheel)
    package_version = wheel_version(house.project_wheel)
    if wheel.version != package_version:
        raise SfctlError(
            f"the package version is {package_version} (pyproject.toml) but the gateway reports "
            f"{wheel.version} (gateway/__init__.py): make them equal"
        )
    info = build_info(package_version, state, now, commit=request.commit)
    reference = image_reference(request.tag, request.repository, info.build_version)
    image_id = engine.build(
        root,
        dockerfile=root / DOCKERFILE,
        reference=reference,
        build_args=build_args(info, wheel.features, request.base_image),
        key="image",
        progress=progress,
        log_path=root / LOG_DIR / "runtime-image.log",
    )
    digest = engine.push(reference) if request.push else None
    facts = engine.facts(image_id)
    expected = image_labels(info, wheel.features)
    wrong = sorted(name for name, value in expected.items() if facts.labels.get(name) != value)
    if wrong:
        raise SfctlError(f"{reference} was built without its labels ({', '.join(wrong)})")
    return BuiltImage(
        reference=reference,
        image_id=image_id,
        repo_digest=digest,
        info=info,
        features=wheel.features,
        base_image=request.base_image,
        size=facts.size,
        image_store=engine.image_store,
        labels=expected,
    )
