"""What git says about the source being built: the commit, whether anything is uncommitted (and
a digest of exactly what), and where the repository lives.

The digest covers the diff against HEAD and the untracked files git does not ignore, so the same
working tree always gets the same dirty version, and `verify` can tell whether a running dirty
build is this tree or an older one. Only what goes into the image counts (BUILD_INPUTS): a
deployment folder made inside the checkout (`sfctl init local`, its `.env`) is not a change
to the build, and its secrets are never read.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from sfctl.deploy.buildinfo import SourceState

DIGEST_CHARS = 12
#: what the runtime image is built from: the packages (the wheel), the project's metadata and
#: locks, the templates it ships, and the image's own files; git pathspecs
BUILD_INPUTS: tuple[str, ...] = (
    "gateway",
    "sfctl",
    "loadtest",
    "mockllm",
    "templates",
    "requirements",
    "pyproject.toml",
    "README.md",
    "Dockerfile.runtime",
    ".dockerignore",
)
_CREDENTIALS = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


def _git(root: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(  # noqa: S603 (git with our arguments)
            ["git", "-C", str(root), *args],  # noqa: S607 (git from PATH, as users run it)
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def public_url(url: str) -> str:
    """A remote URL without the user and token some clones carry in it."""
    return _CREDENTIALS.sub(r"\1", url.strip())


def dirty_digest(diff: bytes, untracked: dict[str, bytes]) -> str | None:
    """None when there is nothing uncommitted; otherwise a short digest of the changes."""
    if not diff and not untracked:
        return None
    digest = hashlib.sha256(diff)
    for name in sorted(untracked):
        digest.update(b"\0" + name.encode() + b"\0" + untracked[name])
    return digest.hexdigest()[:DIGEST_CHARS]


def read_source_state(root: Path) -> SourceState:
    """Git's view of `root`; a tree that is not a git checkout has no commit and no digest."""
    head = _git(root, "rev-parse", "--verify", "HEAD")
    if head is None:
        return SourceState(commit=None, dirty_hash=None)
    only = ("--", *BUILD_INPUTS)
    diff = _git(root, "diff", "HEAD", "--binary", "--no-ext-diff", "--no-textconv", *only) or b""
    listing = _git(root, "ls-files", "--others", "--exclude-standard", "-z", *only) or b""
    untracked: dict[str, bytes] = {}
    for raw in listing.split(b"\0"):
        if raw:
            path = root / raw.decode()
            untracked[raw.decode()] = path.read_bytes() if path.is_file() else b""
    remote = _git(root, "config", "--get", "remote.origin.url")
    return SourceState(
        commit=head.decode().strip(),
        dirty_hash=dirty_digest(diff, untracked),
        remote=public_url(remote.decode()) if remote else None,
    )
