"""What `sfctl verify` expects without options (the recorded release, else the checkout), with
them, and which Compose project a deployment folder is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sfctl.deploy.compose_dir import default_project_name, project_name
from sfctl.deploy.history import Action, Record, Result, ServiceImage
from sfctl.deploy.verify import Expected, ExpectedImage
from sfctl.deploy.verify_expect import default_expectation, from_options, from_release
from sfctl.errors import SfctlError

CHECKOUT = Expected(version="0.2.0", label_version="0.2.0", commit="c" * 40)
AT = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def _record(action: Action = Action.DEPLOY, result: Result = Result.OK) -> Record:
    after = (
        ServiceImage("proxy", "sf/gw:1", "sha256:aaa", None, "0.1.0_uncommitted_0123", "b" * 40),
        ServiceImage("redis", "sf/redis:1", "sha256:rrr"),
    )
    return Record(AT, "ops", "host", action, result, None, "0.1.0", 12.0, after=after)


def test_options_replace_every_default() -> None:
    assert from_options(None, None, ["mcp"]) is None
    chosen = from_options("0.3.0", None, ["mcp"])
    assert chosen is not None
    assert (chosen.build.version, chosen.build.commit, chosen.build.features) == (
        "0.3.0",
        None,
        ("mcp",),
    )
    assert chosen.images == {}


def test_the_recorded_release_comes_before_the_checkout() -> None:
    chosen = default_expectation([_record()], CHECKOUT, ["mcp"])
    assert chosen is not None
    build = chosen.build
    assert (build.version, build.label_version, build.commit) == (
        "0.1.0",
        "0.1.0_uncommitted_0123",
        "b" * 40,
    )
    assert build.features == ("mcp",)
    assert build.source == "the last deploy (2026-12-02 05:00 UTC)"
    assert chosen.images == {
        "proxy": ExpectedImage("sha256:aaa", None),
        "redis": ExpectedImage("sha256:rrr", None),
    }


def test_without_a_release_the_checkout() -> None:
    torn_down = [_record(Action.TEARDOWN), _record()]
    for records in ([], [_record(result=Result.FAILED)], torn_down):
        chosen = default_expectation(records, CHECKOUT, [])
        assert chosen is not None and chosen.build == CHECKOUT
    assert default_expectation([], None, []) is None


def test_a_release_without_a_gateway_version_checks_images_only() -> None:
    record = _record()
    bare = Record(AT, "ops", "h", Action.DEPLOY, Result.OK, None, None, 1.0, after=record.after[1:])
    chosen = from_release(bare, [])
    assert (chosen.build.version, chosen.build.commit) == (None, None)
    assert set(chosen.images) == {"redis"}


def test_the_project_is_the_compose_files_name(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yaml").write_text("name: sfprod\nservices: {}\n")
    assert project_name(tmp_path) == "sfprod"


def test_without_a_name_compose_uses_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "My.Deploy_1"
    folder.mkdir()
    (folder / "compose.yaml").write_text("services: {}\n")
    assert project_name(folder) == default_project_name(folder) == "mydeploy_1"


def test_a_missing_folder_or_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SfctlError, match=r"no deployment folder .*pass --dir"):
        project_name(tmp_path / "nope")
    with pytest.raises(SfctlError, match=r"no docker-compose\.yaml in .*sfctl render compose"):
        project_name(tmp_path)
