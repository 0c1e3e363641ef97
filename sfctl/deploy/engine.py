"""The Docker engine, through python-on-whales: connect, probe a base image, build with the
legacy builder (there is no buildx here), push, and read back what an image is.

Every engine error becomes one `SfctlError` line that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from python_on_whales import DockerClient, DockerException
from python_on_whales.client_config import ClientNotFoundError

from sfctl.deploy.buildinfo import split_reference
from sfctl.deploy.progress import Progress
from sfctl.deploy.target import PROBE, TargetPython, parse_probe
from sfctl.errors import SfctlError

START_DOCKERD = (
    "start it (`dockerd > /var/log/dockerd.log 2>&1 &`, or .ci/docker-setup on a fresh "
    "machine), or set DOCKER_HOST"
)
_NO_DAEMON = re.compile(r"Cannot connect to the Docker daemon at (\S+?)\.? ")
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


def _reason(exc: DockerException) -> str:
    lines = [line.strip() for line in (exc.stderr or "").splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("DEPRECATED")]
    return (useful or lines or [f"exit {exc.return_code}"])[-1]


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What the engine says an image is; `repo_digests` only once pushed or pulled."""

    id: str
    size: int
    labels: dict[str, str]
    repo_digests: tuple[str, ...]


class _StepLog:
    """A file for python-on-whales' build output: the log on disk, `Step N/M` as progress,
    and the last lines kept for the error message."""

    def __init__(self, log: TextIO, key: str, progress: Progress) -> None:
        self._log, self._key, self._progress = log, key, progress
        self._partial = ""
        self.tail: deque[str] = deque(maxlen=40)
        self.step = ""
        self.container = ""  # the current step's container: a failed one is left behind

    def write(self, text: str) -> int:
        self._log.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self.tail.append(line)
            running = _RUNNING_IN.match(line)
            if running:
                self.container = running[1]
            match = _STEP.match(line)
            if match:
                self.step = f"step {match[1]}/{match[2]} ({match[3][:60]})"
                done, total = int(match[1]) - 1, int(match[2])
                self._progress(self._key, done=done, total=total, detail=match[3][:40])
        return len(text)

    def flush(self) -> None:
        self._log.flush()


class Engine:
    """One connected Docker engine; `connect()` makes one or says how to start dockerd."""

    def __init__(self, client: DockerClient, info: Any) -> None:
        self.client = client
        self.info = info

    @property
    def image_store(self) -> str:
        """`containerd` or `classic`: they report different digests for the same image."""
        status = dict(getattr(self.info, "driver_status", None) or [])
        return "containerd" if status.get("driver-type") == CONTAINERD_SNAPSHOTTER else "classic"

    @property
    def architecture(self) -> str:
        return str(self.info.architecture)

    def has_image(self, reference: str) -> bool:
        return bool(self.client.image.exists(reference))

    def ensure_image(self, reference: str, *, missing: str) -> None:
        """Pull `reference` when it is not here; `missing` says how to make it otherwise."""
        if self.has_image(reference):
            return
        try:
            self.client.image.pull(reference, quiet=True)
        except DockerException as exc:
            raise SfctlError(
                f"image {reference} is not here and cannot be pulled ({_reason(exc)}): {missing}"
            ) from None

    def probe_python(self, image: str) -> TargetPython:
        """The Python inside `image` (version, machine, C library), from a throwaway container."""
        try:
            output = self.client.run(image, ["python3", "-c", PROBE], remove=True, pull="never")
        except DockerException as exc:
            raise SfctlError(f"base image {image}: python3 does not run ({_reason(exc)})") from None
        try:
            answer = json.loads(str(output).strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise SfctlError(f"base image {image}: unexpected answer from python3") from None
        return parse_probe(answer, image)

    def package_version(self, image: str, package: str) -> str:
        """The version of a Debian package inside `image` ("unknown" if it cannot tell)."""
        try:
            output = self.client.run(
                image,
                ["-W", "-f", "${Version}", package],
                entrypoint="dpkg-query",
                remove=True,
                pull="never",
            )
        except DockerException:
            return "unknown"
        return str(output).strip() or "unknown"

    def build(
        self,
        context: Path,
        *,
        dockerfile: Path,
        reference: str,
        build_args: dict[str, str],
        key: str,
        progress: Progress,
        log_path: Path,
    ) -> str:
        """Legacy-build `dockerfile` in `context`, tag `reference`; the image id. The full
        output goes to `log_path`; a failure names the step and the log."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w", encoding="utf-8") as log:
            steps = _StepLog(log, key, progress)
            try:
                with contextlib.redirect_stdout(steps):
                    image = self.client.legacy_build(
                        context,
                        file=dockerfile,
                        tags=[reference],
                        build_args=build_args,
                        quiet=False,
                    )
            except DockerException as exc:
                log.write(exc.stderr or "")
                if steps.container:  # the legacy builder keeps a failed step's container
                    with contextlib.suppress(DockerException):
                        self.client.container.remove(steps.container, force=True)
                errors = [line for line in steps.tail if line.startswith(("ERROR", "E: "))]
                reason = errors[-1] if errors else _reason(exc)
                where = f" at {steps.step}" if steps.step else ""
                raise SfctlError(
                    f"building {reference} failed{where}: {reason}; full log: {log_path}"
                ) from None
        progress(key, done=1, total=1, detail="built")
        return str(image.id)

    def facts(self, reference: str) -> ImageFacts:
        image = self.client.image.inspect(reference)
        config = image.config
        return ImageFacts(
            id=str(image.id),
            size=int(image.size or 0),
            labels=dict((config.labels if config else None) or {}),
            repo_digests=tuple(image.repo_digests or ()),
        )

    def push(self, reference: str) -> str:
        """Push `reference`; the registry's digest for it (`repo@sha256:...`)."""
        try:
            self.client.image.push(reference, quiet=True)
        except DockerException as exc:
            raise SfctlError(
                f"pushing {reference} failed ({_reason(exc)}): check the registry name and "
                "`docker login` to it"
            ) from None
        repository, _ = split_reference(reference)
        for digest in self.facts(reference).repo_digests:
            if digest.split("@", 1)[0] == repository:
                return digest
        raise SfctlError(f"pushed {reference}, but the engine reports no digest for it")


@contextlib.contextmanager
def engine_errors(doing: str) -> Iterator[None]:
    """Any engine error not handled closer to its cause, as one line."""
    try:
        yield
    except DockerException as exc:
        raise SfctlError(f"{doing}: docker said: {_reason(exc)}") from None


def connect() -> Engine:
    """The engine DOCKER_HOST (or the default socket) names, checked to answer."""
    try:
        client = DockerClient()
        info = client.system.info()
    except ClientNotFoundError:
        raise SfctlError(
            "the docker CLI is not installed: apt-get install docker.io (or docker-ce-cli)"
        ) from None
    except DockerException as exc:
        reason = _reason(exc)
        where = _NO_DAEMON.search(reason + " ")
        if "permission denied" in reason:
            raise SfctlError(
                "dockerd refuses this user (permission denied on its socket): run as root or "
                "add the user to the docker group"
            ) from None
        what = f"at {where[1]}" if where else f"({reason})"
        raise SfctlError(f"cannot reach dockerd {what}: {START_DOCKERD}") from None
    return Engine(client, info)
