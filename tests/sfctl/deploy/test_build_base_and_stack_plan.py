"""The base image's plan (the mirror from the host's apt sources, debootstrap's command, the
slimmed tree) and the stack's (which images, named as the spec names them), without docker;
and `sfctl build`'s errors when it cannot start: one line, what to do, no traceback."""

from __future__ import annotations

from pathlib import Path

from sfctl.deploy.base_image import (
    DEFAULT_MIRROR,
    DEFAULT_SECURITY,
    apt_sources,
    debootstrap_command,
    find_mirror,
    host_mirrors,
    slim_rootfs,
)
from sfctl.deploy.names import image_names
from sfctl.deploy.stack import shadowed_public_names, stack_parts
from sfctl.spec import parse_spec

from support.docker_build import ROOT, run_sfctl

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""
ONE_LINE = """\
# deb http://old.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
"""


def test_find_mirror_in_deb822_and_one_line_sources() -> None:
    assert find_mirror(DEB822, "bookworm") == "http://mirror.example/debian"
    assert find_mirror(DEB822, "bookworm-security") == "http://mirror.example/debian-security"
    assert find_mirror(ONE_LINE, "bookworm") == "http://one.example/debian"
    assert find_mirror(ONE_LINE, "trixie") is None


def test_host_mirrors_fall_back_to_debian(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(DEB822)
    assert host_mirrors("bookworm", [tmp_path]) == (
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
    )
    assert host_mirrors("bookworm", [tmp_path / "none"]) == (DEFAULT_MIRROR, DEFAULT_SECURITY)


def test_debootstrap_command_and_sources() -> None:
    command = debootstrap_command(Path("/r"), "bookworm", "http://m/debian")
    assert command == [
        "debootstrap",
        "--variant=minbase",
        "--include=python3,python3-venv,ca-certificates",
        "bookworm",
        "/r",
        "http://m/debian",
    ]
    sources = apt_sources("bookworm", "http://m/debian", "http://m/sec")
    assert "deb http://m/sec bookworm-security main" in sources
    assert "deb http://m/debian bookworm-updates main" in sources


def test_slim_rootfs(tmp_path: Path) -> None:
    for folder in (
        "usr/share/doc/x",
        "usr/share/locale/fr",
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "etc/dpkg/dpkg.cfg.d",
        "etc/apt/apt.conf.d",
    ):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "usr/share/doc/x/README").write_text("x")
    (tmp_path / "var/cache/apt/archives/libc6.deb").write_bytes(b"deb")
    (tmp_path / "var/lib/apt/lists/lock").write_text("")
    slim_rootfs(tmp_path, "deb http://m bookworm main\n")
    assert not list((tmp_path / "usr/share/doc").iterdir())
    assert not (tmp_path / "var/cache/apt/archives/libc6.deb").exists()
    assert (
        "path-exclude /usr/share/doc/*"
        in (tmp_path / "etc/dpkg/dpkg.cfg.d/docker-slim").read_text()
    )
    assert 'Dir::Cache::pkgcache ""' in (tmp_path / "etc/apt/apt.conf.d/docker-slim").read_text()
    assert (tmp_path / "etc/apt/sources.list").read_text() == "deb http://m bookworm main\n"


SPEC = """\
domain: llm.example.com
acme_email: ops@example.com
image: {repository: registry.example:5000/acme/gateway}
redis: {image: "acme/redis:7.0"}
database: {mode: external}
compose: {caddy_image: "acme/caddy:2.6"}
"""


def test_stack_parts_follow_the_spec() -> None:
    names = image_names(parse_spec(SPEC))
    assert names.gateway_repository == "registry.example:5000/acme/gateway"
    parts = stack_parts(names)
    assert [(p.part, p.reference, p.field) for p in parts] == [
        ("redis", "acme/redis:7.0", "redis.image"),
        ("caddy", "acme/caddy:2.6", "compose.caddy_image"),
    ]  # an external database needs no image
    assert shadowed_public_names(parts) == []


def test_without_a_spec_the_defaults_shadow_public_names() -> None:
    parts = stack_parts(image_names(None))
    assert [p.directory for p in parts] == ["redis", "postgres", "caddy"]
    assert [p.reference for p in shadowed_public_names(parts)] == [p.reference for p in parts]


def test_every_stack_part_has_its_dockerfile() -> None:
    images = Path(__file__).resolve().parents[3] / "templates" / "images"
    for part in stack_parts(image_names(None)):
        text = (images / part.directory / "Dockerfile").read_text()
        assert "ARG BASE_IMAGE" in text and "USER " in text and "HEALTHCHECK" in text
        assert part.package in text


def test_no_dockerd_is_one_line_saying_how_to_start_it(tmp_path: Path) -> None:
    result = run_sfctl(
        "build",
        "--source",
        str(ROOT),
        cwd=tmp_path,
        env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "cannot reach dockerd" in result.stderr
    assert "dockerd > /var/log/dockerd.log" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_come_before_any_work(tmp_path: Path) -> None:
    result = run_sfctl("build", "--source", str(ROOT), "--tag", "not a tag", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Docker tag" in result.stderr and result.stderr.count("\n") == 1
    outside = run_sfctl("build", cwd=tmp_path)
    assert outside.returncode == 1
    assert "no Dockerfile.runtime" in outside.stderr and "--source" in outside.stderr
