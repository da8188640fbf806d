"""Period names for forecasting screens: the helpers live in `vectoros.periods`, below every app, so the CRM's
board and deal list name fiscal periods the same way ("Q4 FY2027") without importing forecasting."""

from __future__ import annotations

from vectoros.periods import (
    FiscalCalendar,
    fiscal_quarter,
    fiscal_quarter_bounds,
    fiscal_year,
    fiscal_year_bounds,
    period_label,
)

__all__ = [
    "FiscalCalendar",
    "fiscal_quarter",
    "fiscal_quarter_bounds",
    "fiscal_year",
    "fiscal_year_bounds",
    "period_label",
]
