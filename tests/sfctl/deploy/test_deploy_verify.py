"""Verify: one row per container comparing the expected build with what the gateway answers,
the image's labels and the image's identity, on docker inspect JSON captured from a real
dockerd (classic store) and written from Docker's documented shapes (containerd store: see
fixtures/README.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sfctl import ui
from sfctl.deploy.buildinfo import SourceState
from sfctl.deploy.verify import (
    ContainerFacts,
    ExecFailure,
    Expected,
    ExpectedImage,
    ImageStore,
    VersionAnswer,
    commit_matches,
    exit_code,
    expectation,
    expected_build,
    table,
    verify,
)
from sfctl.deploy.verify_facts import container_facts, parse_answer

FIXTURES = Path(__file__).parent / "fixtures"
COMMIT = "d55e761f0c3c1f0e5a4b2f9d8e7c6b5a4f3e2d1c"
#: what `smartflow-gateway --version --json` printed (SERVICE_TYPE=proxy, the mock config)
ANSWER = (
    '{"name":"smartflow-gateway","version":"0.1.0","git_commit":"' + COMMIT + '",'
    '"build_time":"2025-12-02T05:00:00Z","service":"proxy","features":["openai","anthropic",'
    '"streaming","routing","metrics","mock-provider"]}\n'
)
#: what dockerd 20.10 answered to an exec of a binary the image does not have
NOT_IN_IMAGE = (
    "OCI runtime exec failed: exec failed: unable to start container process: exec: "
    '"smartflow-gateway": executable file not found in $PATH: unknown'
)
#: and to an exec in a stopped container
STOPPED = (
    "Error response from daemon: Container "
    "a52a5df4623b61b0bc650fc754fc1f3c02796da10699e053acea1e24abaf6a15 is not running"
)
CLASSIC_ID = "sha256:6a0210aeed22ab52b966c11f7e76047e0f3181c922eff896eff5cf49d38f1d18"
INDEX = "sha256:1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6"
PLATFORM = "sha256:1191f8b21fcdb259c441efa76fadbff01f9e1db2a955b8491aeeb494cb49d3b4"
MANIFEST = "sha256:" + "7" * 64
EXPECTED = Expected(version="0.1.0", label_version="0.1.0", commit=COMMIT)


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())
    return data[0]


def facts(
    store: ImageStore = "classic",
    answer: VersionAnswer | ExecFailure | None = None,
    *,
    container: str | None = None,
    image: dict[str, Any] | None = None,
    gateway: bool = True,
) -> ContainerFacts:
    """The fixture container; `gateway` False: a stack container, not asked its version."""
    if answer is None and gateway:
        answer = parse_answer(0, ANSWER, "")
    return container_facts(
        inspect(container or f"{store}-container-inspect.json"),
        image if image is not None else inspect(f"{store}-image-inspect.json"),
        store,
        answer,
    )


def bad_cells(report_rows: list[list[Any]], columns: list[str]) -> set[str]:
    return {columns[i] for row in report_rows for i, cell in enumerate(row) if cell.bad}


def test_the_facts_come_from_the_inspect_json() -> None:
    seen = facts()
    assert seen.name == "sfctlfixture-proxy-1"
    assert seen.service == "proxy"  # the Compose label
    assert seen.state == "running" and seen.exit_code is None
    assert seen.image.id == CLASSIC_ID
    assert seen.image.reference == "smartflow/gateway:0.1.0-fixture"
    assert seen.image.repo_digests == ()  # built here, never pushed
    assert seen.image.labels["org.opencontainers.image.revision"] == COMMIT
    assert seen.answer == VersionAnswer(
        version="0.1.0",
        git_commit=COMMIT,
        build_time="2025-12-02T05:00:00Z",
        service="proxy",
        features=("openai", "anthropic", "streaming", "routing", "metrics", "mock-provider"),
    )


def test_the_expected_build_matches() -> None:
    report = verify(EXPECTED, [facts()], {"proxy": ExpectedImage(image_id=CLASSIC_ID)})
    assert report.ok and exit_code(report) == 0
    (row,) = report.rows
    assert [(c.field, c.match) for c in row.checks] == [
        ("version", True),
        ("commit", True),
        ("label version", True),
        ("label revision", True),
        ("image", True),
    ]
    columns, rows, notes = table(report)
    assert bad_cells(rows, columns) == set() and notes == []
    assert [c.text for c in rows[0]] == [
        "sfctlfixture-proxy-1",
        "0.1.0",
        COMMIT[:8],
        CLASSIC_ID[7:19],
        "ok",
    ]


def test_a_version_mismatch_is_found_in_the_answer_and_the_label() -> None:
    report = verify(Expected(version="0.2.0", label_version="0.2.0", commit=COMMIT), [facts()])
    assert not report.ok and exit_code(report) == 1
    (row,) = report.rows
    assert {c.field for c in row.mismatches} == {"version", "label version"}
    columns, rows, notes = table(report)
    assert bad_cells(rows, columns) == {"version", "ok"}
    assert "sfctlfixture-proxy-1: version: expected 0.2.0, found 0.1.0" in notes


def test_a_commit_mismatch_is_found() -> None:
    other = "0123456789abcdef0123456789abcdef01234567"
    report = verify(Expected(version="0.1.0", label_version="0.1.0", commit=other), [facts()])
    assert exit_code(report) == 1
    assert {c.field for c in report.rows[0].mismatches} == {"commit", "label revision"}
    columns, rows, _ = table(report)
    assert bad_cells(rows, columns) == {"commit", "ok"}


def test_a_different_dirty_tree_of_the_same_commit_is_a_mismatch() -> None:
    """Same package version and commit: only the label's `_uncommitted_<hash>` tells them apart."""
    container = inspect("classic-container-inspect.json")
    image = copy.deepcopy(inspect("classic-image-inspect.json"))
    image["Config"]["Labels"]["org.opencontainers.image.version"] = "0.1.0_uncommitted_aaaaaaaaaaaa"
    image["Config"]["Labels"]["org.opencontainers.image.revision"] = f"{COMMIT}-dirty"
    answer = parse_answer(0, ANSWER.replace(COMMIT, f"{COMMIT}-dirty"), "")
    running = container_facts(container, image, "classic", answer)
    mine = expected_build("0.1.0", SourceState(commit=COMMIT, dirty_hash="bbbbbbbbbbbb"))
    report = verify(mine, [running])
    assert [c.field for c in report.rows[0].mismatches] == ["label version"]
    same = expected_build("0.1.0", SourceState(commit=COMMIT, dirty_hash="aaaaaaaaaaaa"))
    assert verify(same, [running]).ok


def test_commits_match_by_prefix_and_dirtiness() -> None:
    assert commit_matches(COMMIT[:7], COMMIT)
    assert commit_matches(COMMIT.upper(), COMMIT)
    assert not commit_matches(COMMIT[:6], COMMIT)  # too short to mean one commit
    assert not commit_matches(COMMIT, f"{COMMIT}-dirty")
    assert not commit_matches(f"{COMMIT}-dirty", COMMIT)
    assert commit_matches(f"{COMMIT[:9]}-dirty", f"{COMMIT}-dirty")
    assert not commit_matches("d55e761f0c3d", COMMIT)


def test_a_required_feature_must_be_on() -> None:
    on = expectation(EXPECTED, features=["streaming", "mock-provider"])
    assert verify(on, [facts()]).ok
    off = expectation(EXPECTED, features=["streaming", "mcp"])
    report = verify(off, [facts()])
    (mismatch,) = report.rows[0].mismatches
    assert mismatch.field == "features" and mismatch.note == "missing: mcp"
    columns, rows, _ = table(report)
    assert "features" in columns and bad_cells(rows, columns) == {"features", "ok"}


def test_classic_store_compares_the_id_and_knows_a_digest_only_after_a_push() -> None:
    """The classic store's id is the config digest: it never equals a registry digest."""
    assert verify(EXPECTED, [facts()], {"proxy": ExpectedImage(image_id=CLASSIC_ID)}).ok
    moved = verify(EXPECTED, [facts()], {"proxy": ExpectedImage(image_id="sha256:" + "0" * 64)})
    assert [c.field for c in moved.rows[0].mismatches] == ["image"]
    by_digest = {
        "proxy": ExpectedImage(digest=f"registry.example.com/smartflow/gateway@{MANIFEST}")
    }
    unpushed = verify(EXPECTED, [facts()], by_digest)
    (check,) = unpushed.rows[0].mismatches
    assert check.note is not None and "after a push or pull" in check.note
    config_as_digest = verify(EXPECTED, [facts()], {"proxy": ExpectedImage(digest=CLASSIC_ID)})
    assert not config_as_digest.ok
    pushed_image = copy.deepcopy(inspect("classic-image-inspect.json"))
    pushed_image["RepoDigests"] = [f"registry.example.com/smartflow/gateway@{MANIFEST}"]
    assert verify(EXPECTED, [facts(image=pushed_image)], by_digest).ok
    assert verify(
        EXPECTED, [facts(image=pushed_image)], {"proxy": ExpectedImage(digest=MANIFEST)}
    ).ok


def test_containerd_store_names_the_image_by_its_index_or_manifest_digest() -> None:
    seen = facts("containerd")
    assert seen.image.id == INDEX
    assert seen.image.manifest_digests == {INDEX, PLATFORM}
    for expected in (
        ExpectedImage(image_id=INDEX),
        ExpectedImage(digest=INDEX),
        ExpectedImage(digest=f"smartflow/gateway@{INDEX}"),
        ExpectedImage(digest=PLATFORM),  # what a registry shows for the one platform
    ):
        assert verify(EXPECTED, [seen], {"proxy": expected}).ok, expected
    # the classic id of the same build is another hash: not what this store calls it
    classic_id = verify(EXPECTED, [seen], {"proxy": ExpectedImage(image_id=CLASSIC_ID)})
    assert [c.field for c in classic_id.rows[0].mismatches] == ["image"]
    other = verify(EXPECTED, [seen], {"proxy": ExpectedImage(digest=MANIFEST)})
    assert [c.field for c in other.rows[0].mismatches] == ["image"]


def test_an_image_without_smartflow_gateway_is_a_mismatch_not_a_crash() -> None:
    failure = parse_answer(126, "", NOT_IN_IMAGE)
    assert isinstance(failure, ExecFailure) and "no smartflow-gateway" in failure.reason
    report = verify(EXPECTED, [facts(answer=failure)])
    assert exit_code(report) == 1
    (row,) = report.rows
    assert row.problem is not None and "no smartflow-gateway" in row.problem
    _, rows, notes = table(report)
    assert rows[0][-1].text == "no" and rows[0][-1].bad
    assert any("no smartflow-gateway" in note for note in notes)


@pytest.mark.parametrize(
    ("code", "stdout", "stderr", "reason"),
    [
        (
            2,
            "",
            "usage: smartflow-gateway [-h] [--version]\nsmartflow-gateway: error: "
            "unrecognized arguments: --json\n",
            "older build",
        ),
        (0, "smartflow-gateway 0.1.0 (d55e761)\n", "", "answered 'smartflow-gateway 0.1.0"),
        (0, '{"name": "smartflow-gateway"}', "", "an older build?"),
        (0, "", "", "answered 'nothing'"),
        (1, "", STOPPED, "is not running"),
        (137, "", "", "exit 137"),
    ],
)
def test_answers_that_are_not_a_build_become_reasons(
    code: int, stdout: str, stderr: str, reason: str
) -> None:
    answer = parse_answer(code, stdout, stderr)
    assert isinstance(answer, ExecFailure)
    assert reason in answer.reason


def test_a_stopped_container_is_a_mismatch_with_its_state() -> None:
    stopped = facts(
        answer=parse_answer(1, "", STOPPED),
        container="classic-container-exited-inspect.json",
    )
    assert stopped.state == "exited" and stopped.exit_code == 137
    report = verify(EXPECTED, [stopped])
    assert report.rows[0].problem == "not running (exited, exit code 137)"
    assert exit_code(report) == 1


def test_a_stack_container_is_checked_on_its_image_only() -> None:
    """Redis, PostgreSQL, Caddy: no gateway inside to ask, no sfctl build labels."""
    redis = facts(gateway=False)
    report = verify(EXPECTED, [redis])
    assert report.ok
    assert [c.field for c in report.rows[0].checks] == ["image"]


def test_verifying_no_container_fails() -> None:
    report = verify(EXPECTED, [])
    assert not report.ok and exit_code(report) == 1


def test_mixed_builds_are_called_out() -> None:
    old = facts()
    new_image = copy.deepcopy(inspect("classic-image-inspect.json"))
    new_image["Config"]["Labels"]["org.opencontainers.image.version"] = "0.2.0"
    new = container_facts(
        inspect("classic-container-inspect.json"),
        new_image,
        "classic",
        parse_answer(0, ANSWER.replace('"0.1.0"', '"0.2.0"'), ""),
    )
    report = verify(EXPECTED, [old, new])
    assert report.builds == (f"0.1.0 ({COMMIT[:8]})", f"0.2.0 ({COMMIT[:8]})")
    assert report.to_json()["mixed_builds"] is True
    _, _, notes = table(report)
    assert notes[-1].startswith("mixed builds: 0.1.0")


def test_the_checkout_expectation_follows_the_build_rules() -> None:
    clean = expected_build("0.1.0", SourceState(commit=COMMIT, dirty_hash=None))
    assert clean == Expected(version="0.1.0", label_version="0.1.0", commit=COMMIT)
    dirty = expected_build("0.1.0", SourceState(commit=COMMIT, dirty_hash="ec65c761e046"))
    assert dirty.commit == f"{COMMIT}-dirty"
    assert dirty.label_version == "0.1.0_uncommitted_ec65c761e046"
    assert dirty.version == "0.1.0"  # what the gateway itself reports


def test_options_replace_the_checkout_identity() -> None:
    checkout = expected_build("0.1.0", SourceState(commit=COMMIT, dirty_hash="ec65c761e046"))
    by_version = expectation(checkout, version="0.2.0")
    assert by_version == Expected(
        version="0.2.0", label_version="0.2.0", commit=None, source="the options"
    )
    dirty = expectation(checkout, version="0.2.0_uncommitted_ab12")
    assert (dirty.version, dirty.label_version) == ("0.2.0", "0.2.0_uncommitted_ab12")
    local = expectation(checkout, version="1.2.0+local")  # tags and labels cannot carry "+"
    assert (local.version, local.label_version) == ("1.2.0+local", "1.2.0_local")
    by_commit = expectation(checkout, commit="abc1234")
    assert (by_commit.version, by_commit.commit) == (None, "abc1234")
    report = verify(by_commit, [facts()])
    assert {c.field for c in report.rows[0].checks if c.match is None} == {
        "version",
        "label version",
        "image",
    }
    assert expectation(checkout, features=["mcp"]) == Expected(
        version="0.1.0",
        label_version="0.1.0_uncommitted_ec65c761e046",
        commit=f"{COMMIT}-dirty",
        features=("mcp",),
    )


def test_the_json_report_has_every_field_expected_and_observed() -> None:
    report = verify(
        Expected(version="0.2.0", label_version="0.2.0", commit=COMMIT),
        [facts()],
        {"proxy": ExpectedImage(image_id=CLASSIC_ID)},
    )
    data = json.loads(json.dumps(report.to_json()))
    assert data["ok"] is False
    (container,) = data["containers"]
    assert container["container"] == "sfctlfixture-proxy-1" and container["service"] == "proxy"
    version = next(c for c in container["checks"] if c["field"] == "version")
    assert version == {
        "field": "version",
        "expected": "0.2.0",
        "observed": "0.1.0",
        "match": False,
        "note": None,
    }


def test_the_table_marks_mismatches_even_without_colour(capsys: pytest.CaptureFixture[str]) -> None:
    report = verify(Expected(version="0.2.0", label_version="0.2.0", commit=COMMIT), [facts()])
    columns, rows, notes = table(report)
    ui.marked_table("sfctl verify compose", columns, rows, notes)
    out = capsys.readouterr().out
    assert "✗ 0.1.0" in out and "✗ no" in out
    assert "✓" not in out
    assert "✗ sfctlfixture-proxy-1: version: expected 0.2.0, found 0.1.0" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_a_mismatch_shared_by_containers_is_explained_once() -> None:
    second = copy.deepcopy(inspect("classic-container-inspect.json"))
    second["Name"] = "/sfctlfixture-proxy-2"
    both = [
        facts(),
        container_facts(
            second, inspect("classic-image-inspect.json"), "classic", parse_answer(0, ANSWER, "")
        ),
    ]
    report = verify(Expected(version="0.2.0", label_version=None, commit=None), both)
    _, rows, notes = table(report)
    assert len(rows) == 2
    assert notes == [
        "sfctlfixture-proxy-1, sfctlfixture-proxy-2: version: expected 0.2.0, found 0.1.0"
    ]
