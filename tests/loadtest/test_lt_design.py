"""The order of the arms within a level (A-B-B-A or sequential), over real loopback HTTP.

A recording server answers both arms (told apart by their keys) and logs every request it
gets, so the tests check the order the blocks really ran in and what each arm really sent.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web

from loadtest.runner import (
    Arm,
    BenchConfig,
    LevelRun,
    Progress,
    RunSettings,
    block_plan,
    run_benchmark,
)
from loadtest.schedule import constant
from loadtest.stats import arm_stats, level_stats
from loadtest.workload import WorkloadSpec, build
from mockllm.server import MockBehaviour, start_server

from support.chat_server import COMPLETION, serve_chat

GATEWAY = Arm("smartflow", "", "sk-gateway")
DIRECT = Arm("direct", "", "sk-direct")


@dataclass
class Recorder:
    url: str = ""
    log: list[tuple[str, str]] = field(default_factory=list)  # (key, prompt), arrival order

    def prompts(self, key: str) -> list[str]:
        return [prompt for k, prompt in self.log if k == key]


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()

    async def handler(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        key = request.headers["Authorization"].removeprefix("Bearer ")
        rec.log.append((key, body["messages"][0]["content"]))
        return web.json_response(
            COMPLETION, headers={"x-smartflow-cache": "miss"} if key == GATEWAY.api_key else {}
        )

    async with serve_chat(handler) as url:
        rec.url = url
        yield rec


def _config(url: str, arms: tuple[Arm, ...], **extra: object) -> BenchConfig:
    return BenchConfig(
        arms=tuple(Arm(a.name, url, a.api_key) for a in arms),
        rps=(80,),
        duration_s=1.0,
        workload=WorkloadSpec(mode="miss"),
        seed=11,
        settings=RunSettings(warmup=3, grace_s=2.0),
        **extra,  # type: ignore[arg-type]
    )


def _level_prompts(n: int, seed: int) -> list[str]:
    """The prompts of the first level, in order (what every arm must send)."""
    bodies = build(WorkloadSpec(mode="miss"), n, seed)
    return [orjson.loads(r.body)["messages"][0]["content"] for r in bodies]


def _blocks_seen(rec: Recorder, level: list[str]) -> list[tuple[str, int]]:
    """(key, half of the level) of each run of measured requests, in arrival order."""
    where = {prompt: i for i, prompt in enumerate(level)}
    half = len(level) // 2
    seen = [(key, where[p] >= half) for key, p in rec.log if p in where]
    return [(key, int(second)) for (key, second), _ in itertools.groupby(seen)]


def test_block_plans() -> None:
    assert block_plan(2, "abba") == [(0, 0), (1, 0), (1, 1), (0, 1)]
    assert block_plan(3, "abba") == [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)]
    assert block_plan(1, "abba") == [(0, 0)]  # nothing to interleave with
    assert block_plan(2, "sequential") == [(0, 0), (1, 0)]
    with pytest.raises(ValueError, match="design"):
        block_plan(2, "latin")  # type: ignore[arg-type]


async def test_abba_interleaves_the_halves_and_merges_them(recorder: Recorder) -> None:
    seen: list[Progress] = []
    config = _config(recorder.url, (GATEWAY, DIRECT))
    [runs] = await run_benchmark(config, seen.append)
    level = _level_prompts(80, config.seed)

    assert _blocks_seen(recorder, level) == [
        (GATEWAY.api_key, 0),
        (DIRECT.api_key, 0),
        (DIRECT.api_key, 1),
        (GATEWAY.api_key, 1),
    ]
    measured = set(level)
    for arm in (GATEWAY, DIRECT):  # the identical sequence, each prompt once, in order
        assert [p for p in recorder.prompts(arm.api_key) if p in measured] == level
    warmups = [p for _, p in recorder.log if p not in measured]
    assert len(warmups) == 2 * 2 * 3  # per arm, each half warms up on prompts of its own
    assert len(set(warmups)) == 2 * 3

    gateway, direct = runs
    assert [(b.position, b.slice, b.first, b.count) for b in gateway.blocks] == [
        (0, 0, 0, 40),
        (3, 1, 40, 40),
    ]
    assert [(b.position, b.slice) for b in direct.blocks] == [(1, 0), (2, 1)]
    _assert_merged(gateway)
    _assert_merged(direct)
    stats = level_stats(runs, seed=1)
    for name in ("smartflow", "direct"):
        got = stats.arms[name]
        assert got.n_scheduled == 80 and got.success_rate == 1.0
        assert got.latency is not None and got.latency.n == 80
    assert stats.arms["smartflow"].cache == {"miss": 80}
    assert stats.overhead is not None
    assert stats.overhead.n_gateway == stats.overhead.n_direct == 80

    # the live display counts each arm over the whole level, never backwards
    for name in ("smartflow", "direct"):
        mine = [p for p in seen if p.arm == name]
        assert {p.scheduled for p in mine} == {80}
        done = [p.completed for p in mine]
        assert done == sorted(done) and done[-1] == 80


def _assert_merged(run: LevelRun) -> None:
    """One level's frame: the level's own schedule, and every time moved with its sample."""
    offsets = constant(80, 1.0)
    assert [s.index for s in run.samples] == list(range(80))
    assert [s.intended for s in run.samples] == pytest.approx(offsets)
    for s in run.samples:
        assert s.ok and s.sent is not None and s.headers is not None and s.end is not None
        assert s.intended - 1e-3 <= s.sent <= s.headers <= s.end
        assert s.latency is not None and 0 < s.latency < 1.0  # not a block's frame
    assert all(s.sent is not None and s.sent >= 0.5 for s in run.samples[40:])


async def test_sequential_runs_each_arm_over_the_whole_level(recorder: Recorder) -> None:
    config = _config(recorder.url, (GATEWAY, DIRECT), design="sequential")
    [runs] = await run_benchmark(config)
    level = _level_prompts(80, config.seed)
    assert _blocks_seen(recorder, level) == [
        (GATEWAY.api_key, 0),
        (GATEWAY.api_key, 1),
        (DIRECT.api_key, 0),
        (DIRECT.api_key, 1),
    ]  # one block per arm: the halves follow each other
    assert [[(b.position, b.count) for b in r.blocks] for r in runs] == [[(0, 80)], [(1, 80)]]
    _assert_merged(runs[0])
    _assert_merged(runs[1])


async def test_smartflow_only_is_one_block(recorder: Recorder) -> None:
    [[run]] = await run_benchmark(_config(recorder.url, (GATEWAY,)))
    level = _level_prompts(80, 11)
    assert [p for p in recorder.prompts(GATEWAY.api_key) if p in set(level)] == level
    assert [(b.position, b.slice, b.first, b.count) for b in run.blocks] == [(0, 0, 0, 80)]
    assert len(recorder.log) == 80 + 3  # one warm-up
    _assert_merged(run)


async def test_abba_streams_keep_their_token_times_in_the_level_frame() -> None:
    async with await start_server(MockBehaviour(tokens_per_second=2000)) as mock:
        config = BenchConfig(
            arms=(Arm("smartflow", mock.url, "k1"), Arm("direct", mock.url, "k2")),
            rps=(40,),
            duration_s=1.0,
            workload=WorkloadSpec(mode="miss", max_tokens=4, stream=True),
            settings=RunSettings(warmup=1),
        )
        [runs] = await run_benchmark(config)
    for run in runs:
        stats = arm_stats(run)
        assert stats.errors == {"2xx": 40}
        assert stats.ttft is not None and stats.ttft.n == 40
        for s in run.samples:
            assert s.sent is not None and s.first_token is not None and s.end is not None
            assert s.sent <= s.first_token <= s.token_times[-1] <= s.end
            assert s.first_token - s.intended < 1.0
