"""What the generator records: the arms, the per-request samples and the runs of a level.

Times in a sample are `time.perf_counter()` seconds from the start of the level (of the block,
until `run_benchmark` moves the block's samples into the level's frame with `Sample.shift`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Arm", "Block", "ErrorClass", "LevelRun", "Progress", "RunSettings", "Sample"]

ErrorClass = Literal[
    "2xx", "4xx", "5xx", "429", "timeout", "connect_error", "connection_reset", "incomplete_stream"
]  # connect_error: no connection at all (refused, no route, DNS, TLS): a wrong URL, no network


@dataclass(frozen=True)
class Arm:
    """One side of the comparison: `smartflow` (through the gateway) or `direct`."""

    name: str
    base_url: str
    api_key: str = field(repr=False)  # a secret: never in a repr, a log or a report


@dataclass(frozen=True)
class RunSettings:
    request_timeout_s: float = 30.0
    grace_s: float = 5.0  # after the last arrival; requests still in flight then are timeouts
    warmup: int = 10  # unmeasured requests first (they also open connections)


@dataclass(slots=True)
class Sample:
    """One measured request. Times are seconds from the level's start; None when not reached."""

    index: int
    repeated: bool
    intended: float
    sent: float | None = None
    headers: float | None = None
    first_token: float | None = None
    end: float | None = None
    status: int | None = None
    error: ErrorClass | None = None
    cache: str | None = None  # x-smartflow-cache
    overhead_ms: float | None = None  # x-smartflow-overhead-ms
    token_times: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error == "2xx"

    @property
    def start(self) -> float:
        """When the user's wait began: the intended time, or the send when that came first
        (uvloop's millisecond timers can wake the sender up to 1 ms early; counting from the
        intended time would then shorten the latency below the service time)."""
        return self.intended if self.sent is None else min(self.intended, self.sent)

    @property
    def latency(self) -> float | None:
        """From the intended send time: what a user arriving on schedule waited."""
        return None if self.end is None else self.end - self.start

    @property
    def service(self) -> float | None:
        """From the actual send: what the server (and network) took."""
        return None if self.end is None or self.sent is None else self.end - self.sent

    @property
    def send_lag(self) -> float | None:
        return None if self.sent is None else self.sent - self.intended

    def shift(self, first: int, dt: float) -> None:
        """Move a block's sample into the level's frame: index + first, every time + dt."""
        self.index += first
        self.intended += dt
        if self.sent is not None:
            self.sent += dt
        if self.headers is not None:
            self.headers += dt
        if self.first_token is not None:
            self.first_token += dt
        if self.end is not None:
            self.end += dt
        self.token_times = [t + dt for t in self.token_times]


@dataclass(frozen=True)
class LevelRun:
    arm: str
    target_rps: float
    duration_s: float
    samples: list[Sample]
    started_at: float  # wall clock (epoch seconds) of the level's start
    elapsed_s: float
    blocks: tuple[Block, ...] = ()  # with run_benchmark: the blocks this arm ran, in time order


@dataclass(frozen=True)
class Block:
    """One stretch of a level run on one arm (see `block_plan`)."""

    position: int  # its place in the order the level's blocks ran, from 0
    slice: int  # which part of the level's schedule
    first: int  # index of its first request in the level's sequence
    count: int
    started_at: float  # wall clock (epoch seconds)
    elapsed_s: float


@dataclass(frozen=True)
class Progress:
    """What a live display shows, reported about twice a second."""

    arm: str
    target_rps: float
    elapsed_s: float
    scheduled: int
    sent: int
    completed: int
    in_flight: int
    errors: int
