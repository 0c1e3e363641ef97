"""A local deployment's spec: no public DNS, no ACME, no ports 80/443, loopback only."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sfctl.render.caddy import caddyfile
from sfctl.render.compose import compose_file
from sfctl.spec import Spec

LOCAL: dict[str, Any] = {
    "domain": "localhost",
    "acme_email": "ops@example.test",
    "tls": {"enabled": False},
    "compose": {"bind_address": "127.0.0.1", "http_port": 8080, "https_port": 8443},
}


def test_local_spec_publishes_plain_http_on_loopback_only() -> None:
    spec = Spec.model_validate(LOCAL)
    compose = compose_file(spec)
    assert '"127.0.0.1:8080:80"' in compose and '"127.0.0.1:8443:443"' in compose
    assert "443/udp" not in compose  # no HTTP/3 without TLS
    text = caddyfile(spec, host=None)
    assert "http://localhost, http://127.0.0.1 {" in text and "auto_https off" in text


def test_internal_tls_uses_caddys_own_ca() -> None:
    spec = Spec.model_validate({**LOCAL, "tls": {"enabled": True, "internal": True}})
    assert "tls internal" in caddyfile(spec, host=None)
    assert '"127.0.0.1:8443:443/udp"' in compose_file(spec)


def test_rollout_settings_reach_the_compose_file() -> None:
    spec = Spec.model_validate({**LOCAL, "compose": {"drain_timeout_secs": 12, "nofile": 4096}})
    compose = compose_file(spec)
    assert 'SMARTFLOW_SHUTDOWN_TIMEOUT_SECS: "12"' in compose
    assert "stop_grace_period: 22s" in compose  # past the drain, before SIGKILL
    assert "soft: 4096" in compose
    assert "container_name: smartflow-proxy" not in compose  # two proxies during a rollout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"compose": {"bind_address": "localhost"}}, "bind_address"),
        ({"compose": {"bind_address": "256.0.0.1"}}, "bind_address"),
        ({"compose": {"http_port": 8080, "https_port": 8080}}, "must differ"),
        ({"tls": {"enabled": False, "internal": True}}, "tls.internal needs"),
        ({"domain": "localhost.", "tls": {"enabled": False}}, "DNS name"),
        ({"compose": {"drain_timeout_secs": 0}}, "drain_timeout_secs"),
    ],
)
def test_wrong_local_settings_are_refused(change: dict[str, Any], message: str) -> None:
    raw = {**LOCAL, **change}
    with pytest.raises(ValidationError, match=message):
        Spec.model_validate(raw)


def test_init_local_writes_a_spec_for_this_host_only() -> None:
    from sfctl.render.init_files import spec_yaml
    from sfctl.spec import parse_spec

    spec = parse_spec(
        spec_yaml(
            name="dev", domain="localhost", email="ops@example.test", local=True, nofile=4096
        ),
        source="test",
    )
    assert (spec.domain, spec.tls.enabled, spec.compose.bind_address) == (
        "localhost",
        False,
        "127.0.0.1",
    )
    assert (spec.compose.http_port, spec.compose.nofile) == (8080, 4096)
    assert spec.management.expose and "127.0.0.0/8" in spec.management.allowed_sources
    # `sfctl build --stack` builds the datastores and Caddy under our own names, so a local
    # deployment never shadows the public redis/timescaledb/caddy tags on this engine
    stack = (spec.redis.image, spec.database.image, spec.compose.caddy_image)
    assert all(image.startswith("smartflow/") for image in stack), stack
