"""What identifies a build, and what follows from it: the image tag, the OCI labels, and the build
arguments the Dockerfile turns into labels and SMARTFLOW_* variables.

Pure: git, the clock and the gateway's answers are read elsewhere and passed in, so `verify` can
recompute the expected build of a checkout with the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sfctl.errors import UsageError

#: a Docker tag: 1 to 128 of [A-Za-z0-9_.-], not starting with . or -
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: [registry[:port]/]path, path components lowercase (the distribution reference grammar)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")
COMMIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
#: what a dirty checkout's version carries (Kamal's convention); `_` because tags forbid `+`
UNCOMMITTED = "_uncommitted_"
DIRTY = "-dirty"  # on the commit, as `git describe --dirty` marks it
UNKNOWN = "unknown"

TITLE = "smartflow-gateway"
OCI = "org.opencontainers.image"
#: the labels verify, status and the deploy history read back
VERSION_LABEL = f"{OCI}.version"
REVISION_LABEL = f"{OCI}.revision"
FEATURES_LABEL = "io.smartflow.features"


@dataclass(frozen=True, slots=True)
class SourceState:
    """What git says about the checkout; `commit` None when it is not a git checkout."""

    commit: str | None
    dirty_hash: str | None  # a digest of the uncommitted changes, None when clean
    remote: str | None = None


@dataclass(frozen=True, slots=True)
class BuildInfo:
    version: str  # the package version: what the gateway's /version reports
    commit: str  # the commit, `<commit>-dirty` with uncommitted changes, or "unknown"
    dirty_hash: str | None
    created: str  # RFC 3339 in UTC
    source: str  # the repository's URL, or "unknown"

    @property
    def dirty(self) -> bool:
        return self.dirty_hash is not None

    @property
    def build_version(self) -> str:
        """The version as tags and labels carry it: a dirty checkout's says so."""
        suffix = f"{UNCOMMITTED}{self.dirty_hash}" if self.dirty_hash else ""
        return tag_safe(f"{self.version}{suffix}")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_info(
    version: str, state: SourceState, now: datetime, *, commit: str | None = None
) -> BuildInfo:
    """`commit` overrides git's answer (a tarball build in CI knows its commit); uncommitted
    changes mark it either way."""
    if commit is not None and not COMMIT.fullmatch(commit):
        raise UsageError(f"--commit {commit!r}: use the commit id (letters, digits, . _ + -)")
    base = commit or state.commit or UNKNOWN
    return BuildInfo(
        version=version,
        commit=f"{base}{DIRTY}" if state.dirty_hash else base,
        dirty_hash=state.dirty_hash,
        created=rfc3339(now),
        source=state.remote or UNKNOWN,
    )


def tag_safe(text: str) -> str:
    """`text` (a version, say 1.2.0+local) as a valid tag: other characters become `_`."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:128]
    return cleaned if TAG.fullmatch(cleaned) else f"v{cleaned}"[:128]


def split_reference(reference: str) -> tuple[str, str | None]:
    """`repo[:tag]` into its repository and tag; a registry's port is not a tag."""
    if "@" in reference:
        raise UsageError(f"{reference!r}: name a tag, not a digest (a digest comes from a push)")
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, None


def image_reference(option: str | None, repository: str, default_tag: str) -> str:
    """The reference to tag: `option` is a bare tag (the spec's repository), a full reference,
    or None (the spec's repository and `default_tag`)."""
    if option is None:
        repo, tag = repository, default_tag
    elif "/" not in option and ":" not in option:
        repo, tag = repository, option
    else:
        repo, given = split_reference(option)
        tag = given or default_tag
    if not TAG.fullmatch(tag):
        raise UsageError(
            f"tag {tag!r}: a Docker tag is 1 to 128 of A-Z a-z 0-9 _ . - "
            "and does not start with . or -"
        )
    if not REPOSITORY.fullmatch(repo):
        raise UsageError(
            f"repository {repo!r}: use lowercase letters, digits and . _ - separated by /, "
            "e.g. registry.example.com:5000/smartflow/gateway"
        )
    return f"{repo}:{tag}"


def image_labels(info: BuildInfo, features: Sequence[str]) -> dict[str, str]:
    """The labels `verify` reads back: the OCI set plus the gateway's features."""
    return {
        f"{OCI}.title": TITLE,
        VERSION_LABEL: info.build_version,
        REVISION_LABEL: info.commit,
        f"{OCI}.created": info.created,
        f"{OCI}.source": info.source,
        FEATURES_LABEL: ",".join(features),
    }


def build_args(info: BuildInfo, features: Sequence[str], base_image: str) -> dict[str, str]:
    """Dockerfile.runtime's ARGs: it sets the labels above and SMARTFLOW_GIT_COMMIT and
    SMARTFLOW_BUILD_TIME from them, so a plain `docker build` gets the same (unknown) set."""
    return {
        "BASE_IMAGE": base_image,
        "VERSION": info.build_version,
        "REVISION": info.commit,
        "CREATED": info.created,
        "SOURCE": info.source,
        "FEATURES": ",".join(features),
    }
