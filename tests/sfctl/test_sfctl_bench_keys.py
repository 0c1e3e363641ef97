"""Which key the direct arm sends, through both front ends (`sfctl bench`, `python -m loadtest`):
the provider's own (--direct-key, else OPENAI_API_KEY), never the gateway's virtual key; with
neither, the direct arm does not run. The gateway and the provider are loopback servers that
record the headers they receive."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.bench_cli import run_module_async
from support.recording_upstream import Recording, recording_upstream

VIRTUAL = "sk-sf-0c3d9a7e5b1f4e2a8d6c"  # the gateway's virtual key, as `sfctl keys create` shows it
RUN = ("--rps", "5", "--duration", "1", "--warmup", "1", "--grace", "2", "--seed", "1")
FRONT_ENDS = ("sfctl", "loadtest")


@pytest.fixture
async def gateway() -> AsyncIterator[Recording]:
    async with recording_upstream() as recording:
        yield recording


@pytest.fixture
async def provider() -> AsyncIterator[Recording]:
    async with recording_upstream() as recording:
        yield recording


async def _bench(
    front: str, gateway: str, provider: str, out: Path, *extra: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The issue's command line: `sfctl bench --target ... --key sk-sf-...`; the script form
    takes the gateway and its key from SF_BASE and SF_API_KEY, as the seed's did."""
    files = ("-o", str(out / "r.json"), "--csv", str(out / "r.csv"), "--html", str(out / "r.html"))
    args: tuple[str, ...] = ("sfctl", "bench", "--target", gateway, "--key", VIRTUAL)
    if front == "loadtest":
        args, env = ("loadtest",), {**env, "SF_BASE": gateway, "SF_API_KEY": VIRTUAL}
    return await run_module_async(*args, "--direct", provider, *RUN, *files, *extra, env=env)


def _assert_no_key_shown(proc: subprocess.CompletedProcess[str], out: Path, *keys: str) -> None:
    shown = [proc.stdout, proc.stderr] + [
        (out / f).read_text() for f in ("r.json", "r.csv", "r.html")
    ]
    assert not [key for key in keys for text in shown if key in text]


@pytest.mark.parametrize("front", FRONT_ENDS)
async def test_without_a_direct_key_the_provider_receives_nothing(
    front: str, gateway: Recording, provider: Recording, tmp_path: Path
) -> None:
    proc = await _bench(front, gateway.url, provider.url, tmp_path, env={})
    assert proc.returncode == 0, proc.stderr
    assert provider.headers == []  # not the virtual key, not anything
    assert gateway.credentials() == {f"Bearer {VIRTUAL}"}  # the gateway arm ran
    said = [line for line in proc.stderr.splitlines() if "direct arm" in line]
    assert len(said) == 1 and "OPENAI_API_KEY" in said[0], proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [set(level["arms"]) for level in report["levels"]] == [{"smartflow"}]
    direct = report["arms"]["direct"]
    assert direct["status"] == "not_run" and "--direct-key" in direct["reason"]
    page = (tmp_path / "r.html").read_text()
    assert "No direct arm ran (no key for it" in page and "--smartflow-only" not in page
    _assert_no_key_shown(proc, tmp_path, VIRTUAL)


@pytest.mark.parametrize("front", FRONT_ENDS)
@pytest.mark.parametrize(
    ("flag", "environ", "sent"),
    [
        (None, "sk-test-from-env-4f1e", "sk-test-from-env-4f1e"),
        ("sk-test-from-flag-9b2c", None, "sk-test-from-flag-9b2c"),
        ("sk-test-from-flag-9b2c", "sk-test-from-env-4f1e", "sk-test-from-flag-9b2c"),
    ],
)
async def test_the_provider_receives_exactly_the_direct_key(
    front: str,
    flag: str | None,
    environ: str | None,
    sent: str,
    gateway: Recording,
    provider: Recording,
    tmp_path: Path,
) -> None:
    extra = ("--direct-key", flag) if flag else ()
    env = {"OPENAI_API_KEY": environ} if environ else {}
    proc = await _bench(front, gateway.url, provider.url, tmp_path, *extra, env=env)
    assert proc.returncode == 0, proc.stderr
    assert provider.headers and provider.credentials() == {f"Bearer {sent}"}
    assert gateway.credentials() == {f"Bearer {VIRTUAL}"}
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["arms"]["direct"]["status"] == "ok"
    _assert_no_key_shown(proc, tmp_path, VIRTUAL, *(k for k in (flag, environ) if k))


@pytest.mark.parametrize("front", FRONT_ENDS)
@pytest.mark.parametrize("source", ["flag", "env"])
async def test_a_virtual_key_for_the_direct_arm_is_refused_before_anything_is_sent(
    front: str, source: str, gateway: Recording, provider: Recording, tmp_path: Path
) -> None:
    other = "sk-sf-77e1b0c4d2a94f3e"
    extra = ("--direct-key", other) if source == "flag" else ()
    env = {"OPENAI_API_KEY": other} if source == "env" else {}
    proc = await _bench(front, gateway.url, provider.url, tmp_path, *extra, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "virtual key" in lines[0] and "Traceback" not in proc.stderr
    assert other not in proc.stderr and VIRTUAL not in proc.stderr
    assert provider.headers == [] and gateway.headers == []
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("front", FRONT_ENDS)
async def test_smartflow_only_ignores_the_direct_keys(
    front: str, gateway: Recording, provider: Recording, tmp_path: Path
) -> None:
    """No direct arm, so OPENAI_API_KEY is not read (a virtual key there is no error)."""
    env = {"OPENAI_API_KEY": "sk-sf-1d2e3f4a5b6c7d8e"}
    proc = await _bench(front, gateway.url, provider.url, tmp_path, "--smartflow-only", env=env)
    assert proc.returncode == 0, proc.stderr
    assert provider.headers == [] and "direct arm" not in proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["arms"]["direct"] == {
        "status": "not_run",
        "reason": "--smartflow-only",
        "failed_levels": [],
    }
    assert "No direct arm ran (--smartflow-only)" in (tmp_path / "r.html").read_text()
