"""`sfctl verify compose` and `sfctl status compose` against a real dockerd: a small Compose
project from the image `sfctl build` made (a gateway service and Redis, tagged for this test
only), then containers joined to it the way an upgrade runs them (a second container of a
service, from another build) and one whose exec fails. Everything made here is removed."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import Container, DockerClient

from sfctl.deploy.history import Action, Record, Result, ServiceImage, append
from sfctl.deploy.state import compose_state_dir

from support.docker_build import ADMIN_KEY, BASE_IMAGE, STACK, build_all, docker
from support.sfctl_cli import sfctl

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class Stack:
    directory: Path
    project: str
    gateway: str  # this test's tag of the built image
    other: str  # an image of another build
    build_version: str
    commit: str
    images: dict[str, str]  # service -> image id


def _compose(project: str, gateway: str, redis: str) -> str:
    return f"""\
name: {project}
services:
  proxy:
    image: {gateway}
    environment: {{SERVICE_TYPE: proxy, ADMIN_API_KEY: {ADMIN_KEY}}}
    healthcheck: {{interval: 1s, start_period: 30s}}
  redis:
    image: {redis}
    healthcheck: {{test: ["CMD", "redis-cli", "ping"], interval: 1s}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    built = build_all()
    engine = docker()
    project = f"sfverify-{secrets.token_hex(4)}"
    gateway, redis, other = (f"{project}/{part}:t" for part in ("gateway", "redis", "other"))
    engine.image.tag(built.result["image_id"], gateway)
    engine.image.tag(STACK["redis"], redis)
    folder = tmp_path_factory.mktemp("verify")
    (folder / "other.Dockerfile").write_text(
        f"FROM {gateway}\n"
        f"LABEL org.opencontainers.image.version=9.9.9 "
        f"org.opencontainers.image.revision={OTHER_COMMIT}\n"
        f"ENV SMARTFLOW_GIT_COMMIT={OTHER_COMMIT}\n"
    )
    directory = folder / "deploy"
    directory.mkdir()
    (directory / "docker-compose.yaml").write_text(_compose(project, gateway, redis))
    client = DockerClient(compose_files=[directory / "docker-compose.yaml"])
    try:
        engine.legacy_build(folder, file=folder / "other.Dockerfile", tags=[other])
        client.compose.up(detach=True, wait=True)
        images = {
            (c.config.labels or {})["com.docker.compose.service"]: str(c.image)
            for c in client.compose.ps()
        }
        yield Stack(
            directory,
            project,
            gateway,
            other,
            built.result["build_version"],
            built.result["commit"],
            images,
        )
    finally:
        client.compose.down(volumes=True, remove_orphans=True, timeout=2)
        for reference in (other, gateway, redis):
            if engine.image.exists(reference):
                engine.image.remove(reference, force=True)


def _joined(stack: Stack, image: str, service: str, **options: Any) -> Container:
    """A container the project's label makes part of it, as an upgrade's second one is."""
    labels = {"com.docker.compose.project": stack.project, "com.docker.compose.service": service}
    started = docker().run(
        image,
        detach=True,
        name=f"{stack.project}-{service}-{secrets.token_hex(2)}",
        labels=labels,
        **options,
    )
    assert isinstance(started, Container)
    return started


def _verify(stack: Stack, *args: str) -> tuple[int, str, dict[str, object]]:
    table = sfctl("verify", "compose", "--dir", str(stack.directory), *args, columns=80)
    as_json = sfctl("verify", "compose", "--dir", str(stack.directory), *args, "-o", "json")
    assert as_json.returncode == table.returncode, (table.stderr, as_json.stderr)
    assert table.stderr == "", table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80, table.stdout
    return table.returncode, table.stdout, json.loads(as_json.stdout)


def _expect_build(stack: Stack) -> list[str]:
    return ["--expect-version", stack.build_version, "--expect-commit", stack.commit]


def test_verify_passes_for_the_expected_build(stack: Stack) -> None:
    code, text, report = _verify(stack, *_expect_build(stack))
    assert code == 0, text
    assert report["ok"] is True and report["mixed_builds"] is False
    assert report["project"] == stack.project
    assert report["image_store"] in ("classic", "containerd")
    rows = {c["container"]: c for c in report["containers"]}  # type: ignore[attr-defined]
    assert set(rows) == {f"{stack.project}-proxy-1", f"{stack.project}-redis-1"}
    proxy = {c["field"]: c for c in rows[f"{stack.project}-proxy-1"]["checks"]}
    assert {"version", "commit", "label version", "label revision", "image"} <= set(proxy)
    assert proxy["commit"]["observed"] == stack.commit
    assert report["image_only"] == [f"{stack.project}-redis-1"]
    assert "redis-1: not the gateway; image shown, version not checked" in text
    shown = {line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")}
    assert shown == {"proxy-1", "redis-1"}  # the title names the project
    short = stack.commit.removesuffix("-dirty")[:8]
    assert short in text


def test_verify_defaults_to_the_recorded_release(stack: Stack) -> None:
    after = tuple(
        ServiceImage(service, reference, stack.images[service], None, version, commit)
        for service, reference, version, commit in (
            ("proxy", stack.gateway, stack.build_version, stack.commit),
            ("redis", "redis", None, None),
        )
    )
    state = compose_state_dir(stack.directory)
    record = Record(
        datetime.now(UTC), "t", "h", Action.DEPLOY, Result.OK, None, "x", 1, after=after
    )
    append(state, record)
    try:
        code, text, report = _verify(stack)
        assert code == 0, text
        assert report["expected"]["source"].startswith("the last deploy")  # type: ignore[index]
        checks = [c for row in report["containers"] for c in row["checks"]]  # type: ignore[attr-defined]
        assert all(c["match"] is True for c in checks if c["field"] == "image")
    finally:
        (state / "history.jsonl").unlink()


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [("--expect-version", "9.9.9", "version"), ("--expect-commit", "deadbeefcafe", "commit")],
)
def test_a_wrong_expectation_fails_and_names_the_field(
    stack: Stack, option: str, value: str, field: str
) -> None:
    code, text, report = _verify(stack, option, value)
    assert code == 1
    assert f"{field}: expected {value}" in text.replace("\n", " ")
    proxy = next(r for r in report["containers"] if r["service"] == "proxy")  # type: ignore[attr-defined]
    failed = {c["field"] for c in proxy["checks"] if c["match"] is False}
    assert field in failed


def test_a_container_of_another_build_fails_verify(stack: Stack) -> None:
    envs = {"SERVICE_TYPE": "proxy", "ADMIN_API_KEY": ADMIN_KEY}
    other = _joined(stack, stack.other, "proxy", envs=envs)
    try:
        code, text, report = _verify(stack, *_expect_build(stack))
        assert code == 1, text
        assert report["mixed_builds"] is True
        rows = {r["container"]: r for r in report["containers"]}  # type: ignore[attr-defined]
        bad = rows[str(other.name)]
        assert bad["ok"] is False
        failed = {c["field"] for c in bad["checks"] if c["match"] is False}
        assert {"commit", "label version", "label revision"} <= failed
        assert rows[f"{stack.project}-proxy-1"]["ok"] is True
        assert "mixed builds" in text
    finally:
        docker().container.remove(other, force=True)


def test_a_container_whose_exec_fails_fails_verify(stack: Stack) -> None:
    broken = _joined(
        stack,
        BASE_IMAGE,
        "api-server",
        command=["sleep", "infinity"],
        envs={"SERVICE_TYPE": "api-server"},
    )
    try:
        code, text, report = _verify(stack, *_expect_build(stack))
        assert code == 1, text
        row = next(r for r in report["containers"] if r["container"] == broken.name)  # type: ignore[attr-defined]
        assert "no smartflow-gateway in the image" in row["problem"]
        assert "cannot read its build" in text
        status = sfctl("status", "compose", "--dir", str(stack.directory), columns=80)
        assert status.returncode == 0, status.stderr
        assert "cannot read its build" in status.stderr
    finally:
        docker().container.remove(broken, force=True, volumes=True)


def test_status_shows_every_container(stack: Stack) -> None:
    table = sfctl("status", "compose", "--dir", str(stack.directory), columns=80)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, table.stdout
    rows = {line.split("│")[1].strip(): line for line in lines if line.startswith("│")}
    assert set(rows) == {"proxy-1", "redis-1"}
    version = stack.commit.removesuffix("-dirty")[:7]
    assert "healthy" in rows["proxy-1"] and version in rows["proxy-1"]
    assert "healthy" in rows["redis-1"]
    as_json = sfctl("status", "compose", "--dir", str(stack.directory), "-o", "json")
    shape = json.loads(as_json.stdout)
    assert shape["project"] == stack.project
    assert shape["image_store"] == engine_store()
    services = {s["service"]: s["containers"] for s in shape["services"]}
    assert set(services) == {"proxy", "redis"}
    proxy = services["proxy"][0]
    assert (proxy["health"], proxy["state"], proxy["gateway"]) == ("healthy", "running", True)
    assert (proxy["version"], proxy["commit"]) == (stack.build_version.split("_")[0], stack.commit)
    assert proxy["image_id"] == stack.images["proxy"]
    assert proxy["uptime_s"] >= 0 and proxy["restarts"] == 0
    redis = services["redis"][0]
    assert (redis["gateway"], redis["version"], redis["health"]) == (False, None, "healthy")


def engine_store() -> str:
    """The store the engine reports, as `sfctl build` reads it."""
    driver = dict(docker().system.info().driver_status or [])
    return "containerd" if driver.get("driver-type", "").startswith("io.containerd") else "classic"


def test_errors_are_one_line_with_what_to_do(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yaml").write_text(f"name: {stack.project}-none\nservices: {{}}\n")
    for command in ("verify", "status"):
        empty = sfctl(command, "compose", "--dir", str(tmp_path), "--expect-commit", "abc1234")
        if command == "status":
            empty = sfctl(command, "compose", "--dir", str(tmp_path))
        assert empty.returncode == 1
        assert empty.stderr.count("\n") == 1, empty.stderr
        assert "no container of the compose project" in empty.stderr
        missing = sfctl(command, "compose", "--dir", str(tmp_path / "nope"))
        assert missing.returncode == 1 and "no deployment folder" in missing.stderr
        assert missing.stderr.count("\n") == 1, missing.stderr
