"""What really runs in a Compose project: its containers found by the project's label (never
by container name: during an upgrade a service runs two), each container's and its image's
inspect JSON as the docker CLI prints it, and the answer of `smartflow-gateway --version
--json` run inside every gateway container.

The raw JSON, not python-on-whales' models: those drop the containerd store's `Descriptor` and
`ImageManifestDescriptor`, which verify needs to compare the right digest. The CLI is the one
python-on-whales drives (same binary, same DOCKER_HOST and context).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sfctl.deploy.compose_dir import project_name
from sfctl.deploy.engine import Engine, connect
from sfctl.deploy.verify import ContainerFacts, ExecFailure, ImageStore, VersionAnswer
from sfctl.deploy.verify_facts import (
    COMPOSE_SERVICE,
    VERSION_COMMAND,
    container_facts,
    parse_answer,
)
from sfctl.errors import SfctlError
from sfctl.spec import SERVICES

PROJECT_LABEL = "com.docker.compose.project"
ONEOFF_LABEL = "com.docker.compose.oneoff"  # `docker compose run`: not part of the deployment
TITLE_LABEL = "org.opencontainers.image.title"
GATEWAY_SERVICES = frozenset(info.service_type for info in SERVICES)
#: how long one `docker exec` may take before its container counts as not answering
EXEC_TIMEOUT_S = 30.0
_CLI_TIMEOUT_S = 60.0
_PARALLEL = 8


@dataclass(frozen=True, slots=True)
class Inspected:
    """One container of the project: the engine's JSON, and what its gateway said (None for a
    container that is not a gateway: Redis, PostgreSQL, Caddy, which are not asked)."""

    container: Mapping[str, Any]
    image: Mapping[str, Any] | None  # None: the image was removed while the container ran
    answer: VersionAnswer | ExecFailure | None
    store: ImageStore

    @property
    def facts(self) -> ContainerFacts:
        return container_facts(self.container, self.image, self.store, self.answer)

    @property
    def service(self) -> str:
        return self.facts.service


def is_gateway(container: Mapping[str, Any]) -> bool:
    """Whether the container is meant to run the gateway: a gateway service of the template,
    a SERVICE_TYPE in its environment, or the gateway image's title. Decided from what it
    should be, not from what its image is, so a wrong image in a gateway service is caught."""
    config = container.get("Config") or {}
    labels = config.get("Labels") or {}
    env = config.get("Env") or []
    return (
        labels.get(COMPOSE_SERVICE) in GATEWAY_SERVICES
        or any(str(item).startswith("SERVICE_TYPE=") for item in env)
        or labels.get(TITLE_LABEL) == "smartflow-gateway"
    )


@dataclass(frozen=True, slots=True)
class RunningProject:
    directory: Path
    project: str
    containers: list[Inspected]

    @property
    def running(self) -> bool:
        return any((item.container.get("State") or {}).get("Running") for item in self.containers)

    @property
    def image_store(self) -> ImageStore:
        """classic or containerd: which digests name the images (see verify.RunningImage)."""
        return self.containers[0].store


def inspect_deployment(directory: Path, *, ask: bool = True) -> RunningProject:
    """The Compose deployment rendered into `directory`, as the engine runs it; one line saying
    what to do when there is no such folder, no engine, or no container of it."""
    project = project_name(directory)
    engine = connect()
    containers = inspect_project(engine, project, ask=ask)
    if not containers:
        raise SfctlError(
            f"no container of the compose project {project!r} ({directory}) is here: deploy it "
            f"with `sfctl deploy compose --dir {directory}`, or pass --dir with its folder"
        )
    return RunningProject(directory, project, containers)


def inspect_project(engine: Engine, project: str, *, ask: bool = True) -> list[Inspected]:
    """Every container of `project` (running or not), ordered by service then name; `ask`
    False skips the exec. Empty when the project has no containers."""
    store = cast(ImageStore, engine.image_store)
    containers = project_containers(engine, project)
    image_ids = sorted({str(c.get("Image") or "") for c in containers} - {""})
    images = {str(i.get("Id")): i for i in _inspect(engine, "image", image_ids)}

    def read(container: Mapping[str, Any]) -> Inspected:
        answer = version_answer(engine, container) if ask and is_gateway(container) else None
        return Inspected(container, images.get(str(container.get("Image"))), answer, store)

    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        found = list(pool.map(read, containers))
    return sorted(found, key=lambda item: (item.service, item.facts.name))


def project_containers(engine: Engine, project: str) -> list[Mapping[str, Any]]:
    """The inspect JSON of every container labelled with `project`, one-off runs left out."""
    listed = _cli(
        engine,
        ["ps", "--all", "--no-trunc", "--quiet", "--filter", f"label={PROJECT_LABEL}={project}"],
        doing=f"listing the containers of {project}",
    )
    ids = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
    containers = _inspect(engine, "container", ids)
    return [c for c in containers if _labels(c).get(ONEOFF_LABEL, "False") != "True"]


def version_answer(engine: Engine, container: Mapping[str, Any]) -> VersionAnswer | ExecFailure:
    """What the gateway inside says it is; why not, when it cannot say."""
    state = container.get("State") or {}
    if not state.get("Running"):
        return ExecFailure(f"not running ({state.get('Status') or 'unknown'})")
    command = [*_docker(engine), "exec", str(container["Id"]), *VERSION_COMMAND]
    try:
        done = subprocess.run(  # noqa: S603 (the docker CLI with our arguments)
            command, capture_output=True, text=True, timeout=EXEC_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return ExecFailure(
            f"`{' '.join(VERSION_COMMAND)}` did not answer in {EXEC_TIMEOUT_S:.0f} s"
        )
    return parse_answer(done.returncode, done.stdout, done.stderr)


def _inspect(engine: Engine, kind: str, ids: Sequence[str]) -> list[Mapping[str, Any]]:
    """`docker <kind> inspect` of `ids`; an id that vanished meanwhile is left out (the CLI
    still prints the others, and exits 1)."""
    if not ids:
        return []
    done = _cli(engine, [kind, "inspect", *ids], doing=f"inspecting {kind}s", check=False)
    try:
        found = json.loads(done.stdout or "[]")
    except ValueError:
        raise SfctlError(f"inspecting {kind}s: docker printed no JSON ({_last(done)})") from None
    if done.returncode != 0 and not found:
        if "No such" in done.stderr:
            return []
        raise SfctlError(f"inspecting {kind}s: docker said: {_last(done)}")
    return [item for item in found if isinstance(item, dict)]


def _cli(
    engine: Engine, args: list[str], *, doing: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(  # noqa: S603 (the docker CLI with our arguments)
            [*_docker(engine), *args],
            capture_output=True,
            text=True,
            timeout=_CLI_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SfctlError(f"{doing}: dockerd did not answer in {_CLI_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise SfctlError(f"{doing}: cannot run the docker CLI ({exc.strerror})") from None
    if check and done.returncode != 0:
        raise SfctlError(f"{doing}: docker said: {_last(done)}")
    return done


def _docker(engine: Engine) -> list[str]:
    """The CLI and its global options (context, host, config) as python-on-whales runs it."""
    return [str(part) for part in engine.client.client_config.docker_cmd]


def _labels(container: Mapping[str, Any]) -> Mapping[str, str]:
    return cast(Mapping[str, str], (container.get("Config") or {}).get("Labels") or {})


def _last(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {done.returncode}"


def current_containers(items: Sequence[Inspected]) -> list[Inspected]:
    """What verify checks: every container, except stopped ones of a service that has another
    running (what an upgrade or a `compose up` left behind). A service with none running
    keeps its stopped containers, so verify reports it down rather than passing it over."""
    running = {item.service for item in items if (item.container.get("State") or {}).get("Running")}
    return [
        item
        for item in items
        if (item.container.get("State") or {}).get("Running") or item.service not in running
    ]
