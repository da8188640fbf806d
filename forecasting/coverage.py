"""The one definition of pipeline coverage (plain: no Django), used by the dashboard, the leaderboard and the
coverage alert.

Coverage = open pipeline expected to close by the period's end (deals already past their close date count:
they are still due) over what is left of the target (target − closed-won so far in the period).
"""

from __future__ import annotations

from datetime import date

COVERAGE_DEFINITION = (
    "Coverage = open pipeline expected to close by the end of the period (deals past their close date "
    "included) ÷ what is left of the target (target − won so far in the period)."
)


def coverage_ratio(*, open_pipeline: float, target: float | None, won: float) -> float | None:
    """None without a target; infinity once the target is met."""
    if target is None:
        return None
    remaining = max(target - won, 0.0)
    return open_pipeline / remaining if remaining > 0 else float("inf")


def closes_by(expected_close_date: date | None, period_end: date) -> bool:
    """Whether an open deal counts in the period's coverage."""
    return expected_close_date is not None and expected_close_date <= period_end
