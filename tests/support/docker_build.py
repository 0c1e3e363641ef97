"""What the docker tests share: a real engine (the tests fail, never skip, without one), the base
image and wheel cache `.ci/docker-setup` makes, and one `sfctl build --stack` per session.

Nothing here downloads: the runtime image is built offline from the wheel cache
(`--wheels-from`); only the stack images' apt-get reaches the network, on their first build
(their layers are cached after that).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from python_on_whales import Container, DockerClient, DockerException

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "smartflow/base:bookworm"
SETUP = "run .ci/docker-setup (as root) to install and start dockerd and make the base image"
REPOSITORY = "smartflow-e2e/gateway"
TAG = "e2e"
STACK = {
    "redis": "smartflow-e2e/redis:e2e",
    "database": "smartflow-e2e/postgres:e2e",
    "caddy": "smartflow-e2e/caddy:e2e",
}
ADMIN_KEY = "sk-admin-e2e-0123456789abcdef"
SPEC = f"""\
name: sfe2e
domain: llm.example.test
acme_email: ops@example.test
image: {{repository: {REPOSITORY}, tag: {TAG}}}
redis: {{image: "{STACK["redis"]}"}}
database: {{image: "{STACK["database"]}"}}
compose: {{caddy_image: "{STACK["caddy"]}"}}
"""


def wheel_cache() -> Path:
    """Where .ci/docker-setup put the runtime wheels (`sfctl build wheels`)."""
    default = Path.home() / ".cache" / "smartflow" / "wheels"
    return Path(os.environ.get("SMARTFLOW_WHEELS", default))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def docker() -> DockerClient:
    """The engine, checked once; no engine (or no setup) fails the test with what to do."""
    client = DockerClient()
    try:
        client.system.info()
    except DockerException as exc:
        pytest.fail(f"dockerd does not answer ({(exc.stderr or '').strip()[:120]}): {SETUP}")
    if not client.image.exists(BASE_IMAGE):
        pytest.fail(f"the base image {BASE_IMAGE} is missing: {SETUP}")
    if not list(wheel_cache().glob("*.whl")):
        pytest.fail(f"no runtime wheels in {wheel_cache()}: {SETUP}")
    return client


def run_sfctl(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess; `env` adds to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "sfctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Build:
    result: dict[str, Any]  # `sfctl build --stack -o json`
    head: str  # git HEAD when the build started
    seconds: float
    deploy_dir: Path  # sfctl.yaml and .env of the test deployment

    @property
    def reference(self) -> str:
        return str(self.result["reference"])


def _deployment() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="sfctl-e2e-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "sfctl.yaml").write_text(SPEC)
    env = folder / ".env"
    env.write_text(
        f"ADMIN_API_KEY={ADMIN_KEY}\n"
        f"POSTGRES_PASSWORD={secrets.token_hex(16)}\n"
        f"REDIS_PASSWORD={secrets.token_hex(16)}\n"
    )
    env.chmod(0o600)
    return folder


@functools.cache
def build_all() -> Build:
    """`sfctl build --stack` of this checkout, once per session, through the real CLI."""
    docker()
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    folder = _deployment()
    started = time.monotonic()
    done = run_sfctl(
        *("build", "-f", str(folder / "sfctl.yaml"), "--source", str(ROOT), "--stack"),
        *("--tag", TAG, "--base-image", BASE_IMAGE, "--wheels-from", str(wheel_cache())),
        *("-o", "json"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Build(json.loads(done.stdout), head, time.monotonic() - started, folder)


@contextmanager
def container(image: str, command: list[str] | None = None, **options: Any) -> Iterator[Container]:
    """A detached container that is always removed, whatever the test did."""
    started: Container | None = None
    try:
        started = cast(Container, docker().run(image, command or [], detach=True, **options))
        yield started
    finally:
        if started is not None:
            docker().container.remove(started, force=True, volumes=True)


def wait_healthy(item: Container, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        item.reload()
        health = item.state.health
        if health is not None and health.status == "healthy":
            return
        time.sleep(0.25)
    logs = docker().container.logs(item)[-1500:]
    raise AssertionError(f"{item.name} not healthy within {timeout_s}s; logs:\n{logs}")
