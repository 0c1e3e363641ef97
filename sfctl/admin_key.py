"""Which admin key a local gateway uses: one rule, for `sfctl up` (the key it gives the gateway)
and `sfctl keys` (the key it sends), so the two cannot disagree.

An exported ADMIN_API_KEY is the key (as after sourcing a deployment's `.env`); it is never
written to disk. Otherwise the key file `admin_api_key` in the data directory, which the first
`sfctl up` creates (mode 0600) and later ones keep, so clients keep working across restarts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sfctl.errors import SfctlError

KEY_FILE = "admin_api_key"


@dataclass(frozen=True, slots=True)
class AdminKey:
    value: str
    file: Path | None  # None: the key is $ADMIN_API_KEY
    created: bool = False


def find_admin_key(exported: str | None, data_dir: Path) -> AdminKey | None:
    """The rule: $ADMIN_API_KEY (`exported`), else the key file; None when there is neither."""
    if exported:
        return AdminKey(exported, None)
    path = data_dir / KEY_FILE
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SfctlError(f"cannot read the admin key file {path}: {exc.strerror}") from None
    return AdminKey(value, path) if value else None


def ensure_admin_key(exported: str | None, data_dir: Path) -> AdminKey:
    """The key `sfctl up` gives the gateway: the rule's, else a new key file (mode 0600)."""
    found = find_admin_key(exported, data_dir)
    if found is not None:
        return found
    path = data_dir / KEY_FILE
    if path.exists():
        raise SfctlError(f"the admin key file {path} is empty: remove it to have a new key made")
    return AdminKey(_create(path), path, created=True)


def _create(path: Path) -> str:
    key = "sf-admin-" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key
