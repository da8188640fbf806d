"""Workspace-level checks: pipeline coverage for the current quarter and the forecast's P50 trend.

The quarter target and forecast runs belong to the forecasting app, which may not be installed or may
have no data yet: both are read lazily and a missing piece means the check is skipped (returns None
with a reason in `skipped`), never an error.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from alerts import detectors
from alerts.detectors import Thresholds
from alerts.models import AlertKind, AlertSettings, Priority
from crm.models import Deal, Outcome
from crm.selectors import DealSnapshot
from forecasting.coverage import closes_by
from forecasting.models import ForecastRun
from forecasting.selectors import target_for
from tenancy.models import Workspace

logger = logging.getLogger(__name__)


def quarter_target(workspace: Workspace, start: date, end: date, settings_row: AlertSettings) -> Decimal | None:
    """The forecasting app's workspace target for the quarter when it has one, else the alert settings' target."""
    try:
        found = target_for(workspace, start, end)
        if found:
            return Decimal(str(found))
    except Exception:  # another app's absence or failure must not stop the monitors
        logger.warning("forecasting target unavailable", exc_info=True)
    return settings_row.quarter_target


def forecast_p50s(workspace: Workspace, as_of: datetime, period_start: date) -> tuple[float, float] | None:
    """(latest P50, P50 of a run at least 6 days older) for this quarter's forecast runs, when both exist."""
    try:
        runs = list(
            ForecastRun.objects.filter(
                workspace=workspace, period_start=period_start, as_of__lte=as_of, as_of__gte=as_of - timedelta(days=21)
            )
            .order_by("as_of")
            .values_list("as_of", "percentiles")
        )
    except Exception:  # another app's absence or failure must not stop the monitors
        logger.warning("forecast runs unavailable", exc_info=True)
        return None
    history = [(at, float(p["p50"])) for at, p in runs if isinstance(p, dict) and p.get("p50") is not None]
    if len(history) < 2:
        return None
    latest_at, latest = history[-1]
    week_before = [p for at, p in history if at <= latest_at - timedelta(days=6)]
    return (latest, week_before[-1]) if week_before else None


def run(
    workspace: Workspace, as_of: datetime, t: Thresholds, settings_row: AlertSettings, deals: list[DealSnapshot]
) -> dict[str, Any]:
    """{kind: alert fields or None}; a kind is absent when it cannot be judged (no target, no forecast)."""
    out: dict[str, Any] = {}
    today = as_of.astimezone(workspace.tz).date()
    start, end = workspace.fiscal_quarter_bounds(today)
    target = quarter_target(workspace, start, end, settings_row)
    if target:
        open_in_quarter = sum(float(s.amount) for s in deals if s.is_open and closes_by(s.expected_close_date, end))
        won_total = (
            Deal.objects.for_workspace(workspace)
            .filter(outcome=Outcome.WON, closed_at__date__gte=start, closed_at__lte=as_of)
            .aggregate(total=Sum("amount"))["total"]
        )
        won = float(won_total or 0)
        check = detectors.coverage(open_pipeline=open_in_quarter, target=float(target), won=won, t=t)
        days_left = (end - today).days
        out[AlertKind.COVERAGE] = (
            {
                "priority": Priority.CRITICAL if check.coverage < 1 else Priority.HIGH,
                "score": round(check.remaining_target - check.open_pipeline, 2),
                "revenue_at_risk": Decimal(str(round(max(check.remaining_target - check.open_pipeline, 0), 2))),
                "seen": f"Open pipeline due this quarter is {check.coverage:.1f}x what is left of the target "
                f"({check.open_pipeline:,.0f} against {check.remaining_target:,.0f}; {days_left} days left).",
                "why": f"Below {t.coverage_ratio:.1f}x coverage the quarter usually misses its target.",
                "next_step": "Pull qualified deals forward and add pipeline for this quarter.",
                "details": {
                    "coverage": round(check.coverage, 2),
                    "open_pipeline": round(check.open_pipeline, 2),
                    "remaining_target": round(check.remaining_target, 2),
                    "quarter_end": end.isoformat(),
                },
            }
            if check.flagged
            else None
        )
    p50s = forecast_p50s(workspace, as_of, start)
    if p50s is not None:
        now_p50, before = p50s
        dropped, share = detectors.forecast_drop(p50_now=now_p50, p50_before=before, t=t)
        out[AlertKind.FORECAST_DROP] = (
            {
                "priority": Priority.HIGH,
                "score": round(before - now_p50, 2),
                "revenue_at_risk": Decimal(str(round(before - now_p50, 2))),
                "seen": f"The forecast's P50 fell {share:.0%} in a week ({before:,.0f} → {now_p50:,.0f}).",
                "why": "A falling median forecast means the quarter's likely result is getting worse.",
                "next_step": "Open the forecast to see which deals moved it, and review them with their owners.",
                "details": {"p50": now_p50, "p50_week_before": before, "share": round(share, 3)},
            }
            if dropped
            else None
        )
    return out
