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
from crm.models import Activity, Deal, DealHistory, Stage, TrackedField
from tenancy.models import Workspace

NOT_PREDICTIVE = "On your history this signal has not predicted losses"
MIN_FLAGGED = 20  # pooled alerts a rule needs before it is judged at all
MONTHS = 6  # past month ends backtested
# Thresholds worth trying, and the rule each one shapes.
CANDIDATES: dict[str, tuple[str, tuple[float, ...]]] = {
    "stale_days": ("stale", (7.0, 14.0, 21.0, 30.0)),
}
# How long is "stalled" is chosen per stage: the percentile of that stage's own completed stays beyond
# which a deal's time in the stage best separated the deals that went bad from the stage's others.
STALL_PERCENTILES = (50.0, 75.0, 90.0)
STALL_KEY = "stall_percentile_by_stage"
MIN_STAGE_FLAGGED = 10  # pooled alerts in one stage needed before its threshold is judged


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
    chosen: dict[str, Any] = {k: v for k, v in calibration.thresholds.items() if k not in user_set and k in CANDIDATES}
    by_stage = calibration.thresholds.get(STALL_KEY)
    if isinstance(by_stage, dict) and "stall_percentile" not in user_set:
        chosen[STALL_KEY] = stall_thresholds(by_stage)
    return replace(base, **chosen) if chosen else base


def stall_thresholds(by_stage: dict[str, float | None]) -> tuple[tuple[int, float | None], ...]:
    """The stored per-stage choice ({stage id: percentile or None}, JSON keys) as `Thresholds` holds it."""
    return tuple(sorted((int(k), None if v is None else float(v)) for k, v in by_stage.items()))


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


def _by_stage(graded: list[Graded], kind: str = "stalled") -> dict[int, dict[str, Any]]:
    """Per stage: the rule's alerts there against the deals in that stage that went bad (pooled origins).

    The comparison is within the stage, so a stage whose deals often go bad anyway (late stages slip)
    does not make time in it look predictive."""
    flagged: dict[int, set[tuple[int, int]]] = {}
    bad: dict[int, set[tuple[int, int]]] = {}
    everyone: dict[int, set[tuple[int, int]]] = {}
    for n, g in enumerate(graded):
        for deal, stage in (g.stage_of or {}).items():
            everyone.setdefault(stage, set()).add((n, deal))
            if deal in g.bad:
                bad.setdefault(stage, set()).add((n, deal))
            if deal in g.by_kind.get(kind, set()):
                flagged.setdefault(stage, set()).add((n, deal))
    out = {}
    for stage, members in everyone.items():
        row = grade(flagged.get(stage, set()), bad.get(stage, set()), members)
        row["stage_base_rate"] = round(len(bad.get(stage, set())) / len(members), 3)
        out[stage] = row
    return out


def choose_stall_percentiles(
    workspace: Workspace, origins: list[datetime], horizon_days: int, base: Thresholds, graded: list[Graded]
) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """Per stage, the percentile of its own stays beyond which "stalled" carried the most signal.

    Each candidate is backtested at the same origins; a stage's strength at a candidate is the low end
    of its lift interval over the stage's own bad rate, judged only with `MIN_STAGE_FLAGGED` alerts or
    more (noise guard). The default percentile stays unless another is clearly stronger (+0.05). A stage
    judged at some candidate where none has a lift interval above 1 gets None: the rule is silent
    there. A stage with too few alerts at every candidate keeps the workspace-wide percentile. `graded`:
    the origins already graded at `base` (reused for its own percentile)."""
    rows = {base.stall_percentile: _by_stage(graded)}
    for p in STALL_PERCENTILES:
        if p == base.stall_percentile:
            continue
        trial = replace(base, stall_percentile=p, stall_percentile_by_stage=())
        rows[p] = _by_stage([grade_origin(workspace, o, horizon_days, trial) for o in origins])
    names = dict(Stage.objects.for_workspace(workspace).values_list("id", "name"))
    chosen, evidence = pick_stall_percentiles(rows, base.stall_percentile)
    return chosen, [{**row, "name": names.get(row["stage"], "")} for row in evidence]


def pick_stall_percentiles(
    rows: dict[float, dict[int, dict[str, Any]]], default: float
) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """From each candidate percentile's per-stage grades, the choice per stage and what it rests on."""
    chosen: dict[str, float | None] = {}
    evidence: list[dict[str, Any]] = []
    for stage in sorted({s for by in rows.values() for s in by}):
        judged = {p: by[stage] for p, by in rows.items() if by.get(stage, {}).get("flagged", 0) >= MIN_STAGE_FLAGGED}
        if not judged:
            continue
        strength = {p: float(r["lift_interval"][0]) if r.get("lift_interval") else -1.0 for p, r in judged.items()}
        best = max(strength, key=lambda p: strength[p])
        if default in strength and strength[best] <= strength[default] + 0.05:
            best = default
        percentile = best if strength[best] > 1.0 else None
        chosen[str(stage)] = percentile
        row = judged[best]
        evidence.append(
            {
                "stage": stage,
                "percentile": percentile,
                **{k: row.get(k) for k in ("flagged", "precision", "lift", "lift_interval", "stage_base_rate")},
            }
        )
    return chosen, evidence


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
    tuned = replace(base, **chosen)  # type: ignore[arg-type]  # CANDIDATES keys are Thresholds fields
    stored: dict[str, Any] = dict(chosen)
    stall_evidence: list[dict[str, Any]] = []
    if graded and "stall_percentile" not in user_set:
        by_stage, stall_evidence = choose_stall_percentiles(workspace, origins, horizon_days, tuned, graded)
        if by_stage:
            stored[STALL_KEY] = by_stage
            tuned = replace(tuned, stall_percentile_by_stage=stall_thresholds(by_stage))
    if stored:
        graded = [grade_origin(workspace, o, horizon_days, tuned) for o in origins]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in DETECTORS:
        row: dict[str, Any] = _pooled(graded, kind) if graded else {"flagged": 0}
        if int(row["flagged"]) < MIN_FLAGGED:
            row["verdict"] = "untested"
        else:
            row["verdict"] = "earns" if earns_its_keep(row) else "not_predictive"
        by_kind[kind] = row
    if stall_evidence:
        by_kind["stalled"]["by_stage"] = stall_evidence
    bad = sum(len(g.bad) for g in graded)
    total = sum(len(g.everyone) for g in graded)
    return {
        "as_of": now,
        "horizon_days": horizon_days,
        "origins": [o.isoformat() for o in origins],
        "by_kind": by_kind,
        "thresholds": stored,
        "base_rate": round(bad / total, 4) if total else None,
    }


def calibration_compute(
    *, workspace: Workspace, as_of: datetime | None = None, horizon_days: int = 60
) -> AlertCalibration:
    """Measure and store this workspace's calibration (the monthly schedule; the monitors use the latest)."""
    measured = calibration_measure(workspace=workspace, as_of=as_of or timezone.now(), horizon_days=horizon_days)
    return AlertCalibration.objects.create(workspace=workspace, **measured)
