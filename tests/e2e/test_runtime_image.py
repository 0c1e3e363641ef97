"""The runtime image against the real dockerd: built by `sfctl build` from a clean wheelhouse
with no network, every SERVICE_TYPE answering /health and /version with this build's version
and commit, its labels, a non-root user, the HEALTHCHECK turning healthy, SIGTERM draining an
in-flight stream before a clean exit, and `--push` reporting the registry's own digest."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sfctl.deploy.engine import connect
from sfctl.deploy.progress import no_progress
from sfctl.errors import SfctlError

from support.docker_build import (
    ADMIN_KEY,
    BASE_IMAGE,
    ROOT,
    Build,
    build_all,
    container,
    docker,
    free_port,
    run_sfctl,
    wait_healthy,
    wheel_cache,
)
from support.procs import wait_ready

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

SERVICES = {"proxy": 7775, "api-server": 7778, "compliance": 7777, "policy-perfect": 7782}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def build() -> Build:
    built = build_all()
    print(
        f"\nsfctl build --stack: {built.seconds:.0f} s, image {built.result['size'] / 1e6:.0f} MB"
    )
    return built


def test_build_reports_what_it_built(build: Build) -> None:
    result = build.result
    assert result["reference"] == "smartflow-e2e/gateway:e2e"
    assert result["image_id"].startswith("sha256:")
    assert result["repo_digest"] is None  # not pushed: no registry digest exists
    assert result["version"] == VERSION
    commit = result["commit"]
    assert commit.removesuffix("-dirty") == build.head
    assert result["build_version"] == (
        VERSION if not result["dirty"] else f"{VERSION}_uncommitted_{result['build_version'][-12:]}"
    )
    assert result["dirty"] == commit.endswith("-dirty")
    assert result["base_image"] == BASE_IMAGE
    assert {"openai", "anthropic", "streaming", "mcp"} <= set(result["features"])
    assert result["image_store"] in ("classic", "containerd")
    image = docker().image.inspect(build.reference)
    assert image.id == result["image_id"]
    labels = image.config.labels or {}
    assert {name: labels.get(name) for name in result["labels"]} == result["labels"]
    assert labels["org.opencontainers.image.version"] == result["build_version"]
    assert labels["org.opencontainers.image.revision"] == commit


def test_image_config(build: Build) -> None:
    config = docker().image.inspect(build.reference).config
    assert config.user == "10001:10001"
    assert config.entrypoint == ["/opt/smartflow/bin/dumb-init", "--"]
    assert set(config.exposed_ports or {}) == {f"{port}/tcp" for port in SERVICES.values()}
    health = config.healthcheck
    assert health is not None and health.test == [
        "CMD",
        "python3",
        "/opt/smartflow/healthcheck.py",
    ]
    env = dict(item.split("=", 1) for item in config.env or [])
    assert env["SMARTFLOW_GIT_COMMIT"] == build.result["commit"]
    assert env["SMARTFLOW_BUILD_TIME"] == build.result["created"]


@pytest.mark.parametrize("service", [*SERVICES, "all"])
def test_each_service_runs_healthy_as_non_root_and_stops_cleanly(
    build: Build, service: str
) -> None:
    port = SERVICES.get(service, 7775)
    host_port = free_port()
    with container(
        build.reference,
        envs={"SERVICE_TYPE": service, "ADMIN_API_KEY": ADMIN_KEY},
        publish=[(f"127.0.0.1:{host_port}", port)],
        health_interval=1,  # the image's own check, run sooner than its 10 s
    ) as item:
        base = f"http://127.0.0.1:{host_port}"
        wait_ready(f"{base}/health")
        version = httpx.get(f"{base}/version").json()
        assert version["version"] == VERSION
        assert version["git_commit"] == build.result["commit"]
        assert version["build_time"] == build.result["created"]
        assert version["service"] == service
        answer = json.loads(
            docker().container.execute(
                item, ["smartflow-gateway", "--version", "--json"], tty=False
            )
        )
        assert {k: answer[k] for k in ("version", "git_commit", "service")} == {
            k: version[k] for k in ("version", "git_commit", "service")
        }
        assert set(answer["features"]) <= set(build.result["features"])
        assert docker().container.execute(item, ["id", "-u"], tty=False).strip() == "10001"
        wait_healthy(item)
        started = time.monotonic()
        docker().container.stop(item)
        stopped_in = time.monotonic() - started
        item.reload()
        assert item.state.exit_code == 0, docker().container.logs(item)[-1000:]
        assert stopped_in < 5, f"docker stop took {stopped_in:.1f} s: SIGTERM did not drain"


MOCK = (
    "from mockllm.server import MockBehaviour, run; "
    "run(MockBehaviour(tokens_per_second=25), '0.0.0.0', 8900)"
)
ROUTING = """\
providers:
  - {name: slow, type: openai-compatible, base_url: "http://mock:8900/v1"}
models:
  - name: "*"
    deployments: [{provider: slow}]
"""


def test_sigterm_drains_an_in_flight_stream_then_exits_0(build: Build, tmp_path: Path) -> None:
    """`docker stop` mid-stream: the stream finishes, then the gateway exits 0, well before
    Docker's 10 s kill (dumb-init forwards the signal; the gateway drains)."""
    config = tmp_path / "smartflow.yaml"
    config.write_text(ROUTING)
    config.chmod(0o644)
    network = docker().network.create(f"sfe2e-drain-{free_port()}")
    try:
        with container(
            build.reference,
            ["python3", "-c", MOCK],
            networks=[network],
            network_aliases=["mock"],
        ) as mock:
            port = free_port()
            with container(
                build.reference,
                envs={
                    "SERVICE_TYPE": "all",
                    "ADMIN_API_KEY": ADMIN_KEY,
                    "SMARTFLOW_CONFIG": "/etc/smartflow/smartflow.yaml",
                },
                volumes=[(str(config), "/etc/smartflow/smartflow.yaml", "ro")],
                networks=[network],
                publish=[(f"127.0.0.1:{port}", 7775)],
            ) as gateway:
                wait_ready(f"http://127.0.0.1:{port}/ready")
                chunks, stopped = _stream_while_stopping(port, gateway.id)
                gateway.reload()
                assert gateway.state.exit_code == 0
            assert chunks[-1] == "data: [DONE]", chunks[-3:]
            assert len(chunks) > 20  # about 2 s of tokens at 25 per second
            assert stopped < 8, f"docker stop took {stopped:.1f} s"
            assert mock.state is not None
    finally:
        docker().network.remove(network)


def _stream_while_stopping(port: int, container_id: str) -> tuple[list[str], float]:
    """Stream a chat completion; after its first chunk, `docker stop` the gateway."""
    chunks: list[str] = []
    timing: dict[str, float] = {}

    def stop() -> None:
        started = time.monotonic()
        docker().container.stop(container_id)
        timing["stop"] = time.monotonic() - started

    stopper = threading.Thread(target=stop)
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "max_tokens": 60,
        "messages": [{"role": "user", "content": "Tell me a long story."}],
    }
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not line:
                continue
            chunks.append(line)
            if len(chunks) == 1:
                stopper.start()
    stopper.join(30)
    return chunks, timing["stop"]


def test_a_missing_base_image_says_how_to_make_one() -> None:
    docker()
    done = run_sfctl("build", "--base-image", "127.0.0.1:1/nothing:here", "--source", str(ROOT))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr  # one line, below the progress rows
    assert "sfctl build base" in errors[0] and "Traceback" not in done.stderr


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry on a loopback port (Docker trusts 127.0.0.0/8 without TLS)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: run .ci/docker-setup")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    process = subprocess.Popen([binary, "serve", str(config)])
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/", timeout_s=15)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_push_reports_the_registry_digest(build: Build, registry: str) -> None:
    reference = f"{registry}/smartflow/gateway:pushed"
    done = run_sfctl(
        *("build", "--source", str(ROOT), "--push", "--tag", reference, "-o", "json"),
        *("--base-image", BASE_IMAGE, "--wheels-from", str(wheel_cache())),
    )
    try:
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout)
        repository, digest = result["repo_digest"].split("@")
        assert repository == f"{registry}/smartflow/gateway"
        manifest = httpx.head(
            f"http://{registry}/v2/smartflow/gateway/manifests/pushed",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert manifest.headers["Docker-Content-Digest"] == digest
        assert digest != result["image_id"]  # the registry's digest is not the local image id
    finally:
        docker().image.remove(reference, force=True)


def test_a_failing_build_names_the_step_and_keeps_the_log(tmp_path: Path) -> None:
    docker()
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN echo 'E: Unable to locate package nothing' && false\n"
    )
    log = tmp_path / "logs" / "broken.log"
    with pytest.raises(SfctlError) as failure:
        connect().build(
            tmp_path,
            dockerfile=tmp_path / "Dockerfile",
            reference="smartflow-e2e/broken:e2e",
            build_args={},
            key="broken",
            progress=no_progress,
            log_path=log,
        )
    message = str(failure.value)
    leftovers = docker().container.list(all=True, filters=[("ancestor", BASE_IMAGE)])
    assert not [c for c in leftovers if "Unable to locate" in " ".join(c.config.cmd or [])]
    assert "at step 2/2 (RUN echo" in message
    assert "E: Unable to locate package nothing" in message
    assert f"full log: {log}" in message and "\n" not in message
    assert "returned a non-zero code" in log.read_text()
