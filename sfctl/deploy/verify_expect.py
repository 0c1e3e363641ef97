"""What `sfctl verify` expects when no option says: the release the deployment's history says
runs now (its images by id, and the build its gateway services were recorded with), else what
this checkout would build (`sfctl build`'s rules, dirty suffix included). The recorded release
comes first because after a rollback the checkout is not what should run. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC

from sfctl.deploy.history import Record, current_release
from sfctl.deploy.verify import Expected, ExpectedImage, expectation

#: nothing is checked but what the options add
NOTHING = Expected(version=None, label_version=None, commit=None, source="the options")


@dataclass(frozen=True, slots=True)
class Expectation:
    build: Expected
    images: dict[str, ExpectedImage] = field(default_factory=dict)  # service -> its image


def from_options(
    version: str | None, commit: str | None, features: Sequence[str]
) -> Expectation | None:
    """--expect-version / --expect-commit replace every default; None when neither is given."""
    if version is None and commit is None:
        return None
    return Expectation(expectation(NOTHING, version=version, commit=commit, features=features))


def from_release(record: Record, features: Sequence[str]) -> Expectation:
    """The release `record` deployed: each service's image, and the gateway's build (the first
    service recorded with a version and a commit: sfctl deploys one gateway build at a time)."""
    gateway = next((s for s in record.after if s.version and s.commit), None)
    build = NOTHING
    if gateway is not None:
        build = expectation(NOTHING, version=gateway.version, commit=gateway.commit)
    when = f"{record.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    images = {s.service: ExpectedImage(image_id=s.image_id, digest=s.digest) for s in record.after}
    source = f"the last {record.action.value} ({when})"
    return Expectation(replace(build, features=tuple(features), source=source), images)


def default_expectation(
    records: Sequence[Record], checkout: Expected | None, features: Sequence[str]
) -> Expectation | None:
    """The recorded release, else the checkout's build; None when there is neither."""
    release = current_release(records)
    if release is not None and release.after:
        return from_release(release, features)
    if checkout is None:
        return None
    return Expectation(replace(checkout, features=tuple(features)))
