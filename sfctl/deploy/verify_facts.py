"""Verify's facts from what the engine says: a container's and its image's inspect JSON (as
`docker container inspect` / `docker image inspect` print them; python-on-whales' models drop
the containerd store's descriptors, so read the raw JSON), and the answer of
`smartflow-gateway --version --json` run inside. Pure; a Kubernetes pod's exec answers the same
way and goes through `parse_answer` too. `checkout_expected` reads git for the default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfctl import __version__
from sfctl.deploy.source import read_source_state
from sfctl.deploy.verify import (
    ContainerFacts,
    ExecFailure,
    Expected,
    ImageStore,
    RunningImage,
    VersionAnswer,
    expected_build,
)

#: what verify runs in each gateway container
VERSION_COMMAND = ("smartflow-gateway", "--version", "--json")
COMPOSE_SERVICE = "com.docker.compose.service"


def running_image(
    container: Mapping[str, Any], image: Mapping[str, Any] | None, store: ImageStore
) -> RunningImage:
    """`image` None: the image is gone from the engine (removed while the container ran), so
    the labels come from the container's, which Docker merges from the image's."""
    config = container.get("Config") or {}
    descriptor = (image or {}).get("Descriptor") or {}
    platform = container.get("ImageManifestDescriptor") or {}
    labels = ((image or {}).get("Config") or {}).get("Labels") or config.get("Labels") or {}
    return RunningImage(
        reference=str(config.get("Image") or ""),
        id=str(container.get("Image") or ""),
        store=store,
        repo_digests=tuple(str(d) for d in (image or {}).get("RepoDigests") or ()),
        descriptor=descriptor.get("digest"),
        platform_manifest=platform.get("digest"),
        labels={str(k): str(v) for k, v in labels.items()},
    )


def container_facts(
    container: Mapping[str, Any],
    image: Mapping[str, Any] | None,
    store: ImageStore,
    answer: VersionAnswer | ExecFailure | None,
) -> ContainerFacts:
    """`answer` None for a container that is not a gateway (Redis, PostgreSQL, Caddy)."""
    state = container.get("State") or {}
    labels = (container.get("Config") or {}).get("Labels") or {}
    name = str(container.get("Name") or container.get("Id", "")[:12]).lstrip("/")
    status = str(state.get("Status") or ("running" if state.get("Running") else "unknown"))
    return ContainerFacts(
        name=name,
        service=str(labels.get(COMPOSE_SERVICE) or name),
        state=status,
        image=running_image(container, image, store),
        answer=answer,
        exit_code=None if status == "running" else state.get("ExitCode"),
    )


def parse_answer(exit_code: int, stdout: str, stderr: str) -> VersionAnswer | ExecFailure:
    """What `smartflow-gateway --version --json` run in a container said, or why it said
    nothing useful. `exit_code` is the exec's (or the engine's, when exec itself failed)."""
    if exit_code != 0:
        text = f"{stderr}\n{stdout}"
        if "unrecognized arguments: --json" in text:
            return ExecFailure("an older build: it has no `--version --json`")
        if exit_code in (126, 127) or "executable file not found" in text:
            return ExecFailure("no smartflow-gateway in the image (not a gateway build?)")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return ExecFailure(f"exec failed ({lines[0] if lines else f'exit {exit_code}'})")
    try:
        raw = json.loads(stdout)
        features = raw.get("features") or []
        return VersionAnswer(
            version=_text(raw, "version"),
            git_commit=_text(raw, "git_commit"),
            build_time=raw.get("build_time"),
            service=raw.get("service"),
            features=tuple(str(f) for f in features),
        )
    except (ValueError, AttributeError, TypeError, KeyError):
        first = stdout.strip().splitlines()[0][:60] if stdout.strip() else "nothing"
        return ExecFailure(f"an older build? `--version --json` answered {first!r}")


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not text")
    return value


def checkout_expected(root: Path) -> Expected:
    """The default expectation: what `sfctl build` would build from the checkout at `root`
    (`sfctl.deploy.image.find_source_root`), with sfctl's package version."""
    return expected_build(__version__, read_source_state(root))
