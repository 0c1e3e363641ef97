"""What identifies a build: the dirty suffix, the tag and reference rules, the labels and build
arguments; and git's view of a real checkout (clean, dirty, the same tree twice, not git)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from sfctl.deploy.buildinfo import (
    FEATURES_LABEL,
    TAG,
    SourceState,
    build_args,
    build_info,
    image_labels,
    image_reference,
    split_reference,
    tag_safe,
)
from sfctl.deploy.source import dirty_digest, public_url, read_source_state
from sfctl.errors import UsageError

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"


def test_clean_checkout_builds_the_package_version() -> None:
    info = build_info("1.4.0", SourceState(commit=SHA, dirty_hash=None, remote=None), NOW)
    assert info.build_version == "1.4.0"
    assert info.commit == SHA
    assert not info.dirty
    assert info.created == "2026-03-04T05:06:07Z"
    assert info.source == "unknown"


def test_dirty_checkout_says_so_in_version_and_commit() -> None:
    state = SourceState(commit=SHA, dirty_hash="a1b2c3d4e5f6", remote="https://git.example/sf")
    info = build_info("1.4.0", state, NOW)
    assert info.build_version == "1.4.0_uncommitted_a1b2c3d4e5f6"
    assert TAG.fullmatch(info.build_version)
    assert info.commit == f"{SHA}-dirty"
    assert info.source == "https://git.example/sf"


def test_commit_override_and_no_git() -> None:
    no_git = SourceState(commit=None, dirty_hash=None)
    assert build_info("1.0.0", no_git, NOW).commit == "unknown"
    assert build_info("1.0.0", no_git, NOW, commit="abc1234").commit == "abc1234"
    dirty = SourceState(commit=SHA, dirty_hash="ffff")
    assert build_info("1.0.0", dirty, NOW, commit="abc1234").commit == "abc1234-dirty"
    with pytest.raises(UsageError, match="--commit"):
        build_info("1.0.0", no_git, NOW, commit="$(rm -rf /)")


def test_created_is_utc_whatever_the_clock_zone() -> None:
    paris = datetime(2026, 3, 4, 6, 6, 7, tzinfo=timezone(timedelta(hours=1)))
    info = build_info("1.0.0", SourceState(commit=SHA, dirty_hash=None), paris)
    assert info.created == "2026-03-04T05:06:07Z"


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("1.2.0", "1.2.0"),
        ("1.2.0+local.7", "1.2.0_local.7"),  # PEP 440 local versions: + is not a tag character
        ("2.0.0rc1", "2.0.0rc1"),
        (".hidden", "v.hidden"),
        ("-x", "v-x"),
        ("a" * 200, "a" * 128),
    ],
)
def test_tag_safe(text: str, tag: str) -> None:
    assert tag_safe(text) == tag
    assert TAG.fullmatch(tag_safe(text))


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("smartflow/gateway:1.0", ("smartflow/gateway", "1.0")),
        ("smartflow/gateway", ("smartflow/gateway", None)),
        ("localhost:5000/smartflow/gateway", ("localhost:5000/smartflow/gateway", None)),
        ("localhost:5000/sf/gw:2", ("localhost:5000/sf/gw", "2")),
    ],
)
def test_split_reference_knows_a_port_from_a_tag(
    reference: str, parts: tuple[str, str | None]
) -> None:
    assert split_reference(reference) == parts


def test_image_reference_from_option() -> None:
    assert image_reference(None, "smartflow/gateway", "1.0.0") == "smartflow/gateway:1.0.0"
    assert image_reference("rc1", "smartflow/gateway", "1.0.0") == "smartflow/gateway:rc1"
    assert (
        image_reference("127.0.0.1:5000/sf/gw", "smartflow/gateway", "1.0.0")
        == "127.0.0.1:5000/sf/gw:1.0.0"
    )
    assert image_reference("acme/gw:7", "smartflow/gateway", "1.0.0") == "acme/gw:7"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("bad tag", "Docker tag"),
        ("acme/gw:1+2", "Docker tag"),
        ("-rc", "Docker tag"),
        ("Acme/Gateway:1", "repository"),
        ("acme/gw@sha256:" + "0" * 64, "digest"),
    ],
)
def test_image_reference_refuses_what_docker_would(option: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        image_reference(option, "smartflow/gateway", "1.0.0")


def test_labels_and_build_args_carry_the_same_identity() -> None:
    state = SourceState(commit=SHA, dirty_hash="abc", remote="https://git.example/sf")
    info = build_info("1.0.0", state, NOW)
    features = ("openai", "mcp")
    labels = image_labels(info, features)
    assert labels == {
        "org.opencontainers.image.title": "smartflow-gateway",
        "org.opencontainers.image.version": "1.0.0_uncommitted_abc",
        "org.opencontainers.image.revision": f"{SHA}-dirty",
        "org.opencontainers.image.created": "2026-03-04T05:06:07Z",
        "org.opencontainers.image.source": "https://git.example/sf",
        FEATURES_LABEL: "openai,mcp",
    }
    args = build_args(info, features, "smartflow/base:bookworm")
    assert args["BASE_IMAGE"] == "smartflow/base:bookworm"
    assert (args["VERSION"], args["REVISION"]) == ("1.0.0_uncommitted_abc", f"{SHA}-dirty")
    assert args["FEATURES"] == labels[FEATURES_LABEL]


def test_dockerfile_declares_every_build_arg_and_label() -> None:
    """The Dockerfile turns the build args into the labels `image_labels` promises."""
    text = (Path(__file__).resolve().parents[3] / "Dockerfile.runtime").read_text()
    info = build_info("1.0.0", SourceState(commit=SHA, dirty_hash=None), NOW)
    for name in build_args(info, (), "base"):
        assert f"ARG {name}" in text
    for label in image_labels(info, ()):
        assert f"{label}=" in text
    assert "SMARTFLOW_GIT_COMMIT=${REVISION}" in text
    assert "SMARTFLOW_BUILD_TIME=${CREATED}" in text


def test_public_url_drops_credentials() -> None:
    assert public_url("https://ci:ghp_secret@github.com/acme/sf.git\n") == (
        "https://github.com/acme/sf.git"
    )
    assert public_url("git@github.com:acme/sf.git") == "git@github.com:acme/sf.git"


def test_dirty_digest_is_none_when_clean_and_stable_otherwise() -> None:
    assert dirty_digest(b"", {}) is None
    one = dirty_digest(b"diff", {"b": b"2", "a": b"1"})
    assert one == dirty_digest(b"diff", {"a": b"1", "b": b"2"})
    assert one != dirty_digest(b"diff", {"a": b"1", "b": b"3"})
    assert one is not None and len(one) == 12


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


def test_source_state_of_a_real_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "gateway").mkdir(parents=True)
    assert read_source_state(repo) == SourceState(commit=None, dirty_hash=None)
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("build/\n")
    app = repo / "gateway" / "app.py"
    app.write_text("print(1)\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    _git(repo, "remote", "add", "origin", "https://me:token@git.example/acme/sf.git")
    clean = read_source_state(repo)
    assert clean.commit is not None and len(clean.commit) == 40
    assert clean.dirty_hash is None
    assert clean.remote == "https://git.example/acme/sf.git"

    (repo / "build").mkdir()  # ignored: the wheelhouse lives there
    (repo / "build" / "x.whl").write_bytes(b"wheel")
    # a deployment folder inside the checkout (`sfctl init local`) is not part of the build
    (repo / "local").mkdir()
    (repo / "local" / ".env").write_text("ADMIN_API_KEY=secret\n")
    (repo / "local" / "sfctl.yaml").write_text("name: smartflow\n")
    assert read_source_state(repo).dirty_hash is None

    app.write_text("print(2)\n")
    edited = read_source_state(repo)
    assert edited.dirty_hash is not None
    assert read_source_state(repo).dirty_hash == edited.dirty_hash  # same tree, same version

    (repo / "gateway" / "new.py").write_text("x = 1\n")  # untracked, not ignored: in the build
    with_new = read_source_state(repo)
    assert with_new.dirty_hash not in (None, edited.dirty_hash)

    (repo / "gateway" / "new.py").unlink()
    app.write_text("print(1)\n")
    assert read_source_state(repo).dirty_hash is None
