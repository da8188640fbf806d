"""Period names with fiscal years: the same quarter reads differently under another fiscal-year start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from forecasting.periods import fiscal_quarter_bounds, period_label
from tenancy.models import Workspace


@dataclass
class Calendar:
    fiscal_year_start_month: int


@pytest.mark.parametrize(
    ("start_month", "start", "end", "label"),
    [
        (1, date(2026, 10, 1), date(2026, 12, 31), "Q4 FY2026"),
        (2, date(2026, 11, 1), date(2027, 1, 31), "Q4 FY2027"),
        (2, date(2026, 2, 1), date(2026, 4, 30), "Q1 FY2027"),
        (4, date(2026, 1, 1), date(2026, 3, 31), "Q4 FY2026"),
        (7, date(2026, 7, 1), date(2027, 6, 30), "FY2027"),
        (1, date(2026, 3, 1), date(2026, 3, 31), "Mar 2026"),
        # calendar quarters under a February fiscal year are not fiscal quarters: their dates are shown
        (2, date(2026, 10, 1), date(2026, 12, 31), "Oct 1 – Dec 31, 2026"),
        (1, date(2026, 12, 15), date(2027, 1, 14), "Dec 15, 2026 – Jan 14, 2027"),
    ],
)
def test_period_label(start_month, start, end, label):
    assert period_label(Calendar(start_month), start, end) == label


@pytest.mark.parametrize("start_month", range(1, 13))
def test_quarters_agree_with_the_workspace(start_month):
    workspace = Workspace(fiscal_year_start_month=start_month)
    day = date(2026, 1, 1)
    while day.year < 2028:
        assert fiscal_quarter_bounds(workspace, day) == workspace.fiscal_quarter_bounds(day), (start_month, day)
        day = date.fromordinal(day.toordinal() + 17)
