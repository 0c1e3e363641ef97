"""The open-loop load generator: one level against one arm, every request at its intended time.

Each request is its own task, launched when the loop reaches its absolute intended time
(start + offset), whatever the earlier requests are doing. The client session has no connection
limit (a limit would queue requests inside the client, out of sight of the send-lag measurement)
and keeps connections alive. Times are `time.perf_counter()` seconds (uvloop's `loop.time()`
ticks in whole milliseconds), held in samples relative to the level's start; waits are relative
sleeps to the next absolute intended time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import orjson

from loadtest.schedule import Arrival, arrivals
from loadtest.workload import Request, WorkloadSpec, anchor, build

__all__ = [
    "Arm",
    "BenchConfig",
    "ErrorClass",
    "LevelRun",
    "Progress",
    "RunSettings",
    "Sample",
    "chat_url",
    "new_session",
    "run_benchmark",
    "run_level",
]

ErrorClass = Literal["2xx", "4xx", "5xx", "429", "timeout", "connection_reset", "incomplete_stream"]

_START_LEAD_S = 0.02  # time to create the first tasks before the first intended send
_PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class Arm:
    """One side of the comparison: `smartflow` (through the gateway) or `direct`."""

    name: str
    base_url: str
    api_key: str


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
    def latency(self) -> float | None:
        """From the intended send time: what a user arriving on schedule waited."""
        return None if self.end is None else self.end - self.intended

    @property
    def service(self) -> float | None:
        """From the actual send: what the server (and network) took."""
        return None if self.end is None or self.sent is None else self.end - self.sent

    @property
    def send_lag(self) -> float | None:
        return None if self.sent is None else self.sent - self.intended


@dataclass(frozen=True)
class LevelRun:
    arm: str
    target_rps: float
    duration_s: float
    samples: list[Sample]
    started_at: float  # wall clock (epoch seconds) of the level's start
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


def chat_url(base_url: str) -> str:
    """The chat completions URL under a base that may or may not end in /v1."""
    base = base_url.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def new_session() -> aiohttp.ClientSession:
    """The session both arms use, made the same way: no connection cap, keep-alive, no cookies."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60.0)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
    )


class _Sender:
    def __init__(self, session: aiohttp.ClientSession, arm: Arm, settings: RunSettings) -> None:
        self._session = session
        self._url = chat_url(arm.base_url)
        self._headers = {
            "Authorization": f"Bearer {arm.api_key}",
            "Content-Type": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout_s)

    async def send(self, request: Request, sample: Sample, t0: float) -> None:
        """Send, then fill `sample` in place (so that a cancelled request keeps what it had)."""
        now = time.perf_counter
        sample.sent = now() - t0
        try:
            async with self._session.post(
                self._url, data=request.body, headers=self._headers, timeout=self._timeout
            ) as resp:
                sample.headers = now() - t0
                sample.status = resp.status
                sample.cache = resp.headers.get("x-smartflow-cache")
                sample.overhead_ms = _number(resp.headers.get("x-smartflow-overhead-ms"))
                streaming = resp.content_type == "text/event-stream"
                if streaming and resp.status < 300:
                    complete = await self._read_stream(resp, sample, t0)
                else:
                    await resp.read()
                    complete = True
                sample.end = now() - t0
                sample.error = _status_class(resp.status) if complete else "incomplete_stream"
        except TimeoutError:
            sample.error = "timeout"
        except aiohttp.ClientPayloadError:
            sample.error = "incomplete_stream" if sample.status is not None else "connection_reset"
        except (aiohttp.ClientError, OSError):
            sample.error = "connection_reset"

    async def _read_stream(self, resp: aiohttp.ClientResponse, sample: Sample, t0: float) -> bool:
        """Read SSE frames; token times are frames that carry content. True when [DONE] came."""
        done = False
        async for raw in resp.content:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                continue
            if _has_content(data):
                t = time.perf_counter() - t0
                if sample.first_token is None:
                    sample.first_token = t
                sample.token_times.append(t)
        return done


def _has_content(data: bytes) -> bool:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(chunk, dict):
        return False
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and delta.get("content"):
            return True
    return False


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _status_class(status: int) -> ErrorClass:
    if status == 429:
        return "429"
    if status < 300:
        return "2xx"
    return "4xx" if status < 500 else "5xx"


async def _warm_up(
    sender: _Sender, prewarm: Sequence[Request], warmup: Sequence[Request], batch: int = 16
) -> None:
    """Unmeasured: the pre-warm requests one by one (the cache must hold them before the run),
    then the warm-up requests in concurrent batches (which also open pooled connections)."""
    for request in prewarm:
        await sender.send(request, Sample(-1, request.repeated, 0.0), 0.0)
    for start in range(0, len(warmup), batch):
        chunk = warmup[start : start + batch]
        await asyncio.gather(*(sender.send(r, Sample(-1, r.repeated, 0.0), 0.0) for r in chunk))


async def run_level(
    session: aiohttp.ClientSession,
    arm: Arm,
    requests: Sequence[Request],
    offsets: Sequence[float],
    *,
    target_rps: float,
    duration_s: float,
    settings: RunSettings = RunSettings(),
    prewarm: Sequence[Request] = (),
    warmup: Sequence[Request] = (),
    on_progress: Callable[[Progress], None] | None = None,
) -> LevelRun:
    """Warm up, then send requests[i] at start + offsets[i]; wait out the grace period."""
    if len(requests) != len(offsets):
        raise ValueError("one offset per request")
    loop = asyncio.get_running_loop()
    now = time.perf_counter
    sender = _Sender(session, arm, settings)
    await _warm_up(sender, prewarm, warmup)
    pairs = enumerate(zip(requests, offsets, strict=True))
    samples = [Sample(i, r.repeated, off) for i, (r, off) in pairs]
    tasks: set[asyncio.Task[None]] = set()
    started_at = time.time()
    t0 = now() + _START_LEAD_S
    next_progress = t0
    for request, sample in zip(requests, samples, strict=True):
        target = t0 + sample.intended
        delay = target - now()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(sender.send(request, sample, t0))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if on_progress is not None and now() >= next_progress:
            next_progress += _PROGRESS_EVERY_S
            on_progress(_progress(arm, target_rps, now() - t0, samples, len(tasks)))
    deadline = max(now(), t0 + (offsets[-1] if offsets else 0.0)) + settings.grace_s
    while tasks and now() < deadline:
        await asyncio.wait(set(tasks), timeout=min(_PROGRESS_EVERY_S, deadline - now()))
        if on_progress is not None:
            on_progress(_progress(arm, target_rps, now() - t0, samples, len(tasks)))
    for task in list(tasks):
        task.cancel()
    for task in list(tasks):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for sample in samples:
        if sample.error is None:  # cancelled at the end of the grace period
            sample.error = "timeout"
            sample.end = None
    return LevelRun(arm.name, target_rps, duration_s, samples, started_at, now() - t0)


def _progress(
    arm: Arm, target_rps: float, elapsed: float, samples: Sequence[Sample], in_flight: int
) -> Progress:
    sent = sum(1 for s in samples if s.sent is not None)
    done = [s for s in samples if s.error is not None]
    return Progress(
        arm=arm.name,
        target_rps=target_rps,
        elapsed_s=elapsed,
        scheduled=len(samples),
        sent=sent,
        completed=len(done),
        in_flight=in_flight,
        errors=sum(1 for s in done if not s.ok),
    )


@dataclass(frozen=True)
class BenchConfig:
    """A whole comparison: every level runs on each arm in turn (gateway first, as in the seed)."""

    arms: tuple[Arm, ...]
    rps: tuple[float, ...]
    duration_s: float
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    arrival: Arrival = "constant"
    seed: int = 0
    settings: RunSettings = field(default_factory=RunSettings)


async def run_benchmark(
    config: BenchConfig, on_progress: Callable[[Progress], None] | None = None
) -> list[list[LevelRun]]:
    """One list of LevelRuns (one per arm, in config.arms order) per level.

    Every arm of a level gets the identical request sequence and arrival offsets, and a fresh
    session made the same way. Unique prompts never repeat across levels or warm-ups.
    """
    cursor = 0
    results: list[list[LevelRun]] = []
    for level, rps in enumerate(config.rps):
        level_seed = config.seed * 1_000_003 + level
        offsets = arrivals(config.arrival, rps, config.duration_s, level_seed)
        requests = build(config.workload, len(offsets), config.seed, cursor)
        cursor += len(offsets)
        warm_spec = WorkloadSpec(
            "miss", config.workload.model, config.workload.max_tokens, config.workload.stream
        )
        warmup = build(warm_spec, config.settings.warmup, config.seed, cursor)
        cursor += len(warmup)
        prewarm = [anchor(config.workload)] if config.workload.mode == "mixed" else []
        runs: list[LevelRun] = []
        for arm in config.arms:
            async with new_session() as session:
                runs.append(
                    await run_level(
                        session,
                        arm,
                        requests,
                        offsets,
                        target_rps=rps,
                        duration_s=config.duration_s,
                        settings=config.settings,
                        prewarm=prewarm,
                        warmup=warmup,
                        on_progress=on_progress,
                    )
                )
        results.append(runs)
    return results
