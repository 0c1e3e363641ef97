"""How `sfctl ... k8s` shows a rollout while it runs: a live row per workload (available of
desired, and what it waits for, as `kubectl rollout status` words it), steps and notes as
lines. On a terminal that is not interactive rich prints only the final rows."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from types import TracebackType

from sfctl import ui
from sfctl.kube.rollout_status import WorkloadState


class ConsoleReporter:
    """A `sfctl.kube.flow.Reporter` on the terminal. Use as a context manager."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._live: ui.LiveTasks | None = None

    def __enter__(self) -> ConsoleReporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        self._stack.close()
        self._live = None

    def step(self, text: str) -> None:
        self._close()
        ui.info(ui.literal(text))

    def note(self, text: str) -> None:
        self._close()
        ui.warn(ui.literal(text))

    def log(self, lines: Sequence[str]) -> None:
        self._close()
        for line in lines:
            ui.plain(ui.literal(f"  | {line}"))

    def progress(self, states: Sequence[WorkloadState]) -> None:
        if self._live is None:
            self._live = self._stack.enter_context(ui.live_tasks())
        for state in states:
            self._live.update(
                f"{state.kind.lower()}/{state.name}",
                done=state.available,
                total=max(state.desired, 1),
                detail=_short(state),
            )


def _short(state: WorkloadState) -> str:
    """The counts the issue asks for, then kubectl's sentence cut to fit beside the bar."""
    counts = f"upd {state.updated} rdy {state.ready}"
    return f"{counts} {state.phase.value.lower()}"
