"""Period names: the one place a period becomes text, so every screen says "Q4 FY2027" the same way.

A fiscal year starts on the first day of the workspace's `fiscal_year_start_month` and is named after
the calendar year it ends in (a year starting in February 2026 ends in January 2027: FY2027); with the
default January start, FY2026 is the calendar year 2026.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol


class FiscalCalendar(Protocol):
    fiscal_year_start_month: int


def fiscal_year(calendar: FiscalCalendar, day: date) -> int:
    """The fiscal year `day` falls in, named by the calendar year the fiscal year ends in."""
    start_month = calendar.fiscal_year_start_month
    first_year = day.year if day.month >= start_month else day.year - 1
    return first_year if start_month == 1 else first_year + 1


def fiscal_year_bounds(calendar: FiscalCalendar, day: date) -> tuple[date, date]:
    start_month = calendar.fiscal_year_start_month
    first_year = day.year if day.month >= start_month else day.year - 1
    start = date(first_year, start_month, 1)
    return start, date(first_year + 1, start_month, 1) - timedelta(days=1)


def fiscal_quarter(calendar: FiscalCalendar, day: date) -> int:
    """1 to 4: the fiscal quarter `day` falls in."""
    return (day.month - calendar.fiscal_year_start_month) % 12 // 3 + 1


def fiscal_quarter_bounds(calendar: FiscalCalendar, day: date) -> tuple[date, date]:
    year_start, _ = fiscal_year_bounds(calendar, day)
    months = (fiscal_quarter(calendar, day) - 1) * 3
    start = add_months(year_start, months)
    return start, add_months(start, 3) - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def period_label(calendar: FiscalCalendar, start: date, end: date) -> str:
    """ "Q4 FY2027" for a fiscal quarter, "FY2027" for a fiscal year, "Mar 2026" for a month, else the dates."""
    if (start, end) == fiscal_quarter_bounds(calendar, start):
        return f"Q{fiscal_quarter(calendar, start)} FY{fiscal_year(calendar, start)}"
    if (start, end) == fiscal_year_bounds(calendar, start):
        return f"FY{fiscal_year(calendar, start)}"
    if start.day == 1 and end == add_months(start, 1) - timedelta(days=1):
        return start.strftime("%b %Y")
    if start.year == end.year:
        return f"{start:%b} {start.day} – {end:%b} {end.day}, {end.year}"
    return f"{start:%b} {start.day}, {start.year} – {end:%b} {end.day}, {end.year}"
