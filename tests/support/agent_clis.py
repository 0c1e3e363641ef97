"""Real coding agents from npm (Claude Code, Codex CLI) for the end-to-end tests: where they are,
how they are installed, and how they are run so that nothing of the developer's own setup leaks in.

The versions are pinned exactly (npm never republishes a version, and each wrapper pins its
platform binary to the same version), so a new release cannot change what the tests run. CI
installs them with this file run as a script (.ci/run); a developer without them gets a test
failure saying to do the same, never a skip:

    python3 tests/support/agent_clis.py            # into $SMARTFLOW_AGENTS_DIR, else
                                                   # ${XDG_CACHE_HOME:-~/.cache}/smartflow/agents

It is idempotent: with the pinned versions already there it only prints the directory.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Agent:
    title: str
    package: str
    version: str
    command: str  # the name npm links in node_modules/.bin


CLAUDE = Agent("Claude Code", "@anthropic-ai/claude-code", "2.1.332", "claude")
CODEX = Agent("Codex CLI", "@openai/codex", "0.171.0", "codex")
AGENTS = (CLAUDE, CODEX)
INSTALL = "python3 tests/support/agent_clis.py"


def agents_dir() -> Path:
    """Where the agents live: $SMARTFLOW_AGENTS_DIR (what .ci/run exports), else the user cache."""
    explicit = os.environ.get("SMARTFLOW_AGENTS_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "smartflow" / "agents"


def installed_version(agent: Agent, directory: Path) -> str | None:
    """The version npm put in `directory`, read from its package.json (no process started)."""
    manifest = directory / "node_modules" / agent.package / "package.json"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) else None


def missing(directory: Path) -> list[Agent]:
    """The agents that are not there at their pinned version, or do not run."""
    return [a for a in AGENTS if version_problem(a, directory) is not None]


def version_problem(agent: Agent, directory: Path) -> str | None:
    """None when the agent's command runs and reports the pinned version, else what is wrong
    (not installed, another version, or an npm install whose postinstall did not run)."""
    found = installed_version(agent, directory)
    if found != agent.version:
        return f"version {found} is installed" if found else "it is not installed"
    command = directory / "node_modules" / ".bin" / agent.command
    with tempfile.TemporaryDirectory(prefix="agent-version-") as home:
        try:
            ran = run_agent([str(command), "--version"], agent_env(Path(home), {}), Path(home), 60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{agent.command} --version` failed ({exc})"
    if ran.returncode != 0 or agent.version not in ran.stdout:
        output = " ".join((ran.stdout + ran.stderr).split())[:160]
        return f"`{agent.command} --version` does not run ({output})"
    return None


@functools.cache
def binary(agent: Agent) -> Path:
    """The agent's command, checked once a session; without it the test fails (never skips)
    with the one command that installs it."""
    directory = agents_dir()
    problem = version_problem(agent, directory)
    if problem is not None:
        import pytest

        pytest.fail(
            f"{agent.title} {agent.version} is needed in {directory} but {problem}: "
            f"run `{INSTALL}` (needs node and npm; .ci/run does it)",
            pytrace=False,
        )
    return directory / "node_modules" / ".bin" / agent.command


def install(directory: Path) -> None:
    """npm install of exactly the pinned versions into `directory` (its own package.json, so
    that a later `npm install` there reinstalls the same set). A no-op when they are there."""
    if not missing(directory):
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise SystemExit("node and npm are needed: apt-get install nodejs npm")
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "smartflow-test-agents",
        "private": True,
        "description": f"written by {INSTALL}; the coding agents the e2e tests run",
        "dependencies": {a.package: a.version for a in AGENTS},
    }
    (directory / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    subprocess.run(
        [npm, "install", "--prefix", str(directory), "--no-audit", "--no-fund", "--save-exact"],
        check=True,
        timeout=600,
    )
    for agent in AGENTS:
        problem = version_problem(agent, directory)
        if problem is not None:
            raise SystemExit(f"{agent.title} {agent.version} after npm install: {problem}")


def agent_env(home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """A clean environment: a fresh HOME (no login, settings or history of the developer), none
    of the shell's API keys or base URLs, and any connection that is not to the loopback gateway
    sent to a closed port, so a test passes only if the agent works offline."""
    dead_proxy = "http://127.0.0.1:9"
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": str(home),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "ALL_PROXY": dead_proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        **extra,
    }


def run_agent(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    """Runs the agent to completion with stdin closed (no prompt can wait on a terminal)."""
    return subprocess.run(
        list(command),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def codex_config(base_url: str, model: str, env_key: str) -> str:
    """$CODEX_HOME/config.toml for a Smartflow provider speaking the Responses API. No retries:
    a failed request fails the turn at once (Codex retries even a 404 five times otherwise)."""
    return (
        f'model = "{model}"\n'
        'model_provider = "smartflow"\n'
        "\n"
        "[model_providers.smartflow]\n"
        'name = "Smartflow"\n'
        f'base_url = "{base_url}"\n'
        f'env_key = "{env_key}"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )


def main(argv: Sequence[str]) -> int:
    directory = Path(argv[0]) if argv else agents_dir()
    install(directory)
    for agent in AGENTS:
        print(f"{agent.title} {agent.version}: {directory / 'node_modules/.bin' / agent.command}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
