"""Money in the workspace's currency and period names, as the forecasting pages write them."""

from __future__ import annotations

from datetime import date

from django import template

from forecasting.charts import symbol
from forecasting.periods import FiscalCalendar, period_label

register = template.Library()


@register.filter
def money(value: object, currency: str = "USD") -> str:
    """`{{ amount|money:workspace.currency }}`: "$12,300", "€-4,000", "SEK 1,200" (whole units)."""
    if value is None or value == "":
        return "–"
    try:
        number = float(value)  # type: ignore[arg-type]  # Decimal, float, int or numeric text
    except (TypeError, ValueError):
        return str(value)
    sign = "−" if number < 0 else ""
    return f"{sign}{symbol(currency or 'USD')}{abs(number):,.0f}"


@register.simple_tag
def period_name(calendar: FiscalCalendar, start: date | str, end: date | str) -> str:
    """`{% period_name workspace run.period_start run.period_end %}`: "Q4 FY2027"."""
    first = start if isinstance(start, date) else date.fromisoformat(str(start))
    last = end if isinstance(end, date) else date.fromisoformat(str(end))
    return period_label(calendar, first, last)
