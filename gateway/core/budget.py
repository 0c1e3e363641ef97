"""Budget periods: which window a moment falls in, and when it ends (UTC calendar)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from gateway.core.keys import BudgetPeriod


def window(period: BudgetPeriod, now: float) -> tuple[str, float, float | None]:
    """(window id, start, end) for the period containing `now`; `total` never ends."""
    if period == "total":
        return "total", 0.0, None
    moment = datetime.fromtimestamp(now, UTC)
    if period == "daily":
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return f"d{start:%Y%m%d}", start.timestamp(), start.timestamp() + 86_400
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return f"m{start:%Y%m}", start.timestamp(), start.timestamp() + days * 86_400
