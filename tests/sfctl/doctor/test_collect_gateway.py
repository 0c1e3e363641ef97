"""collect_gateway against real gateways on loopback: shared mode with the real Redis and
PostgreSQL behind TCP forwarders the test cuts, and gateway processes of different builds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sfctl.doctor.checks.runtime import (
    database_unreachable,
    gateway_version_skew,
    redis_unreachable,
)
from sfctl.doctor.collect_gateway import collect_gateway
from sfctl.doctor.model import Inventory
from sfctl.errors import SfctlError

from support.gateway import ADMIN_KEY, running_gateway
from support.pg import fresh_database
from support.procs import free_port, gateway_process
from support.tcpproxy import TcpProxy

pytestmark = pytest.mark.e2e


async def collect(url: str, key: str = ADMIN_KEY) -> Inventory:
    """The collector is synchronous (sfctl is); the gateway runs in this test's loop."""
    return await asyncio.to_thread(collect_gateway, url, key)


def dependency_findings(inventory: Inventory) -> set[str]:
    checks = (redis_unreachable, database_unreachable)
    return {f.check for check in checks for f in check(inventory)}


async def test_shared_mode_dependencies_as_they_go_away(tmp_path: Path) -> None:
    async with fresh_database() as dsn:
        postgres = TcpProxy("127.0.0.1", 5432)
        redis = TcpProxy("127.0.0.1", 6379)
        await postgres.start()
        await redis.start()
        env = {
            "DATABASE_URL": dsn.replace("127.0.0.1:5432", f"127.0.0.1:{postgres.port}"),
            "KEYSTORE_REDIS_URL": f"redis://127.0.0.1:{redis.port}/15",
        }
        try:
            async with running_gateway(tmp_path, env=env) as gw:
                healthy = await collect(gw.url)
                [(source, answer)] = healthy.gateway_health
                assert source == gw.url
                assert answer["components"]["redis"]["status"] == "ok"
                assert answer["components"]["database"]["status"] == "ok"
                assert answer["version"]["name"] == "smartflow-gateway"  # /version, added
                assert dependency_findings(healthy) == set()

                await redis.cut()
                assert dependency_findings(await collect(gw.url)) == {"redis-unreachable"}

                await postgres.cut()
                both = await collect(gw.url)
                assert dependency_findings(both) == {"redis-unreachable", "database-unreachable"}
                [finding] = database_unreachable(both)
                assert finding.message.startswith(
                    f"{gw.url}: the gateway cannot reach its database"
                )
        finally:
            await redis.cut()
            await postgres.cut()


async def test_redis_on_a_closed_port(tmp_path: Path) -> None:
    """The gateway starts with its Redis unreachable (it degrades, never fails requests)."""
    async with fresh_database() as dsn:
        env = {"DATABASE_URL": dsn, "KEYSTORE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
        async with running_gateway(tmp_path, env=env) as gw:
            inventory = await collect(gw.url + "/")
    [finding] = redis_unreachable(inventory)
    assert "Error 111 connecting to 127.0.0.1" in finding.message
    assert list(database_unreachable(inventory)) == []


async def test_embedded_gateway_is_healthy(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        inventory = await collect(gw.url)
    [(_, answer)] = inventory.gateway_health
    assert "redis" not in answer["components"]  # embedded mode: no Redis to reach
    assert answer["components"]["database"]["status"] == "ok"  # its SQLite file
    assert dependency_findings(inventory) == set()


async def test_refused_key_and_wrong_endpoint(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        with pytest.raises(SfctlError) as refused:
            await collect(gw.url, "sf-admin-wrong-key-0123456789abcdef")
        with pytest.raises(SfctlError) as elsewhere:
            await collect(gw.url + "/not-the-api")
    assert str(refused.value) == (
        f"the gateway at {gw.url} refused the admin key (401): pass the ADMIN_API_KEY it runs with"
    )
    assert refused.value.exit_code == 2
    assert "has no /api/health/comprehensive" in str(elsewhere.value)


def test_unreachable_gateway_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SfctlError) as caught:
        collect_gateway(url, ADMIN_KEY)
    assert str(caught.value).startswith(f"cannot reach the gateway at {url}: ")
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_url_must_be_http() -> None:
    with pytest.raises(SfctlError, match="must start with http"):
        collect_gateway("127.0.0.1:7778", ADMIN_KEY)


def test_two_gateway_processes_of_different_builds() -> None:
    """Real processes, as operators run them: /version tells the builds apart."""
    inventory = Inventory()
    for commit in ("4f2a9c1", "9d00bfb"):
        with gateway_process(env={"SMARTFLOW_GIT_COMMIT": commit}) as (url, _):
            inventory.merge(collect_gateway(url, ADMIN_KEY))
    assert [answer["version"]["git_commit"] for _, answer in inventory.gateway_health] == [
        "4f2a9c1",
        "9d00bfb",
    ]
    [finding] = gateway_version_skew(inventory)
    assert finding.check == "gateway-version-skew"
    assert "4f2a9c1" in finding.message
    assert "9d00bfb" in finding.message
