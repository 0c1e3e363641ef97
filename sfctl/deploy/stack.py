"""`sfctl build --stack`: Redis, PostgreSQL and Caddy from Debian's packages on the runtime
image's base, for sites that cannot pull them, tagged as sfctl.yaml names them so the rendered
compose file runs them unchanged. Their Dockerfiles are in templates/images/ (installed with
sfctl, so a wheel install builds them too); apt-get runs inside those builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sfctl.deploy.engine import Engine
from sfctl.deploy.names import ImageNames
from sfctl.deploy.progress import Progress
from sfctl.spec import ComposeSpec, DatabaseSpec, RedisSpec


@dataclass(frozen=True, slots=True)
class StackPart:
    part: str  # redis, database, caddy
    field: str  # where sfctl.yaml names its image
    reference: str
    directory: str  # under templates/images
    package: str  # the Debian package it runs


@dataclass(frozen=True, slots=True)
class BuiltStackImage:
    part: StackPart
    image_id: str
    package_version: str
    size: int

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.part.part,
            "reference": self.part.reference,
            "spec_field": self.part.field,
            "image_id": self.image_id,
            "package": self.part.package,
            "package_version": self.package_version,
            "size": self.size,
        }


#: the spec's defaults name public images; an image built here under such a name is Debian's
PUBLIC_DEFAULTS = frozenset({RedisSpec().image, DatabaseSpec().image, ComposeSpec().caddy_image})


def stack_parts(names: ImageNames) -> list[StackPart]:
    """What to build: the bundled datastores (an external one needs no image) and Caddy."""
    parts = []
    if names.redis:
        parts.append(StackPart("redis", "redis.image", names.redis, "redis", "redis-server"))
    if names.database:
        parts.append(
            StackPart("database", "database.image", names.database, "postgres", "postgresql-15")
        )
    parts.append(StackPart("caddy", "compose.caddy_image", names.caddy, "caddy", "caddy"))
    return parts


def shadowed_public_names(parts: list[StackPart]) -> list[StackPart]:
    """Parts whose tag is a public image's name: this engine will then run Debian's build
    where the name promises the upstream image (say so, and how to name them apart)."""
    return [part for part in parts if part.reference in PUBLIC_DEFAULTS]


def build_stack(
    engine: Engine,
    parts: list[StackPart],
    *,
    base_image: str,
    created: str,
    log_dir: Path,
    progress: Progress,
) -> list[BuiltStackImage]:
    built = []
    for part in parts:
        with resources.as_file(resources.files("sfctl.templates") / "images") as images:
            context = images / part.directory
            image_id = engine.build(
                context,
                dockerfile=context / "Dockerfile",
                reference=part.reference,
                build_args={"BASE_IMAGE": base_image, "CREATED": created},
                key=part.part,
                progress=progress,
                log_path=log_dir / f"{part.part}-image.log",
            )
        version = engine.package_version(part.reference, part.package)
        built.append(BuiltStackImage(part, image_id, version, engine.facts(image_id).size))
    return built
