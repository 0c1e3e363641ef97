"""`sfctl deploy / upgrade / rollback / teardown compose` against the real dockerd, end to end:
the whole stack (Caddy, the four services, Redis, PostgreSQL) built with `sfctl build --stack`
and deployed on loopback ports; the official `openai` SDK through Caddy, plain and streamed;
`sfctl keys` against its management route; `sfctl verify compose`; an idempotent second
deploy; then, under constant load (21 requests/s, a third of them streams of 2 to 5 s), an
upgrade to a new build, an upgrade to a build that never becomes ready (rolled back
automatically) and a rollback, each with zero failed requests; the history of all of it; and
a teardown that leaves nothing behind. Fails (never skips) without dockerd.

Run time here: about 5 minutes with the build cache warm (the first `sfctl build --stack` of
a machine runs apt-get in three images: a few minutes more).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from mockllm.content import openai_chat

from support.docker_build import (
    BASE_IMAGE,
    ROOT,
    docker,
    free_port,
    run_sfctl,
    wheel_cache,
)
from support.steady_load import LoadResult, SteadyLoad

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(1800)]

PROJECT = "sfdeploye2e"
REPOSITORY = "smartflow-e2e-deploy/gateway"
STACK = {
    "redis": "smartflow-e2e-deploy/redis:e2e",
    "database": "smartflow-e2e-deploy/postgres:e2e",
    "caddy": "smartflow-e2e-deploy/caddy:e2e",
}
ADMIN_KEY = "sk-admin-deploy-e2e-0123456789"
MODEL = "gpt-4o-mini"
TPS = 10  # the mock upstream's pace: a 20 to 48 token stream lasts 2 to 4.8 s
NEW_COMMIT = "c0ffee" * 6 + "c0ff"  # the "new build": same code, another commit


def _spec(http_port: int, https_port: int, nofile: int) -> str:
    return f"""\
name: {PROJECT}
domain: localhost
acme_email: ops@example.test
image: {{repository: {REPOSITORY}, tag: e2e}}
redis: {{image: "{STACK["redis"]}"}}
database: {{image: "{STACK["database"]}"}}
tls: {{enabled: false}}
management:
  expose: true
  allowed_sources: [127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 10.0.0.0/8]
compose:
  caddy_image: "{STACK["caddy"]}"
  bind_address: 127.0.0.1
  http_port: {http_port}
  https_port: {https_port}
  drain_timeout_secs: 15
  health_timeout_secs: 60
  nofile: {nofile}
providers:
  - {{name: mock, type: openai-compatible, base_url: "http://mockllm:8900/v1"}}
models:
  - {{name: {MODEL}, provider: mock}}
"""


def _nofile() -> int:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)


def _stream_prompts() -> list[str]:
    """Prompts the mock answers with 20 to 48 tokens: streams of 2 to 4.8 s at TPS."""
    found = []
    for n in range(2000):
        prompt = f"deploy e2e prompt {n}"
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
        if openai_chat(body, created=0)["usage"]["completion_tokens"] >= 2 * TPS:
            found.append(prompt)
        if len(found) == 50:
            return found
    raise AssertionError("the mock gives no long enough answers")


class Stack:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.dir = folder / "rendered"
        self.base = f"http://localhost:{port}"
        self.timings: dict[str, float] = {}
        self.env = {"ADMIN_API_KEY": ADMIN_KEY, "SMARTFLOW_ADMIN_URL": self.base}

    def sfctl(self, *args: str, timing: str | None = None) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done: subprocess.CompletedProcess[str] = run_sfctl(*args, cwd=self.folder, env=self.env)
        if timing:
            self.timings[timing] = time.monotonic() - started
        return done

    def ops(self, *args: str, timing: str | None = None) -> subprocess.CompletedProcess[str]:
        """A compose command of this deployment: `sfctl <verb> compose --dir ...`."""
        return self.sfctl(args[0], "compose", "--dir", str(self.dir), *args[1:], timing=timing)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    client = docker()
    folder = Path(tempfile.mkdtemp(prefix="sfctl-deploy-e2e-"))
    port = free_port()
    (folder / "sfctl.yaml").write_text(_spec(port, free_port(), _nofile()))
    (folder / ".env").write_text(
        f"ADMIN_API_KEY={ADMIN_KEY}\nPOSTGRES_PASSWORD=pg{os.urandom(8).hex()}\n"
        f"REDIS_PASSWORD=rd{os.urandom(8).hex()}\n"
    )
    (folder / ".env").chmod(0o600)
    state = Stack(folder, port)
    try:
        yield state
    finally:
        for name in ("sfdeploye2e-mockllm",):
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        state.ops("teardown", "--volumes", "--force-unlock")
        left = client.container.list(
            all=True, filters=[("label", f"com.docker.compose.project={PROJECT}")]
        )
        for container in left:
            client.container.remove(container, force=True, volumes=True)
        for image in (f"{REPOSITORY}:e2e-v2", f"{REPOSITORY}:e2e-broken"):
            subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)
        print(f"\ntimings: {json.dumps({k: round(v, 1) for k, v in state.timings.items()})}")


def _start_mock(image: str) -> None:
    """The slow fake LLM (mockllm, from the runtime image) on the stack's edge network."""
    code = (
        "from mockllm.server import run, MockBehaviour; "
        f"run(MockBehaviour(tokens_per_second={TPS}), '0.0.0.0', 8900)"
    )
    subprocess.run(
        ["docker", "run", "-d", "--name", "sfdeploye2e-mockllm", "--network", f"{PROJECT}_edge",
         "--network-alias", "mockllm", "--entrypoint", "python3", image, "-c", code],
        check=True, capture_output=True,
    )  # fmt: skip


def _under_load(stack: Stack, key: str, *args: str, timing: str) -> tuple[str, LoadResult]:
    prompts = _stream_prompts()
    load = SteadyLoad(
        f"{stack.base}/v1",
        key,
        rate=21,
        stream_every=3,
        prompts=lambda n: (prompts[n % len(prompts)], True),
        model=MODEL,
    ).start()
    time.sleep(3)  # steady state first
    done = stack.ops(*args, timing=timing)
    time.sleep(3)  # and after
    result = load.stop()
    print(f"{' '.join(args[:1])}: {result.summary()}")
    return done.stdout + done.stderr, result


def test_compose_lifecycle(stack: Stack) -> None:
    build = stack.sfctl(
        *("build", "-f", "sfctl.yaml", "--source", str(ROOT), "--stack", "--tag", "e2e"),
        *("--base-image", BASE_IMAGE, "--wheels-from", str(wheel_cache()), "-o", "json"),
        timing="build --stack",
    )
    built = json.loads(_ok(build))
    first_version = built["build_version"]

    deployed = _ok(stack.ops("deploy", timing="deploy"))
    assert "every service healthy" in deployed or "change(s)" in deployed
    _start_mock(f"{REPOSITORY}:e2e")

    # keys through the management route Caddy exposes on loopback only
    key = json.loads(_ok(stack.sfctl("keys", "create", "--name", "e2e", "-o", "json")))
    doomed = json.loads(_ok(stack.sfctl("keys", "create", "--name", "doomed", "-o", "json")))
    client = openai.OpenAI(base_url=f"{stack.base}/v1", api_key=key["key"], max_retries=0)
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], max_tokens=5
    )
    assert answer.choices[0].message.content
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello"}], stream=True
        )
        if chunk.choices
    ]
    assert "".join(pieces)
    _ok(stack.sfctl("keys", "revoke", doomed["id"]))
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{stack.base}/v1", api_key=doomed["key"], max_retries=0
        ).models.list()
    assert httpx.get(f"{stack.base}/metrics").status_code == 404  # not public

    verified = stack.ops("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    again = _ok(stack.ops("deploy", timing="second deploy"))
    assert "nothing changed" in again

    v2 = stack.sfctl(
        *("build", "-f", "sfctl.yaml", "--source", str(ROOT), "--tag", "e2e-v2"),
        *("--commit", NEW_COMMIT, "--base-image", BASE_IMAGE),
        *("--wheels-from", str(wheel_cache()), "-o", "json"),
        timing="build v2",
    )
    v2_built = json.loads(_ok(v2))
    v2_version = v2_built["build_version"]

    out, result = _under_load(
        stack, key["key"], "upgrade", "--image", f"{REPOSITORY}:e2e-v2", timing="upgrade"
    )
    assert "rolled api-server, compliance, policy-perfect, proxy with no gap" in out, out
    assert result.failures == [], result.failures[:5]
    assert result.streams_ok >= 20 and max(result.stream_seconds) >= 2
    shown = stack.ops("verify", "--expect-commit", v2_built["commit"], "-o", "json")
    assert shown.returncode == 0, shown.stdout + shown.stderr

    broken = subprocess.run(
        ["docker", "build", "-q", "-t", f"{REPOSITORY}:e2e-broken", "-"],
        input=f'FROM {REPOSITORY}:e2e-v2\nENTRYPOINT []\nCMD ["sleep", "600"]\n',
        text=True, capture_output=True, check=False,
    )  # fmt: skip
    assert broken.returncode == 0, broken.stderr
    out, result = _under_load(
        stack, key["key"], "upgrade", "--image", f"{REPOSITORY}:e2e-broken", "--timeout", "15",
        timing="failed upgrade",
    )  # fmt: skip
    assert "automatic rollback" in out and "never became ready" in out, out
    assert result.failures == [], result.failures[:5]

    out, result = _under_load(stack, key["key"], "rollback", timing="rollback")
    assert f"rolling back to {first_version}" in out, out
    assert result.failures == [], result.failures[:5]

    history = json.loads(_ok(stack.ops("history", "-o", "json")))["records"]
    story = [(r["action"], r["result"], r["to_version"]) for r in reversed(history)]
    assert story == [
        ("deploy", "ok", first_version),
        ("deploy", "ok", first_version),
        ("upgrade", "ok", v2_version),
        ("upgrade", "rolled-back", v2_version),
        ("rollback", "ok", first_version),
    ], story

    subprocess.run(["docker", "rm", "-f", "sfdeploye2e-mockllm"], check=True, capture_output=True)
    down = _ok(stack.ops("teardown", "--volumes", timing="teardown"))
    assert "removed" in down
    client_engine = docker()
    assert not client_engine.container.list(
        all=True, filters=[("label", f"com.docker.compose.project={PROJECT}")]
    )
    assert not [n for n in client_engine.network.list() if n.name.startswith(f"{PROJECT}_")]
    assert not [v for v in client_engine.volume.list() if v.name.startswith(f"{PROJECT}_")]
    print(f"deploy {stack.timings['deploy']:.0f} s, upgrade {stack.timings['upgrade']:.0f} s")
    assert sys.version_info >= (3, 11)
