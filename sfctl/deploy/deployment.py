"""One Compose deployment: its folder, the spec and secrets file it was deployed from, and what
it runs. `deploy` remembers the spec and the secrets file in the state folder, so `upgrade`,
`rollback` and `teardown` need only `--dir`; the images running are read from the engine."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from sfctl.deploy.buildinfo import REVISION_LABEL, VERSION_LABEL
from sfctl.deploy.compose_project import SERVICE_LABEL, ComposeProject, labels_of
from sfctl.deploy.history import ServiceImage
from sfctl.deploy.rollout import ROLL_ORDER
from sfctl.deploy.state import compose_state_dir
from sfctl.errors import SfctlError
from sfctl.spec import Spec, load_spec

DEPLOYMENT_FILE = "deployment.json"


@dataclass(frozen=True, slots=True)
class Deployment:
    directory: Path
    spec_file: Path
    env_file: Path
    spec: Spec

    @property
    def state_dir(self) -> Path:
        return compose_state_dir(self.directory)

    def project(self) -> ComposeProject:
        return ComposeProject(self.directory, self.env_file, self.spec.name)


def resolve(directory: Path, spec_file: Path | None, env_file: Path | None) -> Deployment:
    """Options first, then what the last deploy recorded, then ./sfctl.yaml and the .env
    beside it. Every missing file is one line saying which option to pass."""
    recorded = _recorded(directory)
    spec_path = spec_file or recorded.get("spec_file") or Path("sfctl.yaml")
    if not spec_path.is_file():
        raise SfctlError(
            f"no deployment spec {spec_path}: pass -f sfctl.yaml (sfctl init writes one)"
        )
    env_path = env_file or recorded.get("env_file") or spec_path.parent / ".env"
    if not env_path.is_file():
        raise SfctlError(
            f"no secrets file {env_path}: pass --env-file (sfctl init writes .env beside the spec)"
        )
    return Deployment(directory, spec_path.resolve(), env_path.resolve(), load_spec(spec_path))


def remember(deployment: Deployment) -> None:
    """Record the spec and secrets file for the next upgrade, rollback or teardown."""
    deployment.state_dir.mkdir(parents=True, exist_ok=True)
    payload = {"spec_file": str(deployment.spec_file), "env_file": str(deployment.env_file)}
    (deployment.state_dir / DEPLOYMENT_FILE).write_text(json.dumps(payload, indent=2) + "\n")


def _recorded(directory: Path) -> dict[str, Path]:
    try:
        raw = json.loads((compose_state_dir(directory) / DEPLOYMENT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {key: Path(str(raw[key])) for key in ("spec_file", "env_file") if raw.get(key)}


def with_image(spec: Spec, reference: str) -> Spec:
    """The spec running `reference` for every gateway service (built already: no `build:`)."""
    repository, tag = split_reference(reference)
    image = spec.image.model_copy(update={"repository": repository, "tag": tag, "build": None})
    return spec.model_copy(update={"image": image})


def split_reference(reference: str) -> tuple[str, str]:
    """repo:tag, where repo may hold a registry's host:port."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag or not tag:
        raise SfctlError(f"{reference!r} is not an image reference; use e.g. repo/name:tag")
    return name, tag


def running_images(project: ComposeProject) -> tuple[ServiceImage, ...]:
    """What each gateway service runs now (one per service: its newest running container)."""
    found: dict[str, ServiceImage] = {}
    for container in project.containers():
        labels = labels_of(container)
        service = labels.get(SERVICE_LABEL, "")
        if service not in ROLL_ORDER or container.state.status != "running":
            continue
        found[service] = ServiceImage(
            service=service,
            image=str(container.config.image),
            image_id=str(container.image),
            version=labels.get(VERSION_LABEL),
            commit=labels.get(REVISION_LABEL),
        )
    return tuple(found[name] for name in ROLL_ORDER if name in found)


def release_version(images: tuple[ServiceImage, ...]) -> str | None:
    """The version a release runs: the proxy's (it is rolled last)."""
    by_service = {image.service: image for image in images}
    chosen = by_service.get("proxy") or (images[0] if images else None)
    return chosen.version if chosen else None


class Interrupted(SfctlError):
    exit_code = 143


@contextmanager
def orderly_stop() -> Iterator[None]:
    """SIGTERM and SIGINT become an error raised where the run is, once: the run undoes its
    half-done step, records the result and releases the lock; a second signal is ignored
    while it does."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        name = signal.Signals(signum).name
        raise Interrupted(
            f"stopped by {name}: the step in progress was undone and the lock released; "
            "run `sfctl status compose` to see what runs"
        )

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
