"""Every doctor check, gathered from the modules of this package (one module per area)."""

from __future__ import annotations

import importlib
import pkgutil

from sfctl.doctor.model import Check

__all__ = ["all_checks"]


def all_checks() -> dict[str, Check]:
    """Checks by id, in a stable order; a duplicated id is a bug and fails loudly."""
    found: dict[str, Check] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Check):
                if value.id in found and found[value.id] is not value:
                    raise RuntimeError(f"check {value.id!r} declared twice")
                found[value.id] = value
    return found
