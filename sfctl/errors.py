"""sfctl's one error root; `sfctl.main.run` maps it to one line on stderr and an exit code."""

from __future__ import annotations


class SfctlError(Exception):
    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(SfctlError):
    exit_code = 2
