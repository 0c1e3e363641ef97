"""Sliding-window rate limits and budget arithmetic, shared by every counters backend.

A limit keeps two fixed-window counts: the current window's and the previous one's. The estimate
of use over the last `size` seconds weighs the previous count by the share of it still inside the
sliding window: `prev * (size - elapsed) / size + cur`. The Redis Lua scripts repeat exactly these
float operations in the same order (see `position`), so a decision is the same whichever backend
makes it.

Money is counted in integer nano-USD: sums and comparisons are exact and identical in Python,
SQLite and Lua (whose numbers are doubles, exact below 2**53 nano-USD, about 9 million USD).

Reservations and parallel slots of a process that died must not hold a budget or a key forever:
shared backends drop slots SLOT_TTL_S after admission, and reservations after RESERVATION_BUCKETS
buckets of RESERVATION_BUCKET_S (settle releases the newest first, so a leaked one ages out).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from gateway.core.budget import window as budget_window

WINDOWS: dict[str, float] = {"rpm": 60.0, "rph": 3600.0, "tpm": 60.0}
MIN_RETRY_S = 0.001
PARALLEL_RETRY_S = 1.0  # a slot frees when any request of the key finishes: retry soon
RESERVED_RETRY_S = 1.0  # the budget is held by requests in flight, which settle soon
TOTAL_BUDGET_RETRY_S = 3600.0  # a "total" budget never resets: only an admin can raise it
SLOT_TTL_S = 600.0  # no request is expected to run longer; a dead process's slot frees by then
RESERVATION_BUCKET_S = 60.0
RESERVATION_BUCKETS = 10  # live buckets: the current one and the 9 before it
NANO = 1_000_000_000


def to_nano(usd: float) -> int:
    return round(usd * NANO)


def to_usd(nano: int) -> float:
    return nano / NANO


def position(now: float, size: float) -> tuple[int, float]:
    """(index of the fixed window holding `now`, seconds elapsed in it). `now - index * size` is
    exact in floating point, so at whole-second times every figure below is exact too."""
    index = math.floor(now / size)
    elapsed = now - index * size
    if elapsed < 0:  # now / size rounded up onto the next boundary
        index -= 1
        elapsed += size
    return index, elapsed


def window_index(now: float, size: float) -> int:
    return position(now, size)[0]


def roll(stored_index: int, cur: int, prev: int, index: int) -> tuple[int, int]:
    """(prev, cur) as seen from window `index`, given the counts stored for `stored_index`."""
    if stored_index == index:
        return prev, cur
    if stored_index == index - 1:
        return cur, 0
    return 0, 0


def estimate(counts: tuple[int, int], elapsed: float, size: float) -> float:
    """The use over the last `size` seconds, `elapsed` seconds into the current window; `counts`
    is (previous window's count, current window's count)."""
    prev, cur = counts
    return prev * (size - elapsed) / size + cur


def has_room(limit: int, counts: tuple[int, int], elapsed: float, size: float, cost: int) -> bool:
    prev, cur = counts
    return prev * (size - elapsed) / size + cur + cost <= limit


def retry_after(
    limit: int, counts: tuple[int, int], elapsed: float, size: float, cost: int
) -> float:
    """Seconds until `cost` more fits under `limit`, rounded up to the millisecond and clamped to
    [MIN_RETRY_S, size]. The estimate falls linearly while the previous window slides out, and the
    current count becomes the previous one at the next boundary."""
    if cost > limit:
        return size  # never fits; the longest honest hint is one window
    prev, cur = counts
    if cur + cost <= limit:
        # prev * (size - e) / size + cur + cost <= limit  <=>  e >= size - room * size / prev
        needed = size - (limit - cur - cost) * size / prev if prev else 0.0
        wait = needed - elapsed
    else:
        # in the next window: cur * (size - e') / size + cost <= limit  (cur > limit - cost >= 0)
        wait = (size - elapsed) + size - (limit - cost) * size / cur
    return min(max(_ceil_ms(wait), MIN_RETRY_S), size)


def _ceil_ms(seconds: float) -> float:
    # up to the next millisecond, ignoring float noise (below 10 ns)
    return math.ceil(seconds * 1000 - 1e-5) / 1000


def reset_after(counts: tuple[int, int], elapsed: float, size: float) -> float:
    """Seconds until the limit is back to its full capacity (the estimate reaches zero)."""
    prev, cur = counts
    if cur > 0:
        return round(2 * size - elapsed, 3)
    if prev > 0:
        return round(size - elapsed, 3)
    return 0.0


def remaining(limit: int, counts: tuple[int, int], elapsed: float, size: float) -> int:
    return max(0, math.floor(limit - estimate(counts, elapsed, size)))


def corrected(prev: int, cur: int, delta: int) -> tuple[int, int]:
    """(prev, cur) after a settle corrects the token count by `delta`: a surplus counts now; a
    refund comes off the current window, then the previous one, never below zero."""
    cur += delta
    if cur < 0:
        prev = max(prev + cur, 0)
        cur = 0
    return prev, cur


def budget_fits(budget: int | None, spent: int, reserved: int, reserve: int) -> bool:
    return budget is None or spent + reserved + reserve <= budget


def window_start(window_id: str) -> float:
    """The start of a budget window, from its id ("total", "dYYYYMMDD", "mYYYYMM")."""
    if window_id.startswith("d") and len(window_id) == 9:
        day = datetime.strptime(window_id[1:], "%Y%m%d").replace(tzinfo=UTC)
        return day.timestamp()
    if window_id.startswith("m") and len(window_id) == 7:
        month = datetime.strptime(window_id[1:], "%Y%m").replace(tzinfo=UTC)
        return month.timestamp()
    return 0.0


def window_end(window_id: str) -> float | None:
    """The end of a budget window; None for "total" (and any id this module does not know)."""
    if window_id.startswith("d") and len(window_id) == 9:
        return budget_window("daily", window_start(window_id))[2]
    if window_id.startswith("m") and len(window_id) == 7:
        return budget_window("monthly", window_start(window_id))[2]
    return None


def budget_retry_after(window_id: str, now: float, budget: int, spent: int, reserve: int) -> float:
    """Exhausted by settled spend: until the window ends (a "total" budget: TOTAL_BUDGET_RETRY_S).
    Held only by reservations in flight: RESERVED_RETRY_S, they settle soon."""
    if spent + reserve <= budget:
        return RESERVED_RETRY_S
    end = window_end(window_id)
    if end is None:
        return TOTAL_BUDGET_RETRY_S
    return max(_ceil_ms(end - now), MIN_RETRY_S)


def reservation_bucket(now: float) -> int:
    return math.floor(now / RESERVATION_BUCKET_S)


def oldest_live_bucket(now: float) -> int:
    return reservation_bucket(now) - RESERVATION_BUCKETS + 1
