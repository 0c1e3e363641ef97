"""`sfctl render` end to end: every target `render all` writes, no secret value in any file,
the files table and its JSON form, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from sfctl.render import targets

from support.sfctl_cli import read_env, sfctl
from support.sfctl_render import CUSTOM_YAML, write_env


def _rendered_files(out: Path) -> list[Path]:
    files = [p for p in out.rglob("*") if p.is_file() and not p.is_symlink()]
    assert files
    return files


def _assert_no_secret(out: Path, values: dict[str, str]) -> None:
    for path in _rendered_files(out):
        text = path.read_text(errors="replace")
        leaked = [name for name, value in values.items() if value in text]
        assert not leaked, f"{path}: holds the value of {leaked}"


def test_no_secret_from_init_env_in_any_rendered_file(tmp_path: Path) -> None:
    assert (
        sfctl(
            "init", str(tmp_path), "--domain", "llm.acme-corp.io", "--email", "ops@acme-corp.io"
        ).returncode
        == 0
    )
    result = sfctl("render", "all", "-f", str(tmp_path / "sfctl.yaml"), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    produced = {p.name for p in (tmp_path / "out").iterdir()}
    assert produced == set(targets())  # one folder per registered target
    _assert_no_secret(tmp_path / "out", read_env(tmp_path / ".env"))


def test_no_secret_in_any_rendered_file_custom_spec(tmp_path: Path) -> None:
    (tmp_path / "sfctl.yaml").write_text(CUSTOM_YAML)
    from sfctl.spec import load_spec

    values = write_env(
        tmp_path / ".env", load_spec(tmp_path / "sfctl.yaml"), value_prefix="leak-canary"
    )
    result = sfctl("render", "all", "-f", str(tmp_path / "sfctl.yaml"), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    _assert_no_secret(tmp_path / "out", values)


def test_render_prints_files_table_and_json(tmp_path: Path) -> None:
    (tmp_path / "sfctl.yaml").write_text("domain: llm.acme-corp.io\nacme_email: ops@acme-corp.io\n")
    table = sfctl("render", "compose", "-o", "out", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "docker-compose.yaml" in table.stdout and "Caddyfile" in table.stdout
    assert "docker compose --env-file .env -f out/docker-compose.yaml up -d" in table.stdout
    as_json = sfctl("render", "caddy", "-o", "bare", "--output", "json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    payload = json.loads(as_json.stdout)
    assert payload["target"] == "caddy"
    (entry,) = payload["files"]
    assert entry["path"] == "Caddyfile"
    assert entry["bytes"] == (tmp_path / "bare" / "Caddyfile").stat().st_size
    assert len(entry["sha256"]) == 64


def test_unknown_target_is_a_usage_error(tmp_path: Path) -> None:
    result = sfctl("render", "nomad", "-o", str(tmp_path))
    assert result.returncode == 2
    assert "unknown render target 'nomad'" in result.stderr and "compose" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_spec_is_one_line_naming_the_field(tmp_path: Path) -> None:
    spec = tmp_path / "sfctl.yaml"
    spec.write_text(
        "domain: llm.acme-corp.io\nacme_email: ops@acme-corp.io\nservices:\n  proxy:\n    memory: 1 gig\n"
    )
    result = sfctl("render", "compose", "-f", str(spec), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert (
        line
        == "error: sfctl.yaml: services.proxy.memory: '1 gig' is not a size; use e.g. 1g or 512m"
    )
    assert not (tmp_path / "out").exists()


def test_missing_spec_says_how_to_make_one(tmp_path: Path) -> None:
    result = sfctl("render", "compose", cwd=tmp_path)
    assert result.returncode == 1
    assert "sfctl.yaml: not found; create one with `sfctl init`" in result.stderr
