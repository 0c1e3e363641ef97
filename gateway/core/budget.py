"""Budget periods: which window a moment falls in, and when it ends (UTC calendar)."""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, datetime

from gateway.core.keys import BudgetPeriod

DAY_S = 86_400


def window(period: BudgetPeriod, now: float) -> tuple[str, float, float | None]:
    """(window id, start, end) for the period containing `now`; `total` never ends."""
    if period == "total":
        return "total", 0.0, None
    return _window_of_day(period, int(now // DAY_S))


@functools.lru_cache(maxsize=64)
def _window_of_day(period: BudgetPeriod, day: int) -> tuple[str, float, float | None]:
    """Windows change only at UTC midnight, so the calendar work is done once a day (this runs
    on every admission)."""
    moment = datetime.fromtimestamp(day * DAY_S, UTC)
    if period == "daily":
        return f"d{moment:%Y%m%d}", float(day * DAY_S), float(day * DAY_S + DAY_S)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return f"m{start:%Y%m}", start.timestamp(), start.timestamp() + days * DAY_S
