"""What `sfctl render` writes passes every doctor check: the chart's manifests, the Compose
project and both Caddyfiles, for the default and a fully customised spec. A render that
`sfctl doctor` would fault is a bug in one of the two."""

from __future__ import annotations

from pathlib import Path

from sfctl.doctor.collect_caddy import collect_caddyfile
from sfctl.doctor.collect_compose import collect_compose
from sfctl.doctor.collect_files import collect_files
from sfctl.doctor.engine import diagnose
from sfctl.doctor.model import Inventory
from sfctl.render import render_all
from sfctl.spec import Spec

from support.sfctl_cli import sfctl as run_sfctl
from support.sfctl_render import custom_spec, default_spec, write_env


def _render(tmp_path: Path, spec: Spec) -> tuple[Path, Path]:
    out = tmp_path / "out"
    render_all(spec, out)
    env = tmp_path / ".env"
    write_env(env, spec)
    return out, env


def _inventory(out: Path, env: Path) -> Inventory:
    inventory = collect_files([out / "k8s"])
    inventory.merge(collect_compose(out / "compose", env_file=env))
    inventory.merge(collect_caddyfile(out / "caddy" / "Caddyfile"))
    inventory.merge(collect_caddyfile(out / "compose" / "Caddyfile"))
    return inventory


def test_rendered_defaults_have_no_findings(tmp_path: Path) -> None:
    inventory = _inventory(*_render(tmp_path, default_spec()))
    assert {"Deployment", "StatefulSet", "Ingress", "NetworkPolicy"} <= set(inventory.objects)
    assert inventory.compose and len(inventory.caddyfiles) == 2
    report = diagnose(inventory)
    assert [f.to_dict() for f in report.findings] == []


def test_rendered_custom_spec_finds_only_what_it_chose(tmp_path: Path) -> None:
    """The customised spec asks for ndots 3 (above the guide's 2): that, and nothing else."""
    report = diagnose(_inventory(*_render(tmp_path, custom_spec())))
    found = {(f.check, f.object.name) for f in report.findings}
    gateways = ("proxy", "api-server", "compliance", "policy-perfect")
    assert found == {("dns-ndots", f"acme-gw-{name}") for name in gateways}


def test_doctor_cli_on_a_render_folder(tmp_path: Path) -> None:
    """`-f DIR` reads every manifest in it; the same folder with a plaintext secret added
    fails the run."""
    out, env = _render(tmp_path, default_spec())
    clean = run_sfctl("doctor", "-f", str(out / "k8s"), "--compose", str(out / "compose"),
                      "--env-file", str(env), "-o", "json")  # fmt: skip
    assert clean.returncode == 0, clean.stdout + clean.stderr
    proxy = out / "k8s" / "08-deployment-smartflow-proxy.yaml"
    proxy.write_text(
        proxy.read_text().replace("redis://:$(REDIS_PASSWORD)@", "redis://:hunter2-in-plain-sight@")
    )
    dirty = run_sfctl("doctor", "-f", str(out / "k8s"), "-o", "json")
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert '"check": "secret-in-env"' in dirty.stdout
    assert "hunter2" not in dirty.stdout  # the finding names the variable, never the value
