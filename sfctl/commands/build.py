"""`sfctl build`: the runtime image (and with --stack, Redis, PostgreSQL and Caddy) from this
source tree; `sfctl build base` makes a base image with debootstrap; `sfctl build wheels`
fetches the runtime wheels to carry to a site with no network."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer

from sfctl import ui
from sfctl.deploy import base_image, engine, stack
from sfctl.deploy.buildinfo import image_reference
from sfctl.deploy.image import (
    DEFAULT_BASE_IMAGE,
    LOG_DIR,
    NO_DIGEST,
    BuildRequest,
    BuiltImage,
    build_runtime_image,
    find_source_root,
)
from sfctl.deploy.names import image_names
from sfctl.deploy.target import bookworm
from sfctl.deploy.wheelhouse import fetch_dependencies
from sfctl.spec import Spec, load_spec


class Output(StrEnum):
    table = "table"
    json = "json"


app = typer.Typer(
    name="build",
    help="Build the runtime image (and the stack's) with no network inside the build.",
    invoke_without_command=True,
    no_args_is_help=False,
)

SPEC_FILE = typer.Option(
    None, "--file", "-f", help="The deployment spec (default ./sfctl.yaml if there)."
)
OUTPUT = typer.Option(Output.table, "--output", "-o", help="Print a table or JSON.")
SOURCE = typer.Option(
    None, "--source", help="The source checkout (default: the nearest with Dockerfile.runtime)."
)


def _spec(path: Path | None) -> Spec | None:
    if path is None:
        default = Path("sfctl.yaml")
        return load_spec(default) if default.is_file() else None
    return load_spec(path)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.0f} MB"


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _show_image(built: BuiltImage) -> None:
    ui.fields(
        "sfctl build",
        [
            ("reference", built.reference),
            ("image id", _short(built.image_id)),
            ("digest", built.repo_digest or NO_DIGEST),
            ("version", built.info.build_version),
            ("commit", built.info.commit),
            ("built", built.info.created),
            ("base image", built.base_image),
            ("size", _mb(built.size)),
            ("features", ", ".join(built.features)),
        ],
    )


def _show_stack(built: list[stack.BuiltStackImage]) -> None:
    rows = [
        (item.part.part, item.part.reference, f"{item.part.package} {item.package_version}")
        for item in built
    ]
    ui.table("stack images", ("part", "reference", "Debian package"), rows, literal=True)
    shadowed = stack.shadowed_public_names([item.part for item in built])
    if shadowed:
        names = ", ".join(part.reference for part in shadowed)
        fields = ", ".join(part.field for part in shadowed)
        ui.warn(
            f"{names} on this engine are now Debian's builds, not the public images: name "
            f"your own in sfctl.yaml ({fields}) to keep them apart"
        )


@app.callback()
def build(
    ctx: typer.Context,
    spec_file: Path | None = SPEC_FILE,
    tag: str | None = typer.Option(
        None, "--tag", help="A tag, or a full reference (default: the spec's repository:version)."
    ),
    base: str = typer.Option(
        DEFAULT_BASE_IMAGE, "--base-image", help="The image to build on (any glibc, Python 3.11+)."
    ),
    with_stack: bool = typer.Option(
        False, "--stack", help="Also build Redis, PostgreSQL and Caddy from Debian's packages."
    ),
    push: bool = typer.Option(False, "--push", help="Push the image; print its digest."),
    commit: str | None = typer.Option(None, "--commit", help="The commit, where git cannot tell."),
    wheels_from: Path | None = typer.Option(
        None, "--wheels-from", help="Take the wheels from this folder only (`sfctl build wheels`)."
    ),
    source: Path | None = SOURCE,
    output: Output = OUTPUT,
) -> None:
    """Build the runtime image from this checkout: wheelhouse, image, then what was built."""
    if ctx.invoked_subcommand is not None:
        return
    names = image_names(_spec(spec_file))
    if tag is not None:  # a bad --tag fails now, not after the wheelhouse
        image_reference(tag, names.gateway_repository, "0")
    root = find_source_root(source or Path.cwd())
    request = BuildRequest(
        root=root,
        repository=names.gateway_repository,
        tag=tag,
        base_image=base,
        commit=commit,
        push=push,
        wheels_from=wheels_from,
    )
    docker = engine.connect()
    with engine.engine_errors("build"), ui.live_tasks() as live:
        built = build_runtime_image(docker, request, now=datetime.now(UTC), progress=live.update)
        parts = stack.stack_parts(names) if with_stack else []
        stack_built = stack.build_stack(
            docker,
            parts,
            base_image=base,
            created=built.info.created,
            log_dir=root / LOG_DIR,
            progress=live.update,
        )
    if output is Output.json:
        payload: dict[str, object] = built.as_json()
        if with_stack:
            payload["stack"] = [item.as_json() for item in stack_built]
        ui.emit_json(payload)
        return
    _show_image(built)
    if with_stack:
        _show_stack(stack_built)


@app.command("base")
def base_command(
    tag: str = typer.Option(base_image.BASE_IMAGE, "--tag", help="The name to give it."),
    suite: str = typer.Option(base_image.SUITE, "--suite", help="The Debian release."),
    mirror: str | None = typer.Option(
        None, "--mirror", help="The Debian mirror (default: this host's apt sources)."
    ),
    rebuild: bool = typer.Option(False, "--rebuild", help="Make it again even if it exists."),
    output: Output = OUTPUT,
) -> None:
    """Make a Debian base image with debootstrap, where none can be pulled.

    Needs root and about a minute: a minimal bookworm with python3, python3-venv and
    ca-certificates, slimmed like Debian's -slim images, then `docker import`."""
    docker = engine.connect()
    existed = docker.has_image(tag) and not rebuild
    if not existed:
        with engine.engine_errors("sfctl build base"), ui.live_tasks() as live:
            base_image.make_base_image(
                docker, reference=tag, suite=suite, mirror=mirror, progress=live.update
            )
    facts = docker.facts(tag)
    if output is Output.json:
        ui.emit_json(
            {"reference": tag, "image_id": facts.id, "size": facts.size, "made": not existed}
        )
        return
    verb = "already here" if existed else "made"
    ui.success(f"{tag}: {verb} ({_short(facts.id)}, {_mb(facts.size)})")


@app.command("wheels")
def wheels_command(
    dest: Path = typer.Argument(..., help="The folder to fill (kept: files there are reused)."),
    base: str | None = typer.Option(
        None, "--base-image", help="Fetch for this image's Python (default: Debian bookworm's)."
    ),
    source: Path | None = SOURCE,
) -> None:
    """Fetch the runtime image's locked wheels, for a build with no network.

    Carry DEST to the site; there, `sfctl build --wheels-from DEST` builds offline."""
    root = find_source_root(source or Path.cwd())
    if base is None:
        target = bookworm(platform.machine())
    else:
        docker = engine.connect()
        docker.ensure_image(base, missing="pass an image that is here")
        target = docker.probe_python(base)
    with ui.live_tasks() as live:
        pins = fetch_dependencies(root, dest, target, find_links=None, progress=live.update)
    ui.success(f"{len(pins)} locked wheels for Python {target.full_version} in {dest}")
