"""The fake cluster's container images: what a registry would serve and what runs in them.

No registry or runtime is reachable in tests, so a test says which references pull (and what
`smartflow-gateway --version --json` prints inside), which crash and which never pass their
readiness probe. Anything not registered is not pullable: ErrImagePull, then ImagePullBackOff,
as on a real node. The kubelet fake (workloads_pods) and the server's exec and logs read this.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Behaviour = Literal["ok", "crash", "never_ready"]

#: what the cert-manager v1.19.4 and ingress-nginx 4.14.1 charts run
ADDON_IMAGES = (
    "quay.io/jetstack/cert-manager-controller:v1.19.4",
    "quay.io/jetstack/cert-manager-webhook:v1.19.4",
    "quay.io/jetstack/cert-manager-cainjector:v1.19.4",
    "quay.io/jetstack/cert-manager-startupapicheck:v1.19.4",
    "registry.k8s.io/ingress-nginx/controller:v1.14.1",
    "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.5",
)

VERSION_COMMAND = ("smartflow-gateway", "--version", "--json")


class ExecUnavailable(Exception):
    """The container is not running: the API server refuses the exec upgrade with this
    HTTP status and message (`kubectl exec` prints 'error: unable to upgrade connection: ...')."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ImageRef:
    """A reference split the way containerd normalises it (docker.io/library/ for short names)."""

    repo: str
    tag: str | None
    digest: str | None  # "sha256:<hex>"

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        name, _, digest = ref.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = None
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
        first, _, rest = name.partition("/")
        if not rest:
            name = f"docker.io/library/{name}"
        elif "." not in first and ":" not in first and first != "localhost":
            name = f"docker.io/{name}"
        if tag is None and not digest:
            tag = "latest"
        return cls(repo=name, tag=tag, digest=digest or None)

    @property
    def tagged(self) -> str:
        return f"{self.repo}:{self.tag}" if self.tag else self.repo

    def __str__(self) -> str:
        text = self.tagged
        return f"{text}@{self.digest}" if self.digest else text


@dataclass(frozen=True)
class ImageInfo:
    """One pullable image and how a container started from it behaves."""

    ref: str  # as the pod asked for it
    repo: str
    digest: str  # "sha256:<hex>", what the runtime resolved
    behaviour: Behaviour = "ok"
    version: str = "0.1.0"
    commit: str = "abc1234"
    build_time: str = "2026-01-12T09:00:00Z"
    service: str = "all"
    features: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    start_ticks: int = 1
    gateway: bool = True  # has smartflow-gateway on its PATH
    json_version: bool = True  # knows `--version --json` (older builds do not)
    logs: tuple[str, ...] = ()
    exit_code: int = 0
    probe_message: str = "HTTP probe failed with statuscode: 503"
    explicit_digest: bool = False

    @property
    def image_id(self) -> str:
        """What containerd reports as containerStatuses[].imageID."""
        return f"{self.repo}@{self.digest}"

    def version_json(self) -> str:
        """What `smartflow-gateway --version --json` prints (orjson's compact form)."""
        body = {
            "name": "smartflow-gateway",
            "version": self.version,
            "git_commit": self.commit,
            "build_time": self.build_time,
            "service": self.service,
            "features": list(self.features),
        }
        return json.dumps(body, separators=(",", ":"))


def default_digest(ref: str) -> str:
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


class ImageBook:
    """The registry and runtime stand-in; thread-safe (tests add while the ticker reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images: dict[str, ImageInfo] = {}  # by normalised repo:tag (or repo@digest)

    def add(
        self,
        ref: str,
        *,
        version: str = "0.1.0",
        commit: str = "abc1234",
        features: tuple[str, ...] | list[str] = (),
        labels: dict[str, str] | None = None,
        digest: str | None = None,
        start_ticks: int = 1,
        build_time: str = "2026-01-12T09:00:00Z",
        service: str = "all",
        gateway: bool = True,
        json_version: bool = True,
    ) -> ImageInfo:
        """A pullable image whose containers run and turn ready `start_ticks` ticks after
        starting (when they have a readiness probe). `digest` defaults to sha256 of `ref`."""
        parsed = ImageRef.parse(ref)
        if digest is not None and not digest.startswith("sha256:"):
            digest = f"sha256:{digest}"
        info = ImageInfo(
            ref=ref,
            repo=parsed.repo,
            digest=digest or parsed.digest or default_digest(parsed.tagged),
            version=version,
            commit=commit,
            build_time=build_time,
            service=service,
            features=tuple(features),
            labels=dict(labels or {}),
            start_ticks=max(0, start_ticks),
            gateway=gateway,
            json_version=json_version,
            explicit_digest=digest is not None or parsed.digest is not None,
        )
        with self._lock:
            self._images[_key(parsed)] = info
        return info

    def crash(
        self, ref: str, logs: list[str] | tuple[str, ...] = (), exit_code: int = 1, **kw: Any
    ) -> ImageInfo:
        """Pullable, but every container from it exits `exit_code` soon after starting."""
        info = self.add(ref, **kw)
        return self._set(
            ref, replace(info, behaviour="crash", logs=tuple(logs), exit_code=exit_code)
        )

    def never_ready(
        self, ref: str, message: str = "HTTP probe failed with statuscode: 503", **kw: Any
    ) -> ImageInfo:
        """Runs, but its readiness probe keeps failing with `message`."""
        info = self.add(ref, **kw)
        return self._set(ref, replace(info, behaviour="never_ready", probe_message=message))

    def add_addons(self) -> None:
        """The images the cert-manager and ingress-nginx charts run (no smartflow-gateway in
        them); they pull with or without an @sha256 pin."""
        for ref in ADDON_IMAGES:
            self.add(ref, version=ref.rpartition(":")[2], gateway=False)

    def remove(self, ref: str) -> None:
        """Make a reference unpullable again (a tag deleted from the registry)."""
        with self._lock:
            self._images.pop(_key(ImageRef.parse(ref)), None)

    def lookup(self, ref: str) -> ImageInfo | None:
        """What pulling `ref` gives, None when the registry has no such image. A ref pinned
        by digest resolves to that digest; it pulls when the book has the image under that
        digest, or under its tag without a digest of its own."""
        parsed = ImageRef.parse(ref)
        with self._lock:
            info = self._images.get(parsed.tagged) if parsed.tag else None
            if parsed.digest:
                pinned = [i for i in self._images.values() if i.repo == parsed.repo]
                by_digest = next((i for i in pinned if i.digest == parsed.digest), None)
                if by_digest is not None:
                    info = by_digest
                elif info is not None and info.explicit_digest:
                    info = None  # the registry has the tag, but not under that digest
                elif info is not None:
                    info = replace(info, digest=parsed.digest)
        if info is None:
            return None
        return replace(info, ref=ref)

    def logs(self, ref: str, previous: bool = False) -> list[str]:
        """What `kubectl logs` shows for a container of this image. A crashing container's
        current and previous logs are its last run's; a healthy one has no previous run."""
        info = self.lookup(ref)
        if info is None:
            return []
        if info.behaviour == "crash":
            return list(info.logs)
        if previous:
            return []
        if info.gateway:
            return [
                json.dumps(
                    {"level": "info", "event": "listening", "version": info.version, "port": 7775},
                    separators=(",", ":"),
                )
            ]
        return [f"I0112 09:00:00.000000       1 main.go:42] starting {info.repo} {info.version}"]

    def exec(self, pod: dict[str, Any], container: str, command: list[str]) -> tuple[int, str, str]:
        """Run `command` in a running container of `pod`: (exit code, stdout, stderr).
        Raises ExecUnavailable when the container is not running, as the API server does."""
        spec = next(
            (c for c in pod.get("spec", {}).get("containers", []) if c.get("name") == container),
            None,
        )
        if spec is None:
            name = pod.get("metadata", {}).get("name", "")
            raise ExecUnavailable(400, f"container {container} is not valid for pod {name}")
        statuses = pod.get("status", {}).get("containerStatuses") or []
        status: dict[str, Any] = next((s for s in statuses if s.get("name") == container), {})
        if "running" not in (status.get("state") or {}):
            raise ExecUnavailable(
                400, f'unable to upgrade connection: container not found ("{container}")'
            )
        info = self.lookup(str(spec.get("image", "")))
        if info is None or not command:
            return _not_found(command[0] if command else "")
        if command[0] != "smartflow-gateway" or not info.gateway:
            return _not_found(command[0])
        if command[1:] == ["--version", "--json"]:
            if not info.json_version:
                usage = "usage: smartflow-gateway [-h] [--version] [--service SERVICE]"
                return 2, "", f"{usage}\nsmartflow-gateway: error: unrecognized arguments: --json\n"
            return 0, info.version_json() + "\n", ""
        if command[1:] == ["--version"]:
            return 0, f"smartflow-gateway {info.version} ({info.commit})\n", ""
        return 2, "", f"smartflow-gateway: error: unrecognized arguments: {' '.join(command[1:])}\n"

    def _set(self, ref: str, info: ImageInfo) -> ImageInfo:
        with self._lock:
            self._images[_key(ImageRef.parse(ref))] = info
        return info


def _key(parsed: ImageRef) -> str:
    return parsed.tagged if parsed.tag else f"{parsed.repo}@{parsed.digest}"


def _not_found(binary: str) -> tuple[int, str, str]:
    return (
        126,
        "",
        "OCI runtime exec failed: exec failed: unable to start container process: "
        f'exec: "{binary}": executable file not found in $PATH: unknown',
    )
