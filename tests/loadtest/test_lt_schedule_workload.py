"""Arrival schedules and request sequences are pure and reproducible from the seed."""

from __future__ import annotations

import itertools
import random

import orjson
import pytest

from loadtest.schedule import arrivals, constant, poisson
from loadtest.workload import ANCHOR_PROMPT, WorkloadSpec, build, unique_prompt


def _prompt(body: bytes) -> str:
    content = orjson.loads(body)["messages"][0]["content"]
    assert isinstance(content, str)
    return content


def test_constant_is_evenly_spaced_from_zero() -> None:
    offsets = constant(200, 3)
    assert len(offsets) == 600
    assert offsets[0] == 0.0
    assert offsets[1] == pytest.approx(0.005)
    assert offsets[-1] == pytest.approx(599 / 200)


def test_poisson_is_seeded_bounded_and_has_the_right_mean_rate() -> None:
    a = poisson(100, 20, random.Random(3))
    assert a == poisson(100, 20, random.Random(3))
    assert a != poisson(100, 20, random.Random(4))
    assert a == sorted(a) and a[0] == 0.0 and a[-1] < 20
    assert len(a) == pytest.approx(2000, rel=0.1)  # 2000 +- 4.5 sigma
    assert arrivals("poisson", 100, 20, 3) == a


def test_bad_schedule_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        constant(0, 1)
    with pytest.raises(ValueError):
        constant(10, float("nan"))
    with pytest.raises(ValueError):
        arrivals("burst", 10, 1, 0)  # type: ignore[arg-type]


def test_same_seed_same_sequence_other_seed_other_prompts() -> None:
    spec = WorkloadSpec(mode="mixed", model="gpt-4o-mini", max_tokens=10)
    assert build(spec, 200, 5) == build(spec, 200, 5)
    assert build(spec, 200, 5) != build(spec, 200, 6)


def test_mixed_is_half_the_anchor_prompt_and_half_unique() -> None:
    requests = build(WorkloadSpec(mode="mixed"), 1000, 11)
    repeated = [r for r in requests if r.repeated]
    assert len(repeated) == 500
    assert {_prompt(r.body) for r in repeated} == {ANCHOR_PROMPT}
    unique = [_prompt(r.body) for r in requests if not r.repeated]
    assert len(set(unique)) == 500 and ANCHOR_PROMPT not in unique


def test_miss_prompts_are_distinct_and_differ_first() -> None:
    requests = build(WorkloadSpec(mode="miss"), 5000, 2)
    prompts = [_prompt(r.body) for r in requests]
    assert not any(r.repeated for r in requests)
    assert len(set(prompts)) == 5000
    # the distinguishing part comes first: the subject before the colon changes between neighbours
    subjects = [p.split(":")[0] for p in prompts]
    assert all(a != b for a, b in itertools.pairwise(subjects))
    assert len(set(subjects)) == 64


def test_levels_with_disjoint_index_ranges_never_share_a_prompt() -> None:
    spec = WorkloadSpec(mode="miss")
    first = {_prompt(r.body) for r in build(spec, 3000, 9, first_index=0)}
    second = {_prompt(r.body) for r in build(spec, 3000, 9, first_index=3000)}
    assert not first & second
    assert unique_prompt(3000, 9) in second


def test_bodies_are_openai_chat_requests() -> None:
    [plain] = build(WorkloadSpec(mode="miss", model="m1", max_tokens=7), 1, 0)
    body = orjson.loads(plain.body)
    assert body["model"] == "m1" and body["max_tokens"] == 7 and "stream" not in body
    assert body["messages"][0]["role"] == "user"
    [streamed] = build(WorkloadSpec(mode="miss", stream=True), 1, 0)
    body = orjson.loads(streamed.body)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
