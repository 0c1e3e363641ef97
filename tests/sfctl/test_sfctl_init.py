"""`sfctl init`: a commented sfctl.yaml that loads back as the guide's defaults, and a 0600
secrets file with fresh secrets that never reach sfctl.yaml."""

from __future__ import annotations

import stat
from pathlib import Path

from sfctl.spec import Spec, load_spec

from support.sfctl_cli import read_env, sfctl


def test_init_writes_spec_and_private_env(tmp_path: Path) -> None:
    target = tmp_path / "deploy"
    result = sfctl(
        "init", str(target), "--domain", "llm.acme-corp.io", "--email", "ops@acme-corp.io"
    )
    assert result.returncode == 0, result.stderr
    env_path, spec_path = target / ".env", target / "sfctl.yaml"
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    values = read_env(env_path)
    assert set(values) == {"ADMIN_API_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"}
    assert all(len(v) >= 40 for v in values.values())
    assert len(set(values.values())) == 3
    text = spec_path.read_text()
    assert not [v for v in values.values() if v in text]
    assert text.count("\n#") > 20  # commented for the operator
    spec = load_spec(spec_path)
    # the written file is exactly the guide's defaults plus what was asked
    assert spec == Spec(domain="llm.acme-corp.io", acme_email="ops@acme-corp.io")


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert sfctl("init", str(tmp_path)).returncode == 0
    before = (tmp_path / ".env").read_text(), (tmp_path / "sfctl.yaml").read_text()
    old_secrets = read_env(tmp_path / ".env")
    (tmp_path / "sfctl.yaml").write_text(before[1] + "# my edit\n")
    result = sfctl("init", str(tmp_path), "--domain", "other.example.org")
    assert result.returncode == 1
    assert "already exist" in result.stderr and "--force" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / ".env").read_text() == before[0]
    assert (tmp_path / "sfctl.yaml").read_text().endswith("# my edit\n")

    forced = sfctl("init", str(tmp_path), "--domain", "other.example.org", "--force")
    assert forced.returncode == 0, forced.stderr
    assert load_spec(tmp_path / "sfctl.yaml").domain == "other.example.org"
    new_secrets = read_env(tmp_path / ".env")
    assert set(new_secrets) == set(old_secrets)
    assert not set(new_secrets.values()) & set(old_secrets.values())  # fresh secrets
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_init_refuses_when_only_env_exists(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ADMIN_API_KEY=keep-me\n")
    result = sfctl("init", str(tmp_path))
    assert result.returncode == 1
    assert (tmp_path / ".env").read_text() == "ADMIN_API_KEY=keep-me\n"
    assert not (tmp_path / "sfctl.yaml").exists()


def test_init_rejects_bad_domain_before_writing(tmp_path: Path) -> None:
    result = sfctl("init", str(tmp_path / "d"), "--domain", "not a host")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "domain" in lines[0] and "smartflow.example.com" in lines[0]
    assert not (tmp_path / "d").exists()


def test_env_file_names_the_secret_the_chart_reads(tmp_path: Path) -> None:
    """The .env header's kubectl command creates the Secret `sfctl render helm|k8s` references
    (<name>-secrets), not a fixed name."""
    result = sfctl("init", str(tmp_path), "--name", "acme-gw")
    assert result.returncode == 0, result.stderr
    header = (tmp_path / ".env").read_text()
    assert "kubectl create secret generic acme-gw-secrets --from-env-file=.env" in header
    assert "smartflow-secrets" not in header
