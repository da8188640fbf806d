"""Do alerts mean something? Run the detectors on the workspace as it was at a date and compare with
what happened over the following days.

A deal "went bad" when, within the horizon, it was lost, slipped past the quarter it was expected to
close in, or was still open and stale (no activity for `stale_days`) at the horizon. Model scores are
not used: today's model has seen the outcomes being predicted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max

from alerts.detectors import DETECTORS, Thresholds
from alerts.facts import load_facts
from alerts.models import Priority
from alerts.services import evaluate
from crm.models import Activity, Outcome
from crm.selectors import DealSnapshot, pipeline_as_of
from tenancy.models import Workspace


def went_bad(
    workspace: Workspace,
    start: DealSnapshot,
    end: DealSnapshot | None,
    last_activity: datetime | None,
    horizon_end: datetime,
    stale_days: float,
    activity_tracked: bool = True,
) -> bool:
    if end is None:
        return False
    if end.outcome == Outcome.LOST:
        return True
    if start.expected_close_date is not None:  # without a due date there is no period to slip past
        period_end = workspace.fiscal_quarter_bounds(start.expected_close_date)[1]
        horizon_day = horizon_end.astimezone(workspace.tz).date()
        if end.outcome == Outcome.WON:
            return end.closed_at is not None and end.closed_at.astimezone(workspace.tz).date() > period_end
        if period_end < horizon_day:
            return True  # still open after the quarter it was due in ended
        if end.expected_close_date is not None and end.expected_close_date > period_end:
            return True
    elif end.outcome == Outcome.WON:
        return False
    if not activity_tracked:
        return False  # no activity data: "stale at the horizon" cannot be judged
    idle_since = last_activity or start.created_at
    return (horizon_end - idle_since) > timedelta(days=stale_days)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def backtest(workspace: Workspace, as_of: datetime, horizon_days: int, thresholds: Thresholds) -> dict[str, Any]:
    loaded = load_facts(workspace, as_of, thresholds)
    ids = [s.id for s in loaded.snapshots]
    wanted = evaluate(loaded, thresholds)
    horizon_end = as_of + timedelta(days=horizon_days)
    later = {s.id: s for s in pipeline_as_of(workspace, horizon_end, deal_ids=ids)} if ids else {}
    last_activity = dict(
        Activity.objects.filter(deal_id__in=ids, occurred_at__lte=horizon_end)
        .values("deal_id")
        .annotate(last=Max("occurred_at"))
        .values_list("deal_id", "last")
        .order_by()
    )
    tracked = Activity.objects.filter(workspace=workspace, deal__isnull=False).exists()
    bad = {
        s.id
        for s in loaded.snapshots
        if went_bad(
            workspace,
            s,
            later.get(s.id),
            last_activity.get(s.id),
            horizon_end,
            thresholds.stale_days,
            activity_tracked=tracked,
        )
    }
    everyone = set(ids)
    good = everyone - bad
    high = {deal_id for (deal_id, _), f in wanted.items() if f["priority"] >= Priority.HIGH}
    flagged_any = {deal_id for deal_id, _ in wanted}
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in DETECTORS:
        flagged = {deal_id for (deal_id, k) in wanted if k == kind}
        by_kind[kind] = {
            "flagged": len(flagged),
            "precision": _ratio(len(flagged & bad), len(flagged)),
            "recall": _ratio(len(flagged & bad), len(bad)),
        }
    unflagged = everyone - flagged_any
    return {
        "high_critical": {
            "flagged": len(high),
            "precision": _ratio(len(high & bad), len(high)),
            "recall": _ratio(len(high & bad), len(bad)),
            "false_positive_rate": _ratio(len(high & good), len(good)),
        },
        "by_kind": by_kind,
        "bad_rate_unflagged": _ratio(len(unflagged & bad), len(unflagged)),
        "_context": {"deals": len(everyone), "bad": len(bad), "flagged_any": len(flagged_any)},
    }
