"""What "a deal went bad" means for grading alerts, and the statistics of a grade. No Django here.

The outcome is defined by what happened to the deal, never by a detector's own condition: within
the horizon the deal was lost, or the close date it carried at the origin passed without a win, or
it was pushed out of the period it was due in. "Still open and quiet at the horizon" is not an
outcome (it would grade the stale rule by its own definition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

Z95 = 1.959964


@dataclass(frozen=True)
class DealCourse:
    """One deal between the origin and the horizon (dates in the workspace's time zone)."""

    due_at_origin: date | None  # the expected close date it carried at the origin
    period_end: date | None  # the last day of the fiscal quarter that date falls in
    lost_on: date | None  # when it was lost, if within the horizon
    won_on: date | None  # when it was won, if within the horizon
    due_at_horizon: date | None  # its expected close date at the horizon (still open then)


def went_bad(course: DealCourse, origin: date, horizon: date) -> bool:
    """Lost within the horizon; or its due date (as of the origin) passed, within the horizon, without a
    win by then; or moved past the end of the period it was due in. A deal already past due at the
    origin has no due date left to pass: for it, the deadline is the horizon (not won by then: bad)."""
    if course.lost_on is not None and course.lost_on <= horizon:
        return True
    due = course.due_at_origin
    if due is None:
        return False  # no due date, no period: only a loss counts
    deadline = due if due >= origin else horizon
    if deadline <= horizon and (course.won_on is None or course.won_on > deadline):
        return True
    if course.period_end is not None:
        if course.won_on is not None:
            return course.won_on > course.period_end
        if course.due_at_horizon is not None and course.due_at_horizon > course.period_end:
            return True  # pushed out of its period
    return False


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (None without trials)."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def grade(flagged: set[Any], bad: set[Any], everyone: set[Any]) -> dict[str, Any]:
    """Precision, recall and lift over the base rate of one group of flagged deals, with 95% intervals.

    The lift interval divides the precision's Wilson interval by the base rate (the base rate over
    hundreds of deals is far steadier than a precision over a few dozen)."""
    hits = len(flagged & bad)
    base = len(bad) / len(everyone) if everyone else None
    interval = wilson(hits, len(flagged))
    precision = hits / len(flagged) if flagged else None
    recall_interval = wilson(hits, len(bad))
    out: dict[str, object] = {
        "flagged": len(flagged),
        "went_bad": hits,
        "precision": _r(precision),
        "precision_interval": _pair(interval),
        "recall": _r(hits / len(bad)) if bad else None,
        "recall_interval": _pair(recall_interval),
        "lift": _r(precision / base) if precision is not None and base else None,
        "lift_interval": _pair((interval[0] / base, interval[1] / base)) if interval and base else None,
    }
    return out


def earns_its_keep(row: dict[str, Any]) -> bool:
    """Lift above 1 beyond noise: the lower end of the lift interval is above 1."""
    interval = row.get("lift_interval")
    return bool(interval) and interval[0] > 1.0  # type: ignore[index]


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _pair(value: tuple[float, float] | None) -> list[float] | None:
    return None if value is None else [round(value[0], 3), round(value[1], 3)]
