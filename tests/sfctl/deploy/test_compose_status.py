"""`sfctl status compose`'s model on inspect JSON captured from a real dockerd (the verify
fixtures): health, the build the gateway answered, uptime, restarts, the 80-column rows and
the JSON shape; and which containers verify checks."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sfctl.deploy.compose_inspect import Inspected, current_containers, is_gateway
from sfctl.deploy.compose_status import (
    COLUMNS,
    any_dirty,
    container_status,
    duration,
    project_json,
    table_rows,
)
from sfctl.deploy.verify import ExecFailure, VersionAnswer

FIXTURES = Path(__file__).parent / "fixtures"
COMMIT = "d55e761f0c3c1f0e5a4b2f9d8e7c6b5a4f3e2d1c"


def _load(name: str) -> dict[str, Any]:
    raw = json.loads((FIXTURES / name).read_text())
    return dict(raw[0] if isinstance(raw, list) else raw)


CONTAINER = _load("classic-container-inspect.json")
EXITED = _load("classic-container-exited-inspect.json")
IMAGE = _load("classic-image-inspect.json")
STARTED = datetime(2026, 12, 2, 5, 14, 37, 348534, tzinfo=UTC)
ANSWER = VersionAnswer(version="0.1.0", git_commit=COMMIT, service="proxy")


def _item(
    container: dict[str, Any] | None = None,
    answer: VersionAnswer | ExecFailure | None = ANSWER,
    **changes: Any,
) -> Inspected:
    raw = copy.deepcopy(container or CONTAINER)
    for key, value in changes.items():
        if key == "service":
            raw["Config"]["Labels"]["com.docker.compose.service"] = value
        elif key == "name":
            raw["Name"] = f"/{value}"
        else:
            raw[key] = value
    return Inspected(raw, IMAGE, answer, "classic")


def test_a_running_gateway_container() -> None:
    status = container_status(_item(), STARTED + timedelta(hours=3, minutes=5))
    assert (status.service, status.container, status.state) == (
        "proxy",
        "sfctlfixture-proxy-1",
        "running",
    )
    assert (status.version, status.commit, status.build_problem) == ("0.1.0", COMMIT, None)
    assert status.image_id == CONTAINER["Image"]
    assert status.image == CONTAINER["Config"]["Image"]
    assert status.manifest_digests == ()  # a local build in the classic store has none
    assert status.started_at == STARTED
    assert status.uptime_s == pytest.approx(3 * 3600 + 5 * 60)
    assert status.restarts == 0
    row = table_rows("sfctlfixture", [status])[0]
    assert row == ["proxy-1", "running", "0.1.0 d55e761", row[3], "3h05m", "0"]
    assert row[3] == CONTAINER["Image"].removeprefix("sha256:")[:12]
    assert len(row) == len(COLUMNS)


def test_health_restarts_and_a_dirty_build() -> None:
    state = {**CONTAINER["State"], "Health": {"Status": "unhealthy"}}
    answer = VersionAnswer(version="0.1.0", git_commit=f"{COMMIT}-dirty")
    status = container_status(_item(answer=answer, State=state, RestartCount=3), STARTED)
    assert status.health == "unhealthy"
    row = table_rows("sfctlfixture", [status])[0]
    assert row[1:3] == ["unhealthy", "0.1.0 d55e761*"]
    assert row[5] == "3"
    assert any_dirty([status])


def test_an_exited_container_and_one_that_cannot_say_its_build() -> None:
    failure = ExecFailure("not running (exited)")
    status = container_status(_item(EXITED, answer=failure), STARTED)
    assert status.state == "exited"
    assert status.uptime_s is None
    assert status.build_problem == "not running (exited)"
    row = table_rows("sfctlfixture", [status])[0]
    assert row[1] == f"exited ({EXITED['State']['ExitCode']})"
    assert (row[2], row[4]) == ("?", "-")


def test_a_container_that_is_not_the_gateway() -> None:
    status = container_status(_item(answer=None, service="redis", name="p-redis-1"), STARTED)
    assert not status.gateway
    assert table_rows("p", [status])[0][:3] == ["redis-1", "running", "-"]


def test_a_name_that_does_not_start_with_its_service_shows_the_service() -> None:
    status = container_status(_item(name="p-edge", service="caddy"), STARTED)
    assert table_rows("p", [status])[0][0] == "caddy: edge"


def test_json_groups_containers_by_service() -> None:
    statuses = [
        container_status(_item(name="p-proxy-1"), STARTED),
        container_status(_item(name="p-proxy-2"), STARTED),
        container_status(_item(answer=None, service="redis", name="p-redis-1"), STARTED),
    ]
    shape = project_json("p", statuses)
    assert shape["project"] == "p"
    assert [s["service"] for s in shape["services"]] == ["proxy", "redis"]
    first = shape["services"][0]["containers"][0]
    assert set(first) == {
        "service", "container", "id", "state", "health", "exit_code", "gateway", "version",
        "commit", "build_problem", "image", "image_id", "manifest_digests", "started_at",
        "uptime_s", "restarts",
    }  # fmt: skip
    assert first["started_at"] == STARTED.isoformat()
    json.dumps(shape)  # plain JSON


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h00m"), (90061, "1d01h")],
)
def test_duration(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        ("2026-12-02T05:14:37Z", datetime(2026, 12, 2, 5, 14, 37, tzinfo=UTC)),
        ("2026-12-02T06:14:37.5+01:00", datetime(2026, 12, 2, 5, 14, 37, 500000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
    ],
)
def test_start_times_as_docker_writes_them(started: str, expected: datetime | None) -> None:
    state = {**CONTAINER["State"], "StartedAt": started}
    assert container_status(_item(State=state), STARTED).started_at == expected


def test_which_containers_are_gateways() -> None:
    assert is_gateway(CONTAINER)  # the proxy service
    redis = copy.deepcopy(CONTAINER)
    redis["Config"].update(Labels={"com.docker.compose.service": "redis"}, Env=["PATH=/bin"])
    assert not is_gateway(redis)
    redis["Config"]["Env"].append("SERVICE_TYPE=all")  # the gateway image under another name
    assert is_gateway(redis)


def test_verify_leaves_out_stopped_leftovers_of_a_service_that_runs() -> None:
    running = _item(name="p-proxy-2")
    leftover = _item(EXITED, name="p-proxy-1")
    down = _item(EXITED, service="api-server", name="p-api-server-1")
    kept = current_containers([leftover, running, down])
    assert [item.facts.name for item in kept] == ["p-proxy-2", "p-api-server-1"]
