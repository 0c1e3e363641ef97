"""Finding a Compose deployment's spec and secrets, and the orderly stop on SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from sfctl.deploy.deployment import Interrupted, orderly_stop, remember, resolve
from sfctl.errors import SfctlError

SPEC = "domain: localhost\nacme_email: ops@example.test\ntls: {enabled: false}\n"


def _files(folder: Path) -> Path:
    (folder / "sfctl.yaml").write_text(SPEC)
    (folder / ".env").write_text("ADMIN_API_KEY=x\n")
    return folder / "sfctl.yaml"


def test_the_secrets_file_defaults_to_the_one_beside_the_spec(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    spec = _files(tmp_path / "site")
    found = resolve(tmp_path / "rendered", spec, None)
    assert found.env_file == (tmp_path / "site" / ".env").resolve()
    assert found.spec.domain == "localhost"


def test_a_later_run_finds_what_the_deploy_remembered(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    spec = _files(tmp_path / "site")
    remember(resolve(tmp_path / "rendered", spec, None))
    again = resolve(tmp_path / "rendered", None, None)  # no -f, and run from anywhere
    assert again.spec_file == spec.resolve()


@pytest.mark.parametrize(
    ("spec", "env", "message"),
    [
        ("missing.yaml", None, "no deployment spec missing.yaml: pass -f"),
        ("sfctl.yaml", "nope.env", "no secrets file nope.env: pass --env-file"),
    ],
)
def test_missing_files_are_one_line_with_the_option_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, env: str | None, message: str
) -> None:
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SfctlError, match=message):
        resolve(tmp_path / "rendered", Path(spec), Path(env) if env else None)


def test_sigterm_becomes_an_error_where_the_run_is_and_a_second_is_ignored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    undone = []
    with pytest.raises(Interrupted, match="stopped by SIGTERM"):
        with orderly_stop():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                signal.pause()  # pragma: no cover - the handler raises first
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # during the undo: ignored
                undone.append(True)
    assert undone == [True]
    assert signal.getsignal(signal.SIGTERM) == before
