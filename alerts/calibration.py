"""Each workspace's deal rules judged on its own history, and priorities that follow the verdict.

`calibration_compute` backtests the rules at past month ends whose horizon has fully passed (so the
outcomes are known), pools the alerts over those dates, and grades each rule by lift over the base
rate with a Wilson interval (`alerts.outcomes`). A rule whose lift is not above 1 beyond noise is
shown at Low with the reason; thresholds the user has not set (how long without activity is
"stale", which percentile of a stage's stays is "stalled") are chosen among a few candidates where
they carry the most signal. The monthly schedule recomputes it; the monitors use the latest row.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
from django.db.models import Min
from django.utils import timezone

from alerts import priority
from alerts.backtest import Graded, grade_origin
from alerts.detectors import DETECTORS, Thresholds
from alerts.models import AlertCalibration, AlertSettings
from alerts.outcomes import earns_its_keep, grade
from crm.models import Activity, Deal, DealHistory, TrackedField
from tenancy.models import Workspace

NOT_PREDICTIVE = "On your history this signal has not predicted losses"
MIN_FLAGGED = 20  # pooled alerts a rule needs before it is judged at all
MONTHS = 6  # past month ends backtested
# Thresholds worth trying, and the rule each one shapes.
CANDIDATES: dict[str, tuple[str, tuple[float, ...]]] = {
    "stale_days": ("stale", (7.0, 14.0, 21.0, 30.0)),
    "stall_percentile": ("stalled", (50.0, 75.0, 90.0)),
}


@dataclass
class Calibration:
    """The verdicts the monitors apply (plain data, loaded from the latest `AlertCalibration`)."""

    by_kind: dict[str, dict[str, Any]]
    thresholds: dict[str, float]

    @classmethod
    def from_row(cls, row: AlertCalibration | None) -> Calibration | None:
        return None if row is None else cls(dict(row.by_kind), dict(row.thresholds))

    @classmethod
    def from_measured(cls, measured: dict[str, Any]) -> Calibration:
        return cls(dict(measured["by_kind"]), dict(measured["thresholds"]))

    def weight(self, kind: str) -> float:
        """How much a rule's severity counts, from its measured precision: a rule whose alerts went bad
        more often than the workspace's other predictive rules weighs more (0.5 to 1.5, 1 when unjudged)."""
        earning = [float(r["precision"]) for r in self.by_kind.values() if r.get("verdict") == "earns"]
        row = self.by_kind.get(kind, {})
        if row.get("verdict") != "earns" or not earning:
            return 1.0
        return float(np.clip(float(row["precision"]) / float(np.mean(earning)), 0.5, 1.5))

    def adjust(self, kind: str, ranked: priority.Ranked, thresholds: Thresholds) -> priority.Ranked:
        """A rule that has not predicted losses here drops to Low; one with too few past alerts to judge
        stays at Medium at most (High and Critical are earned); one that has predicted keeps its rank."""
        verdict = str(self.by_kind.get(kind, {}).get("verdict", ""))
        cap = {"not_predictive": priority.LOW, "untested": priority.MEDIUM}.get(verdict)
        if cap is None:
            return ranked
        return priority.Ranked(ranked.revenue_at_risk, ranked.score, np.minimum(ranked.priority, cap))

    def note(self, kind: str) -> str:
        row = self.by_kind.get(kind, {})
        if row.get("verdict") == "not_predictive":
            return (
                f"{NOT_PREDICTIVE} (precision {row.get('precision')} against a base rate of "
                f"{row.get('base_rate')}), so it is shown at Low."
            )
        if row.get("verdict") == "untested":
            return (
                f"Your history has too few past alerts of this kind to judge it ({row.get('flagged', 0)}, "
                f"{MIN_FLAGGED} needed), so it is shown at Medium at most."
            )
        return ""


def calibration_latest(workspace: Workspace | int) -> Calibration | None:
    workspace_id = workspace if isinstance(workspace, int) else workspace.id
    return Calibration.from_row(AlertCalibration.objects.filter(workspace_id=workspace_id).first())


def thresholds_with(base: Thresholds, user_set: set[str], calibration: Calibration | None) -> Thresholds:
    """The user's thresholds, with the calibrated ones for keys the user has not set."""
    if calibration is None:
        return base
    chosen = {k: v for k, v in calibration.thresholds.items() if k not in user_set and k in CANDIDATES}
    return replace(base, **chosen) if chosen else base  # type: ignore[arg-type]  # CANDIDATES keys are Thresholds fields


def _month_ends(workspace: Workspace, first: datetime, last: datetime, count: int) -> list[datetime]:
    """Up to `count` month ends (end of day, workspace time) after `first` and no later than `last`."""
    out: list[datetime] = []
    day = last.astimezone(workspace.tz).date().replace(day=1) - timedelta(days=1)
    while len(out) < count:
        moment = datetime.combine(day, time(23, 59, 59), tzinfo=workspace.tz).astimezone(UTC)
        if moment <= first:
            break
        if moment <= last:
            out.append(moment)
        day = day.replace(day=1) - timedelta(days=1)
        day = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return sorted(out)


def _pooled(graded: list[Graded], kind: str) -> dict[str, Any]:
    flagged: set[tuple[int, int]] = set()
    bad: set[tuple[int, int]] = set()
    everyone: set[tuple[int, int]] = set()
    for n, g in enumerate(graded):  # a deal open at two origins counts at each
        everyone |= {(n, d) for d in g.everyone}
        bad |= {(n, d) for d in g.bad}
        flagged |= {(n, d) for d in g.by_kind.get(kind, set())}
    row = grade(flagged, bad, everyone)
    row["base_rate"] = round(len(bad) / len(everyone), 3) if everyone else None
    return row


def _strength(row: dict[str, Any]) -> float:
    """How clearly a rule predicts losses: the low end of its lift interval (nothing when it flags too few)."""
    interval = row.get("lift_interval")
    return -1.0 if not interval or int(row["flagged"]) < MIN_FLAGGED else float(interval[0])


def data_gaps(workspace: Workspace) -> list[dict[str, str]]:
    """Rules that cannot run on what this workspace records, and what to connect to enable them."""
    has_activity = Activity.objects.for_workspace(workspace).filter(deal__isnull=False).exists()
    contacts = Deal.contacts.through.objects.filter(deal__workspace=workspace).exists() or (
        Activity.contacts.through.objects.filter(activity__workspace=workspace, activity__deal__isnull=False).exists()
    )
    history = DealHistory.objects.for_workspace(workspace).filter(field=TrackedField.STAGE).exists()
    gaps = []
    if not has_activity:
        for kind in ("stale", "engagement"):
            gaps.append(
                {
                    "kind": kind,
                    "missing": "activities on deals (emails, calls, meetings)",
                    "connect": "connect email and calendar capture, or sync activities from your CRM",
                }
            )
    if not contacts:
        gaps.append(
            {
                "kind": "single_threaded",
                "missing": "contacts linked to deals or to their activities",
                "connect": "sync contacts with your CRM, or connect email capture so attendees are linked",
            }
        )
    if not history:
        gaps.append(
            {
                "kind": "stalled",
                "missing": "stage history (when each deal moved stage)",
                "connect": "import with stage history, or let deals move through stages here",
            }
        )
    return gaps


def calibration_measure(
    *, workspace: Workspace, as_of: datetime, horizon_days: int = 60, months: int = MONTHS
) -> dict[str, Any]:
    """Backtest the rules at past month ends (horizon passed by `as_of`, so nothing after `as_of` is
    read), choose thresholds and grade each rule. Writes nothing."""
    now = as_of
    settings_row, _ = AlertSettings.objects.get_or_create(workspace=workspace)
    user_set = set(settings_row.thresholds or {})
    try:
        base = Thresholds.from_dict(settings_row.thresholds)
    except (TypeError, ValueError):
        base = Thresholds()
    first = Deal.objects.for_workspace(workspace).aggregate(first=Min("created_at"))["first"]
    origins = _month_ends(workspace, first, now - timedelta(days=horizon_days), months) if first else []
    graded = [grade_origin(workspace, o, horizon_days, base) for o in origins]
    chosen: dict[str, float] = {}
    for key, (kind, values) in CANDIDATES.items():
        if key in user_set or not graded:
            continue
        best_value, best = getattr(base, key), _strength(_pooled(graded, kind))
        for value in values:
            if value == getattr(base, key):
                continue
            trial = [grade_origin(workspace, o, horizon_days, replace(base, **{key: value})) for o in origins]  # type: ignore[arg-type]
            strength = _strength(_pooled(trial, kind))
            if strength > best + 0.05:  # a clear gain, not a wobble, moves the threshold
                best_value, best = value, strength
        if best_value != getattr(base, key):
            chosen[key] = best_value
    if chosen:
        graded = [grade_origin(workspace, o, horizon_days, replace(base, **chosen)) for o in origins]  # type: ignore[arg-type]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in DETECTORS:
        row: dict[str, Any] = _pooled(graded, kind) if graded else {"flagged": 0}
        if int(row["flagged"]) < MIN_FLAGGED:
            row["verdict"] = "untested"
        else:
            row["verdict"] = "earns" if earns_its_keep(row) else "not_predictive"
        by_kind[kind] = row
    bad = sum(len(g.bad) for g in graded)
    total = sum(len(g.everyone) for g in graded)
    return {
        "as_of": now,
        "horizon_days": horizon_days,
        "origins": [o.isoformat() for o in origins],
        "by_kind": by_kind,
        "thresholds": chosen,
        "base_rate": round(bad / total, 4) if total else None,
    }


def calibration_compute(
    *, workspace: Workspace, as_of: datetime | None = None, horizon_days: int = 60
) -> AlertCalibration:
    """Measure and store this workspace's calibration (the monthly schedule; the monitors use the latest)."""
    measured = calibration_measure(workspace=workspace, as_of=as_of or timezone.now(), horizon_days=horizon_days)
    return AlertCalibration.objects.create(workspace=workspace, **measured)
