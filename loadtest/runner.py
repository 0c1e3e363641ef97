"""The open-loop load generator: one level against one arm, every request at its intended time.

Each request is its own task, launched when the loop reaches its absolute intended time
(start + offset), whatever the earlier requests are doing. The client session has no connection
limit (a limit would queue requests inside the client, out of sight of the send-lag measurement)
and keeps connections alive. Times are `time.perf_counter()` seconds (uvloop's `loop.time()`
ticks in whole milliseconds), held in samples relative to the level's start; waits are relative
sleeps to the next absolute intended time.

`run_benchmark` runs every level on every arm in blocks (`block_plan`): by default A-B-B-A, each
arm on both halves of the level's schedule, then merges each arm's blocks into one LevelRun.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import orjson

from loadtest.samples import Arm, Block, ErrorClass, LevelRun, Progress, RunSettings, Sample
from loadtest.schedule import Arrival, arrivals
from loadtest.workload import Request, WorkloadSpec, anchor, build

__all__ = [  # the records are defined in loadtest.samples and exported here too
    "DESIGNS",
    "Arm",
    "BenchConfig",
    "Block",
    "Design",
    "ErrorClass",
    "LevelRun",
    "Progress",
    "RunSettings",
    "Sample",
    "block_plan",
    "chat_url",
    "new_session",
    "run_benchmark",
    "run_level",
]


_START_LEAD_S = 0.02  # time to create the first tasks before the first intended send
_PROGRESS_EVERY_S = 0.5
_DEFAULTS = RunSettings()


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
        except aiohttp.ClientConnectorError:
            sample.error = "connect_error"
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
    settings: RunSettings = _DEFAULTS,
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


Design = Literal["abba", "sequential"]
DESIGNS: tuple[Design, ...] = ("abba", "sequential")


@dataclass(frozen=True)
class BenchConfig:
    """A whole comparison: every level runs on each arm, in the order `design` says."""

    arms: tuple[Arm, ...]
    rps: tuple[float, ...]
    duration_s: float
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    arrival: Arrival = "constant"
    seed: int = 0
    settings: RunSettings = field(default_factory=RunSettings)
    design: Design = "abba"


def block_plan(n_arms: int, design: Design) -> list[tuple[int, int]]:
    """(arm index, slice of the level's schedule), in the order the blocks of one level run.

    `sequential` (the seed's way): each arm runs the whole level once, the gateway first.
    `abba`: the level's schedule is cut in two halves; the arms run the first half in order and
    the second in reverse (A B B A; A B C C B A), so that a slow drift of a shared machine
    weighs on every arm alike. One arm has nothing to interleave with: one block.
    """
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r} (abba or sequential)")
    forward = [(arm, 0) for arm in range(n_arms)]
    if design == "sequential" or n_arms < 2:
        return forward
    return forward + [(arm, 1) for arm in reversed(range(n_arms))]


def _slices(offsets: Sequence[float], duration_s: float, count: int) -> list[tuple[int, int]]:
    """[first, end) index ranges cutting the schedule into `count` equal stretches of time."""
    cuts = [0] + [bisect.bisect_left(offsets, duration_s * k / count) for k in range(1, count)]
    return list(itertools.pairwise([*cuts, len(offsets)]))


@dataclass
class _Tally:
    """What an arm's earlier blocks of a level did, so that its live display runs on."""

    scheduled: int
    elapsed_s: float = 0.0
    sent: int = 0
    completed: int = 0
    errors: int = 0

    def wrap(self, on_progress: Callable[[Progress], None] | None) -> Callable[[Progress], None]:
        def report(p: Progress) -> None:
            if on_progress is not None:
                on_progress(
                    dataclasses.replace(
                        p,
                        scheduled=self.scheduled,
                        elapsed_s=self.elapsed_s + p.elapsed_s,
                        sent=self.sent + p.sent,
                        completed=self.completed + p.completed,
                        errors=self.errors + p.errors,
                    )
                )

        return report

    def add(self, run: LevelRun) -> None:
        self.elapsed_s += run.elapsed_s
        self.sent += sum(1 for s in run.samples if s.sent is not None)
        self.completed += len(run.samples)
        self.errors += sum(1 for s in run.samples if not s.ok)


async def _run_blocks(
    config: BenchConfig,
    *,
    rps: float,
    offsets: Sequence[float],
    requests: Sequence[Request],
    warmups: Sequence[Sequence[Request]],
    on_progress: Callable[[Progress], None] | None,
) -> list[LevelRun]:
    """Every block of one level, in plan order; each arm's blocks merged into one LevelRun."""
    plan = block_plan(len(config.arms), config.design)
    slices = _slices(offsets, config.duration_s, 1 + max(s for _, s in plan))
    prewarm = [anchor(config.workload)] if config.workload.mode == "mixed" else []
    parts: dict[int, list[tuple[int, LevelRun]]] = {a: [] for a in range(len(config.arms))}
    tallies = {a: _Tally(len(requests)) for a in parts}
    for position, (a, k) in enumerate(plan):
        first, end = slices[k]
        if first == end:
            continue
        cut = offsets[first]
        async with new_session() as session:
            run = await run_level(
                session,
                config.arms[a],
                requests[first:end],
                [off - cut for off in offsets[first:end]],
                target_rps=rps,
                duration_s=(config.duration_s if k + 1 == len(slices) else offsets[end]) - cut,
                settings=config.settings,
                prewarm=prewarm,
                warmup=warmups[k],
                on_progress=tallies[a].wrap(on_progress),
            )
        tallies[a].add(run)
        for sample in run.samples:
            sample.shift(first, cut)
        block = Block(position, k, first, end - first, run.started_at, run.elapsed_s)
        parts[a].append((k, dataclasses.replace(run, blocks=(block,))))
    return [_merge(config, rps, sorted(parts[a], key=lambda p: p[0])) for a in parts]


def _merge(config: BenchConfig, rps: float, parts: Sequence[tuple[int, LevelRun]]) -> LevelRun:
    runs = [run for _, run in parts]
    return LevelRun(
        arm=runs[0].arm,
        target_rps=rps,
        duration_s=config.duration_s,
        samples=[s for run in runs for s in run.samples],
        started_at=min(run.started_at for run in runs),
        elapsed_s=sum(run.elapsed_s for run in runs),
        blocks=tuple(sorted((b for run in runs for b in run.blocks), key=lambda b: b.position)),
    )


async def run_benchmark(
    config: BenchConfig, on_progress: Callable[[Progress], None] | None = None
) -> list[list[LevelRun]]:
    """One list of LevelRuns (one per arm, in config.arms order) per level.

    Every arm of a level gets the identical request sequence and arrival offsets, block by
    block, and a fresh session made the same way for each block. Unique prompts never repeat
    across levels or warm-ups.
    """
    cursor = 0
    results: list[list[LevelRun]] = []
    n_slices = 1 + max((s for _, s in block_plan(len(config.arms), config.design)), default=0)
    warm_spec = WorkloadSpec(
        "miss", config.workload.model, config.workload.max_tokens, config.workload.stream
    )
    for level, rps in enumerate(config.rps):
        level_seed = config.seed * 1_000_003 + level
        offsets = arrivals(config.arrival, rps, config.duration_s, level_seed)
        requests = build(config.workload, len(offsets), config.seed, cursor)
        cursor += len(offsets)
        warmups = []
        for _ in range(n_slices):  # each slice warms up on prompts of its own
            warmups.append(build(warm_spec, config.settings.warmup, config.seed, cursor))
            cursor += config.settings.warmup
        results.append(
            await _run_blocks(
                config,
                rps=rps,
                offsets=offsets,
                requests=requests,
                warmups=warmups,
                on_progress=on_progress,
            )
        )
    return results
