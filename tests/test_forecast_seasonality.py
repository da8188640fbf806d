"""The quarter-end rush, learnt from the wins on record by month of the fiscal quarter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pytest

from forecasting.seasonality import NO_EFFECT, month_intensity, window_factor


@dataclass
class Calendar:
    fiscal_year_start_month: int = 1


def _wins(first: date, last: date, per_day_by_position: tuple[float, float, float], calendar: Calendar) -> np.ndarray:
    """Win days with the given wins per day in the first, second and third month of each quarter."""
    out, day = [], first
    while day <= last:
        rate = per_day_by_position[(day.month - calendar.fiscal_year_start_month) % 3]
        out += [day.toordinal()] * int(rate)
        day += timedelta(days=1)
    return np.array(out)


def test_a_team_that_closes_at_quarter_end_gets_a_faster_last_month():
    calendar = Calendar()
    wins = _wins(date(2025, 1, 1), date(2025, 12, 31), (2, 4, 10), calendar)
    intensity = month_intensity(calendar, wins, date(2025, 1, 1), date(2025, 12, 31))
    assert intensity.mean() == pytest.approx(1.0)
    assert intensity[2] > 1.6 and intensity[0] < 0.5 * intensity[2]
    # A whole quarter is the quarter's own pace; its last month alone is faster, its first month slower.
    assert window_factor(calendar, intensity, date(2026, 1, 1), date(2026, 3, 31)) == pytest.approx(1.0, abs=0.02)
    assert window_factor(calendar, intensity, date(2026, 3, 1), date(2026, 3, 31)) == pytest.approx(intensity[2])
    assert window_factor(calendar, intensity, date(2026, 1, 1), date(2026, 1, 31)) == pytest.approx(intensity[0])
    # The same days in a fiscal year that starts in February are a quarter's second month.
    shifted = Calendar(fiscal_year_start_month=2)
    assert window_factor(shifted, intensity, date(2026, 3, 1), date(2026, 3, 31)) == pytest.approx(intensity[1])


def test_an_even_pace_or_a_short_record_changes_nothing():
    calendar = Calendar()
    even = month_intensity(
        calendar, _wins(date(2025, 1, 1), date(2025, 12, 31), (5, 5, 5), calendar), date(2025, 1, 1), date(2025, 12, 31)
    )
    assert np.allclose(even, 1.0, atol=0.03)
    # Two whole months (March and April): no whole second month of a quarter, so nothing is learnt.
    short = month_intensity(
        calendar,
        _wins(date(2025, 2, 20), date(2025, 4, 30), (2, 4, 10), calendar),
        date(2025, 2, 20),
        date(2025, 4, 30),
    )
    assert np.array_equal(short, NO_EFFECT)


def test_one_quarter_on_record_is_shrunk_toward_no_effect():
    calendar = Calendar()
    one = month_intensity(
        calendar, _wins(date(2025, 1, 1), date(2025, 3, 31), (2, 4, 10), calendar), date(2025, 1, 1), date(2025, 3, 31)
    )
    many = month_intensity(
        calendar, _wins(date(2023, 1, 1), date(2025, 3, 31), (2, 4, 10), calendar), date(2023, 1, 1), date(2025, 3, 31)
    )
    assert 1.0 < one[2] < many[2]
