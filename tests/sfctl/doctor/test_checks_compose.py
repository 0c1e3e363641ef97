"""The Compose checks on what `sfctl render compose` writes (clean), on hand-broken copies of it
(each found), on the guide's stack, and on the Compose forms each rule must read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sfctl.doctor.checks import all_checks
from sfctl.doctor.checks.compose import mgmt_api_published
from sfctl.doctor.collect_compose import collect_compose
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity
from sfctl.doctor.smartflow import compose_service
from sfctl.render import targets
from sfctl.spec import parse_spec

FIXTURES = Path(__file__).parent / "fixtures" / "compose"
SPEC = "domain: smartflow.example.com\nacme_email: ops@example.com\n"
COMPOSE_IDS = {
    "compose-mem-limit-missing",
    "compose-healthcheck-missing",
    "compose-nofile-ulimit",
    "compose-restart-policy",
    "compose-build-not-pull",
    "mgmt-api-exposed",  # declared with the Kubernetes checks, also in the compose group
}
Services = dict[str, Any]


def run_compose_checks(inventory: Inventory) -> list[Finding]:
    checks = [c for c in all_checks().values() if "compose" in c.groups]
    assert {c.id for c in checks} == COMPOSE_IDS
    return [f for c in checks for f in c(inventory)]


def render(tmp_path: Path, extra: str = "") -> Path:
    spec = parse_spec(SPEC + extra)
    out = tmp_path / "compose"
    targets()["compose"](spec, out)
    (out / ".env").write_text(
        "".join(f"{name}=test-{name.lower()}\n" for name in spec.secret_names())
    )
    return out


def broken(tmp_path: Path, change: Callable[[Services], None]) -> list[Finding]:
    """Render the defaults, apply `change` to the services by hand, and check the copy."""
    out = render(tmp_path)
    path = out / "docker-compose.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["services"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return run_compose_checks(collect_compose(out))


def found(findings: list[Finding]) -> set[tuple[str, str, Severity]]:
    return {(f.check, f.object.name, f.severity) for f in findings}


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "redis:\n  mode: external\ndatabase:\n  mode: external\n",
        "providers:\n  - name: openai\n    type: openai\n    api_key_env: OPENAI_API_KEY\n",
        "image:\n  repository: registry.example.com/smartflow/gateway\n  tag: 0.1.0\n"
        "  pull_policy: IfNotPresent\n",
        "image:\n  build:\n    context: .\n",  # built from source: `pull_policy: build`
    ],
)
def test_rendered_compose_is_clean(tmp_path: Path, extra: str) -> None:
    inventory = collect_compose(render(tmp_path, extra))
    services = inventory.compose[0][1]["services"]
    assert {"proxy", "api-server", "compliance", "policy-perfect", "caddy"} <= set(services)
    assert run_compose_checks(inventory) == []


def _drop(key: str, service: str) -> Callable[[Services], None]:
    return lambda services: services[service].pop(key)


def _set(service: str, **values: Any) -> Callable[[Services], None]:
    return lambda services: services[service].update(values)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_drop("mem_limit", "proxy"), ("compose-mem-limit-missing", "proxy", Severity.ERROR)),
        (_drop("mem_limit", "redis"), ("compose-mem-limit-missing", "redis", Severity.ERROR)),
        (
            _drop("healthcheck", "compliance"),
            ("compose-healthcheck-missing", "compliance", Severity.WARNING),
        ),
        (
            _set("postgres", healthcheck={"disable": True}),
            ("compose-healthcheck-missing", "postgres", Severity.WARNING),
        ),
        (
            lambda s: s["api-server"]["healthcheck"].pop("start_period"),
            ("compose-healthcheck-missing", "api-server", Severity.INFO),
        ),
        (_drop("ulimits", "proxy"), ("compose-nofile-ulimit", "proxy", Severity.WARNING)),
        (
            _set("proxy", ulimits={"nofile": {"soft": 1024, "hard": 65536}}),
            ("compose-nofile-ulimit", "proxy", Severity.WARNING),
        ),
        (_drop("restart", "caddy"), ("compose-restart-policy", "caddy", Severity.WARNING)),
        (
            _set("policy-perfect", restart="on-failure"),
            ("compose-restart-policy", "policy-perfect", Severity.WARNING),
        ),
        (
            _set("proxy", build={"context": ".", "dockerfile": "Dockerfile.runtime"}),
            ("compose-build-not-pull", "proxy", Severity.WARNING),
        ),
        (
            lambda s: s["api-server"].update(ports=["7778:7778"]),
            ("mgmt-api-exposed", "api-server", Severity.ERROR),
        ),
    ],
)
def test_hand_broken_copies_are_found(
    tmp_path: Path, change: Callable[[Services], None], expected: tuple[str, str, Severity]
) -> None:
    assert found(broken(tmp_path, change)) == {expected}


def test_nofile_is_only_for_the_data_plane(tmp_path: Path) -> None:
    """api-server without nofile is not a finding: only proxy (and `all`) hold client streams."""
    assert broken(tmp_path, _drop("ulimits", "api-server")) == []


def test_management_published_on_loopback_is_fine(tmp_path: Path) -> None:
    assert broken(tmp_path, _set("api-server", ports=["127.0.0.1:7778:7778"])) == []


def test_build_with_pull_policy_build_is_fine(tmp_path: Path) -> None:
    def build_each_up(services: Services) -> None:
        services["proxy"].update(build={"context": "."}, pull_policy="build")

    assert broken(tmp_path, build_each_up) == []


def test_build_and_image_message_says_which_runs(tmp_path: Path) -> None:
    def build_and_image(services: Services) -> None:
        services["proxy"]["build"] = {"context": ".", "dockerfile": "Dockerfile.runtime"}
        services["proxy"].pop("pull_policy")

    [finding] = broken(tmp_path, build_and_image)
    image = parse_spec(SPEC).image.reference  # what the rendered file names
    assert f"fetches {image} from the registry and `up -d` runs that" in finding.message
    assert "pull_policy: build" in finding.message


def test_the_guides_stack() -> None:
    """The guide's docker-compose.simple.yaml: build: directives (the runbook's own warning),
    limits on the four services only, healthchecks only on some, and 7778 published."""
    findings = run_compose_checks(collect_compose(FIXTURES / "guide"))
    gateways = ("smartflow-proxy", "smartflow-api-server", "smartflow-compliance")
    assert found(findings) == {
        ("compose-mem-limit-missing", "redis", Severity.ERROR),
        ("compose-mem-limit-missing", "smartflow-chat", Severity.ERROR),
        ("compose-healthcheck-missing", "smartflow-api-server", Severity.INFO),
        ("compose-healthcheck-missing", "smartflow-chat", Severity.WARNING),
        ("compose-healthcheck-missing", "smartflow-compliance", Severity.WARNING),
        ("compose-healthcheck-missing", "smartflow-policy-perfect", Severity.WARNING),
        ("compose-healthcheck-missing", "timescaledb", Severity.WARNING),
        ("compose-restart-policy", "timescaledb", Severity.WARNING),
        *(("compose-build-not-pull", name, Severity.WARNING) for name in gateways),
        ("compose-build-not-pull", "smartflow-policy-perfect", Severity.WARNING),
        ("mgmt-api-exposed", "smartflow-api-server", Severity.ERROR),
    }
    build = next(f for f in findings if f.check == "compose-build-not-pull")
    assert "`docker compose pull` skips it" in build.message
    assert build.object == ObjectRef("ComposeService", "smartflow-api-server", "guide")
    assert build.message.startswith(
        str((FIXTURES / "guide" / "docker-compose.simple.yaml").resolve())
    )


def test_override_project_one_shot_and_long_forms() -> None:
    """deploy.resources.limits.memory counts as a limit, deploy.restart_policy `any` as a
    restart policy, nofile as a single number; the migration job others wait for with
    service_completed_successfully needs neither restart nor healthcheck."""
    findings = run_compose_checks(collect_compose(FIXTURES / "override"))
    assert found(findings) == {("compose-healthcheck-missing", "gateway", Severity.INFO)}


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ({"environment": {"SERVICE_TYPE": "proxy"}, "expose": ["7775"], "image": "x:7"}, "proxy"),
        # SERVICE_TYPE alone is too common a name to trust: the rule pods follow too
        ({"environment": {"SERVICE_TYPE": "proxy"}, "image": "redis:7"}, None),
        (
            {"environment": {"SERVICE_TYPE": "api-server"}, "ports": ["127.0.0.1:80:7778"]},
            "api-server",
        ),
        (
            {"environment": {"SERVICE_TYPE": "chat"}, "image": "langsmartai/safechat-enterprise"},
            None,
        ),
        ({"image": "langsmartai/safechat-enterprise:latest"}, "all"),
        ({"image": "registry.example.com:5000/smartflow/gateway:0.1.0"}, "all"),
        ({"image": "ghcr.io/acme/smartflow-gateway@sha256:abc"}, "all"),
        ({"build": {"context": ".", "dockerfile": "Dockerfile.runtime"}}, "all"),
        ({"image": "redis:7.2-alpine"}, None),
        ({"image": "timescale/timescaledb:2.17.2-pg16", "environment": {"A": None}}, None),
    ],
)
def test_which_services_are_gateways(service: dict[str, Any], expected: str | None) -> None:
    assert compose_service(service) == expected


def test_an_all_gateway_published_everywhere_exposes_management() -> None:
    """`all` serves the management routes on its one port, so publishing 7775 exposes them."""
    config = {
        "name": "dev",
        "services": {
            "gateway": {
                "image": "smartflow/gateway:0.1.0",
                "ports": [{"target": 7775, "published": "7775"}],
            },
            "local": {
                "image": "smartflow/gateway:0.1.0",
                "ports": [{"target": 7775, "host_ip": "127.0.0.1"}],
            },
            "proxy": {"environment": {"SERVICE_TYPE": "proxy"}, "ports": [{"target": 7775}]},
        },
    }
    [finding] = mgmt_api_published(Inventory(compose=[("dev.yaml", config)]))
    assert finding.object == ObjectRef("ComposeService", "gateway", "dev")
    assert "(all) publishes the management API (container port 7775) on 7775" in finding.message
