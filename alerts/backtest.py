"""Do alerts mean something? Run the detectors on the workspace as it was at a date and compare with
what happened over the following days.

A deal "went bad" when, within the horizon, it was lost, or the close date it carried at the origin
passed without a win, or it was pushed out of the period it was due in (`alerts.outcomes`): an
outcome defined by what happened, not by any detector's condition. Model scores are not used:
today's model has seen the outcomes being predicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.detectors import DETECTORS, Thresholds
from alerts.evaluation import evaluate
from alerts.facts import load_facts
from alerts.models import Priority
from alerts.outcomes import DealCourse, grade, went_bad
from crm.models import Outcome
from crm.selectors import DealSnapshot, pipeline_as_of
from tenancy.models import Workspace

OUTCOME_DEFINITION = (
    "within the horizon the deal was lost, or the close date it had at the origin passed without a win "
    "(for a deal already past due then: not won by the horizon), or it was moved past the end of the "
    "quarter it was due in"
)


@dataclass
class Graded:
    """One backtest origin: who was open, who went bad, and what each rule flagged at which priority."""

    everyone: set[int]
    bad: set[int]
    by_kind: dict[str, set[int]]
    top_priority: dict[int, int]  # deal -> its highest alert priority
    revenue_at_risk: dict[int, float]
    stage_of: dict[int, int] | None = None  # deal -> its stage at the origin (open deals)


def deal_course(workspace: Workspace, start: DealSnapshot, end: DealSnapshot | None) -> DealCourse:
    def day(moment: datetime | None):
        return None if moment is None else moment.astimezone(workspace.tz).date()

    due = start.expected_close_date
    period_end = workspace.fiscal_quarter_bounds(due)[1] if due is not None else None
    if end is None:
        return DealCourse(due, period_end, None, None, None)
    return DealCourse(
        due_at_origin=due,
        period_end=period_end,
        lost_on=day(end.closed_at or end.as_of) if end.outcome == Outcome.LOST else None,
        won_on=day(end.closed_at or end.as_of) if end.outcome == Outcome.WON else None,
        due_at_horizon=end.expected_close_date if end.outcome == Outcome.OPEN else None,
    )


def grade_origin(
    workspace: Workspace, as_of: datetime, horizon_days: int, thresholds: Thresholds, calibration=None
) -> Graded:
    loaded = load_facts(workspace, as_of, thresholds)
    ids = [s.id for s in loaded.snapshots]
    wanted = evaluate(loaded, thresholds, calibration=calibration)
    horizon_end = as_of + timedelta(days=horizon_days)
    later = {s.id: s for s in pipeline_as_of(workspace, horizon_end, deal_ids=ids)} if ids else {}
    origin_day, horizon_day = as_of.astimezone(workspace.tz).date(), horizon_end.astimezone(workspace.tz).date()
    bad = {
        s.id for s in loaded.snapshots if went_bad(deal_course(workspace, s, later.get(s.id)), origin_day, horizon_day)
    }
    by_kind: dict[str, set[int]] = {kind: set() for kind in DETECTORS}
    top: dict[int, int] = {}
    at_risk: dict[int, float] = {}
    for (deal_id, kind), found in wanted.items():
        by_kind.setdefault(kind, set()).add(deal_id)
        top[deal_id] = max(top.get(deal_id, 0), found["priority"])
        at_risk[deal_id] = max(at_risk.get(deal_id, 0.0), found["revenue_at_risk"])
    stage_of = {s.id: s.stage_id for s in loaded.snapshots if s.is_open}
    return Graded(set(ids), bad, by_kind, top, at_risk, stage_of)


def _legacy(row: dict[str, Any]) -> dict[str, Any]:
    return {"flagged": row["flagged"], "precision": row["precision"], "recall": row["recall"]}


def report(graded: Graded) -> dict[str, Any]:
    """The backtest's figures: the keys it always had, and per kind and per priority the precision,
    recall and lift over the base rate with 95% Wilson intervals."""
    everyone, bad = graded.everyone, graded.bad
    good = everyone - bad
    high = {d for d, p in graded.top_priority.items() if p >= Priority.HIGH}
    flagged_any = set(graded.top_priority)
    unflagged = everyone - flagged_any
    high_row = grade(high, bad, everyone)
    by_kind = {kind: grade(flagged, bad, everyone) for kind, flagged in graded.by_kind.items()}
    by_priority = {
        p.label: grade({d for d, top in graded.top_priority.items() if top == p}, bad, everyone)
        for p in sorted(Priority, reverse=True)
    }
    return {
        "high_critical": {
            **_legacy(high_row),
            "false_positive_rate": round(len(high & good) / len(good), 3) if good else None,
            **{k: v for k, v in high_row.items() if k not in ("flagged", "precision", "recall")},
            "revenue_at_risk": round(sum(graded.revenue_at_risk[d] for d in high), 2),
        },
        "by_kind": {kind: {**_legacy(row), **row} for kind, row in by_kind.items()},
        "bad_rate_unflagged": round(len(unflagged & bad) / len(unflagged), 3) if unflagged else None,
        "base_rate": round(len(bad) / len(everyone), 3) if everyone else None,
        "by_priority": by_priority,
        "outcome_definition": OUTCOME_DEFINITION,
        "_context": {"deals": len(everyone), "bad": len(bad), "flagged_any": len(flagged_any)},
    }


def backtest(
    workspace: Workspace, as_of: datetime, horizon_days: int, thresholds: Thresholds, calibration=None
) -> dict[str, Any]:
    return report(grade_origin(workspace, as_of, horizon_days, thresholds, calibration))
