"""How good the calls were: each person's final call of every finished period against what closed won, and
whether calls carry signal beyond the model.

The call measured for a period is the member's last version submitted before the period ended (their final
word on it). Error and bias use the most likely figure when given, else the commit; "commit met" is whether
what closed won in their scope reached the commit. Their scope is the one they call for today (a rep's own
deals, a manager's teams, the workspace for owners and admins).

The signal test pairs each final call with the model's P50 stored with that version (the model as it stood
when the call was made) and fits w in (1 − w)·model + w·call on relative errors, shrunk towards 0, scored by
leaving one period out: the calls count only if that out-of-sample error beats the model alone by 2%
(relative).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from django.utils import timezone

from crm.models import Deal
from forecasting.calls import call_scope, period_label
from forecasting.compute import end_of_day
from forecasting.models_calls import CallSubmission
from forecasting.quota import won_by_owner
from tenancy.models import Membership, Workspace
from tenancy.scope import Scope

# Pseudo-observations of "no signal" the weight is shrunk with (a ridge on w).
SHRINKAGE = 3.0
MIN_PERIODS = 3
# The out-of-sample error must fall by at least this share before calls count as signal (noise alone often
# buys a fraction of a percent).
MIN_GAIN = 0.02


@dataclass(frozen=True)
class Observation:
    """One final call: the period it was for, the model's P50 then, the call, and what closed."""

    period: date
    model: float
    call: float
    actual: float


@dataclass
class Signal:
    weight: float | None
    mae_model: float | None  # mean absolute % error, leave-one-period-out
    mae_blend: float | None
    observations: int
    periods: int
    has_signal: bool
    statement: str


def fit_weight(obs: list[Observation], shrinkage: float = SHRINKAGE) -> float:
    """w minimising Σ((a − m) − w(c − m))² on errors relative to the model's P50, shrunk towards 0, in [0, 1]."""
    rows = [o for o in obs if o.model > 0]
    if not rows:
        return 0.0
    d = np.array([(o.call - o.model) / o.model for o in rows])
    r = np.array([(o.actual - o.model) / o.model for o in rows])
    denominator = float(np.sum(d * d)) + shrinkage * float(np.mean(d * d))
    if denominator <= 0:
        return 0.0
    return float(np.clip(np.sum(d * r) / denominator, 0.0, 1.0))


def call_signal(obs: list[Observation], shrinkage: float = SHRINKAGE) -> Signal:
    """Whether blending calls into the model lowers the error on periods the weight was not fitted on."""
    periods = sorted({o.period for o in obs})
    usable = [o for o in obs if o.actual > 0 and o.model > 0]
    if len(periods) < MIN_PERIODS or not usable:
        return Signal(
            None,
            None,
            None,
            len(obs),
            len(periods),
            False,
            f"Not enough history to test the calls: {len(periods)} finished period(s) with calls, "
            f"{MIN_PERIODS} needed.",
        )
    model_err: list[float] = []
    blend_err: list[float] = []
    for held in periods:
        w = fit_weight([o for o in obs if o.period != held], shrinkage)
        for o in usable:
            if o.period == held:
                model_err.append(abs(o.model - o.actual) / o.actual)
                blend_err.append(abs((1 - w) * o.model + w * o.call - o.actual) / o.actual)
    weight = fit_weight(obs, shrinkage)
    mae_model, mae_blend = float(np.mean(model_err)) * 100, float(np.mean(blend_err)) * 100
    has_signal = weight > 0 and mae_blend <= mae_model * (1 - MIN_GAIN)
    if has_signal:
        statement = (
            f"Calls add signal: weight {weight:.2f}, mean absolute error {mae_model:.0f}% → {mae_blend:.0f}% "
            f"(each of {len(periods)} periods scored with a weight fitted on the others)."
        )
    else:
        statement = (
            f"Calls carry no signal beyond the model on your history ({len(periods)} periods: model "
            f"{mae_model:.0f}% mean absolute error, blended {mae_blend:.0f}%)."
        )
    return Signal(
        round(weight, 3), round(mae_model, 1), round(mae_blend, 1), len(obs), len(periods), has_signal, statement
    )


@dataclass
class PersonAccuracy:
    member: Membership
    rows: list[dict[str, Any]] = field(default_factory=list)

    def _pct(self, key: str) -> list[float]:
        return [r[key] for r in self.rows if r[key] is not None]

    @property
    def periods(self) -> int:
        return len(self.rows)

    @property
    def mae_pct(self) -> float | None:
        values = self._pct("error_pct")
        return round(float(np.mean(np.abs(values))), 1) if values else None

    @property
    def bias_pct(self) -> float | None:
        values = self._pct("error_pct")
        return round(float(np.mean(values)), 1) if values else None

    @property
    def commit_met_share(self) -> float | None:
        return round(sum(r["commit_met"] for r in self.rows) / len(self.rows), 3) if self.rows else None


def workspace_signal(workspace: Workspace) -> Signal:
    """The call-signal test on every final call of the workspace (the weight is one figure for everyone)."""
    return accuracy_report(Scope.whole_workspace(workspace))["signal"]  # type: ignore[no-any-return]


def final_calls(scope: Scope, today: date | None = None) -> list[CallSubmission]:
    """Each member's last version before the end of every finished period, for the members in sight."""
    workspace = scope.workspace
    today = today or workspace.today()
    versions = (
        CallSubmission.objects.for_workspace(workspace)
        .visible_to(scope)
        .filter(period_end__lt=today)
        .select_related("member")
        .order_by("member_id", "period_start", "created_at", "version")
    )
    final: dict[tuple[int, date, date], CallSubmission] = {}
    for v in versions:
        if v.created_at <= end_of_day(v.period_end, workspace):
            final[(v.member_id, v.period_start, v.period_end)] = v
    return list(final.values())


def accuracy_report(scope: Scope, today: date | None = None) -> dict[str, Any]:
    """Per person: every finished period's final call against what closed won; and the signal test."""
    workspace = scope.workspace
    people: dict[int, PersonAccuracy] = {}
    observations: list[Observation] = []
    scopes: dict[int, Any] = {}
    won: dict[tuple[date, date], dict[int, float]] = {}
    for v in final_calls(scope, today):
        member = v.member
        if member.id not in scopes:
            scopes[member.id] = call_scope(member).owner_ids
        period = (v.period_start, v.period_end)
        if period not in won:
            won[period] = won_by_owner(Deal.objects.for_workspace(workspace), *period)
        owners = scopes[member.id]
        actual = sum(amount for owner, amount in won[period].items() if owners is None or owner in owners)
        point = v.point
        person = people.setdefault(member.id, PersonAccuracy(member))
        person.rows.append(
            {
                "period": period_label(workspace, v.period_start, v.period_end),
                "period_start": v.period_start,
                "commit": float(v.commit),
                "best_case": float(v.best_case),
                "call": point,
                "actual": actual,
                "model_p50": v.model.get("p50"),
                "error": point - actual,
                "error_pct": (point - actual) / actual * 100 if actual else None,
                "commit_met": actual >= float(v.commit),
                "submitted_at": v.created_at,
            }
        )
        if v.model.get("p50") is not None:
            observations.append(Observation(v.period_start, float(v.model["p50"]), point, actual))
    ranked = sorted(people.values(), key=lambda p: (p.mae_pct is None, p.mae_pct or 0, p.member.display_name))
    return {"people": ranked, "signal": call_signal(observations), "generated_at": timezone.now()}
