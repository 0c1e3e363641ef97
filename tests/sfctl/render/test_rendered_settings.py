"""What `sfctl render` hands the gateway is what the gateway accepts: the environment of every
service in the Compose file and in the Kubernetes manifests, with the routing file they mount,
goes through the gateway's own settings loader (`gateway.settings.load_settings`), which stops
a gateway at start on any wrong setting. sfctl never imports the gateway; this test may."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import load_settings
from sfctl.render import targets
from sfctl.spec import SERVICES, Spec

from support.sfctl_render import compose_config, custom_spec, default_spec, write_env

SPECS = [default_spec(), custom_spec()]
_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _check(
    env: dict[str, str], config_text: str, tmp_path: Path, service_type: str, spec: Spec
) -> None:
    """Load settings as the service would, with the mounted routing file put where it looks."""
    config = tmp_path / f"{service_type}-smartflow.yaml"
    config.write_text(config_text)
    env = {**env, "SMARTFLOW_CONFIG": str(config), "SMARTFLOW_DATA_DIR": str(tmp_path / "data")}
    settings = load_settings(env)
    assert settings.service_type == service_type
    assert settings.admin_api_key.get_secret_value()
    assert [p.name for p in settings.config.providers] == [p.name for p in spec.providers]
    assert settings.semantic_cache_threshold == spec.features.semantic_cache_threshold
    if env.get("KEYSTORE_REDIS_URL"):
        assert settings.redis_url and settings.database_url  # shared mode needs both


@pytest.mark.parametrize("spec", SPECS, ids=["default", "custom"])
def test_compose_environment_is_accepted(tmp_path: Path, spec: Spec) -> None:
    out = tmp_path / "compose"
    targets()["compose"](spec, out)
    write_env(tmp_path / ".env", spec)
    done = compose_config(out / "docker-compose.yaml", tmp_path / ".env")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    config_text = (out / "smartflow.yaml").read_text()
    for info in SERVICES:
        environment: dict[str, Any] = services[info.service_type]["environment"]
        env = {k: str(v) for k, v in environment.items() if v is not None}
        _check(env, config_text, tmp_path, info.service_type, spec)


def _manifests(out: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(out.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict)
    ]


def _container_env(container: dict[str, Any], config: dict[str, str]) -> dict[str, str]:
    """The environment Kubernetes gives the container: envFrom the ConfigMap, then env in
    order, secrets as placeholders and $(VAR) expanded as the kubelet does."""
    env = dict(config)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = _REF.sub(lambda m: env.get(m.group(1), m.group(0)), item["value"])
        else:
            env[item["name"]] = f"secret-{item['name'].lower()}"
    return env


@pytest.mark.parametrize("spec", SPECS, ids=["default", "custom"])
def test_kubernetes_environment_is_accepted(tmp_path: Path, spec: Spec) -> None:
    out = tmp_path / "k8s"
    targets()["k8s"](spec, out)
    docs = _manifests(out)
    [configmap] = [d for d in docs if d["kind"] == "ConfigMap"]
    data = dict(configmap["data"])
    config_text = data.pop("smartflow.yaml")
    seen = set()
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = _container_env(container, data)
        _check(env, config_text, tmp_path, env["SERVICE_TYPE"], spec)
        seen.add(env["SERVICE_TYPE"])
    assert seen == {info.service_type for info in SERVICES}
