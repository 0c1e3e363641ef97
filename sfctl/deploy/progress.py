"""How long work reports its steps: one callback, so the library never imports the UI."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """`key` names a row (a phase, an image); `done` of `total` steps; `detail` what runs now.
    `sfctl.ui.LiveTasks.update` is one."""

    def __call__(self, key: str, *, done: float, total: float, detail: str) -> None: ...


def no_progress(key: str, *, done: float, total: float, detail: str) -> None:
    """For callers that show nothing (tests, JSON pipelines)."""
