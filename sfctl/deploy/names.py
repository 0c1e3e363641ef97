"""The image names a deployment uses, from sfctl.yaml or, without one, the spec's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from sfctl.spec import ComposeSpec, DatabaseSpec, ImageSpec, RedisSpec, Spec


@dataclass(frozen=True, slots=True)
class ImageNames:
    gateway_repository: str
    redis: str | None  # None: an external Redis, no image to build
    database: str | None
    caddy: str


def image_names(spec: Spec | None) -> ImageNames:
    if spec is None:
        return ImageNames(
            gateway_repository=ImageSpec().repository,
            redis=RedisSpec().image,
            database=DatabaseSpec().image,
            caddy=ComposeSpec().caddy_image,
        )
    return ImageNames(
        gateway_repository=spec.image.repository,
        redis=spec.redis.image if spec.redis.mode == "bundled" else None,
        database=spec.database.image if spec.database.mode == "bundled" else None,
        caddy=spec.compose.caddy_image,
    )
