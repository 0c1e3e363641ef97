"""The sliding-window and budget arithmetic (gateway/core/ratelimit.py), at explicit times."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core import ratelimit as rl

MIN = 60.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600  # a window boundary for every size


def at(now: float, size: float = MIN) -> float:
    """Seconds into the current window at `now`."""
    return rl.position(now, size)[1]


def later(counts: tuple[int, int], now: float, then: float, size: float) -> tuple[int, int]:
    """The (prev, cur) that stored counts become at a later time, with nothing new counted."""
    index = rl.window_index(now, size)
    return rl.roll(index, counts[1], counts[0], rl.window_index(then, size))


def test_estimate_weighs_the_previous_window_by_what_is_left_of_it() -> None:
    assert rl.estimate((10, 4), 0.0, MIN) == 14
    assert rl.estimate((10, 4), 15.0, MIN) == pytest.approx(7.5 + 4)
    assert rl.estimate((10, 4), 30.0, MIN) == pytest.approx(5 + 4)
    assert rl.estimate((10, 0), 59.999, MIN) == pytest.approx(0.00017, abs=1e-4)


def test_roll_moves_the_current_count_back_one_window_and_drops_older_ones() -> None:
    assert rl.roll(5, cur=3, prev=7, index=5) == (7, 3)
    assert rl.roll(5, cur=3, prev=7, index=6) == (3, 0)
    assert rl.roll(5, cur=3, prev=7, index=7) == (0, 0)


def test_has_room_is_inclusive_of_the_limit() -> None:
    assert rl.has_room(10, (0, 9), at(T0), MIN, 1)
    assert not rl.has_room(10, (0, 10), at(T0), MIN, 1)
    assert rl.has_room(10, (10, 0), at(T0 + 6), MIN, 1)  # 10 * 0.9 + 1 = 10
    assert not rl.has_room(10, (10, 0), at(T0 + 5.9), MIN, 1)


def test_retry_after_waits_for_the_previous_window_to_slide_out() -> None:
    # estimate 10 at the boundary: one request fits once 10 * (1 - f) <= 9, f = 0.1, 6 s
    assert rl.retry_after(10, (10, 0), at(T0), MIN, 1) == 6.0
    assert rl.retry_after(10, (10, 0), at(T0 + 2), MIN, 1) == 4.0


def test_retry_after_a_full_current_window_waits_into_the_next_one() -> None:
    # cur = 10 at mid-window: 30 s to the boundary, then 10 * (1 - f) <= 9: 6 s more
    assert rl.retry_after(10, (0, 10), at(T0 + 30), MIN, 1) == 36.0


def test_retry_after_is_clamped_to_a_window_and_to_a_millisecond() -> None:
    assert rl.retry_after(10, (0, 10), at(T0), MIN, 1) == MIN  # exactly 66 s away
    assert rl.retry_after(10, (0, 0), at(T0), MIN, 11) == MIN  # can never fit
    assert rl.retry_after(10, (10, 0), at(T0 + 5.9999999), MIN, 1) == rl.MIN_RETRY_S
    assert rl.retry_after(1000, (0, 990), at(T0), MIN, 20) == MIN


@given(
    limit=st.integers(1, 500),
    prev=st.integers(0, 500),
    cur=st.integers(0, 500),
    cost=st.integers(1, 50),
    offset=st.floats(0, 3599.999),
    size=st.sampled_from([60.0, 3600.0]),
)
def test_retry_after_is_when_room_comes_back(
    limit: int, prev: int, cur: int, cost: int, offset: float, size: float
) -> None:
    cur = min(cur, limit)  # admission never counts past the limit
    now = T0 + offset % size
    if rl.has_room(limit, (prev, cur), at(now, size), size, cost):
        return
    wait = rl.retry_after(limit, (prev, cur), at(now, size), size, cost)
    assert rl.MIN_RETRY_S <= wait <= size
    if cost > limit or wait == size:
        return
    then = now + wait + 1e-6  # a microsecond for the float noise in unix times
    assert rl.has_room(limit, later((prev, cur), now, then, size), at(then, size), size, cost)
    if wait > 0.003:
        before = then - 0.003
        counts = later((prev, cur), now, before, size)
        assert not rl.has_room(limit, counts, at(before, size), size, cost)


def test_reset_after_is_when_the_estimate_reaches_zero() -> None:
    assert rl.reset_after((0, 0), at(T0 + 10), MIN) == 0.0
    assert rl.reset_after((5, 0), at(T0 + 10), MIN) == 50.0
    assert rl.reset_after((5, 1), at(T0 + 10), MIN) == 110.0


def test_remaining_rounds_the_estimate_down() -> None:
    assert rl.remaining(10, (0, 3), at(T0), MIN) == 7
    assert rl.remaining(10, (1, 3), at(T0 + 36), MIN) == 6  # estimate 3.4
    assert rl.remaining(10, (20, 3), at(T0), MIN) == 0


def test_corrected_adds_a_surplus_and_takes_a_refund_from_current_then_previous() -> None:
    assert rl.corrected(5, 10, 4) == (5, 14)
    assert rl.corrected(5, 10, -4) == (5, 6)
    assert rl.corrected(5, 10, -12) == (3, 0)
    assert rl.corrected(5, 10, -40) == (0, 0)


def test_budget_fits_up_to_the_cap_exactly() -> None:
    cap = rl.to_nano(10.0)
    assert rl.budget_fits(cap, rl.to_nano(9.5), 0, rl.to_nano(0.5))
    assert not rl.budget_fits(cap, rl.to_nano(9.5), 1, rl.to_nano(0.5))
    assert rl.budget_fits(None, 10**15, 10**15, 10**15)
    assert sum(rl.to_nano(0.1) for _ in range(3)) == rl.to_nano(0.3)  # no float drift


def test_budget_windows_from_their_ids() -> None:
    day = datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    month = datetime(2026, 2, 1, tzinfo=UTC).timestamp()
    assert rl.window_start("d20261122") == day
    assert rl.window_end("d20261122") == day + 86_400
    assert rl.window_start("m202602") == month
    assert rl.window_end("m202602") == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert rl.window_start("total") == 0.0
    assert rl.window_end("total") is None


def test_budget_retry_after() -> None:
    day = datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    cap = rl.to_nano(1.0)
    # spent alone leaves no room: until the window ends
    assert rl.budget_retry_after("d20261122", day + 3600, cap, cap, 1) == 82_800.0
    assert rl.budget_retry_after("total", day, cap, cap, 1) == rl.TOTAL_BUDGET_RETRY_S
    # only reservations in flight are in the way: they settle soon
    assert rl.budget_retry_after("d20261122", day, cap, 0, cap) == rl.RESERVED_RETRY_S


def test_reservation_buckets() -> None:
    assert rl.reservation_bucket(T0 + 59.9) == rl.reservation_bucket(T0)
    assert rl.oldest_live_bucket(T0) == rl.reservation_bucket(T0) - rl.RESERVATION_BUCKETS + 1


def test_whole_second_times_give_exact_estimates() -> None:
    # (size - elapsed) / size, not 1 - fraction: 3 * 40/60 is exactly 2 at a unix time
    assert rl.estimate((3, 0), at(T0 + 80), MIN) == 2.0
    assert rl.has_room(3, (3, 0), at(T0 + 80), MIN, 1)
    assert rl.retry_after(3, (3, 0), at(T0 + 61), MIN, 1) == 19.0


def test_position_just_below_a_boundary_stays_in_the_window() -> None:
    now = math.nextafter(T0 + 60, 0)
    index, elapsed = rl.position(now, MIN)
    assert index == rl.window_index(T0, MIN)
    assert 0 < elapsed < MIN
