"""The quarter-end rush: how much more (or less) a team wins per day in each month of its fiscal quarter.

Close-time curves count days from a deal's creation and know nothing of the calendar, so a window that is not a
whole quarter gets the quarter's average pace. Many B2B teams close a large share of a quarter in its last month:
Maven's closes won 531 deals in March and 531 in June (quarter-ends) against 285 in April and 438 in May. A
forecast of the rest of a quarter made in its last month then under-states what lands, and one made in its first
month over-states it.

The intensity of a month of the quarter (first, second, third) is its wins per day over the whole calendar
months of the record, relative to all of them; each position is shrunk toward no effect as if it had
`PRIOR_WINS` more wins at the average pace (a team with a few wins a month learns next to nothing: its months
differ by chance), and the three are scaled to average 1. A forecast window's
factor is the intensity averaged over its days: 1 for a whole quarter, whatever the pattern. Plain NumPy beside
the calendar.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from vectoros.periods import FiscalCalendar, add_months

PRIOR_WINS = 50.0
NO_EFFECT = np.ones(3)


def _next_month(day: date) -> date:
    return add_months(day, 1)  # the first of the next month, whatever day is given


def position(calendar: FiscalCalendar, day: date) -> int:
    """0, 1 or 2: the month of its fiscal quarter `day` falls in."""
    return (day.month - calendar.fiscal_year_start_month) % 3


def month_intensity(calendar: FiscalCalendar, won_ordinals: np.ndarray, first: date, last: date) -> np.ndarray:
    """Relative wins per day in the first, second and third month of a quarter, from the wins closed on the days
    `won_ordinals` (`date.toordinal()`) over the record [first, last] (only its whole calendar months count). No
    effect (ones) until every position has a whole month on record."""
    start = first if first.day == 1 else _next_month(first)
    ordinals = np.sort(np.asarray(won_ordinals, dtype=np.int64))
    wins, days = np.zeros(3), np.zeros(3)
    seen = np.zeros(3, dtype=bool)
    month = start
    while _next_month(month) - timedelta(days=1) <= last:
        end = _next_month(month)
        p = position(calendar, month)
        wins[p] += np.searchsorted(ordinals, end.toordinal()) - np.searchsorted(ordinals, month.toordinal())
        days[p] += (end - month).days
        seen[p] = True
        month = end
    if not seen.all() or wins.sum() == 0:
        return NO_EFFECT
    pace = wins.sum() / days.sum()
    shrunk = (wins + PRIOR_WINS) / (days * pace + PRIOR_WINS)
    return shrunk / shrunk.mean()


def window_factor(calendar: FiscalCalendar, intensity: np.ndarray, start: date, end: date) -> float:
    """The intensity averaged over the days from `start` to `end` (1 for an empty window)."""
    total, days = 0.0, 0
    month = start.replace(day=1)
    while month <= end:
        nxt = _next_month(month)
        n = (min(nxt - timedelta(days=1), end) - max(month, start)).days + 1
        if n > 0:
            total += n * float(intensity[position(calendar, month)])
            days += n
        month = nxt
    return total / days if days else 1.0
