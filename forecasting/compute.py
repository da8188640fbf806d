"""Runs the model for a workspace: loads history as of a moment, fits, simulates. No writes here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np

from forecasting import seasonality
from forecasting.engine import ForecastResult, simulate
from forecasting.inputs import LoadedHistory, load_history, won_between
from forecasting.model import FittedModel, fit, new_business_inputs, open_deal_inputs
from forecasting.survival import WON
from tenancy.models import Workspace

DEFAULT_SIMS = 10_000


@dataclass(frozen=True)
class WhatIf:
    """A scenario: nothing stored changes."""

    exclude_deal_ids: frozenset[int] = frozenset()
    slip_days: dict[int, int] = field(default_factory=dict)
    win_rate_scale: float = 1.0
    add_reps: int = 0
    ramp_days: int = 90

    @property
    def is_base(self) -> bool:
        return not (self.exclude_deal_ids or self.slip_days or self.win_rate_scale != 1.0 or self.add_reps)


@dataclass
class PeriodForecast:
    start: date
    end: date
    result: ForecastResult
    deal_ids: np.ndarray  # open deals, aligned with result.deal_probability
    owner_ids: np.ndarray
    realised_by_owner: dict[int, float]


def end_of_day(day: date, workspace: Workspace) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=workspace.tz)


def quarters_from(workspace: Workspace, day: date, count: int = 4) -> list[tuple[date, date]]:
    out = []
    start, end = workspace.fiscal_quarter_bounds(day)
    for _ in range(count):
        out.append((start, end))
        start, end = workspace.fiscal_quarter_bounds(end + timedelta(days=1))
    return out


def fit_as_of(
    workspace: Workspace, as_of: datetime, *, live: bool = False, changed_ids: Iterable[int] = ()
) -> tuple[LoadedHistory, FittedModel]:
    loaded = load_history(workspace, as_of, live=live, changed_ids=changed_ids)
    return loaded, fit(loaded.history)


def month_pace(workspace: Workspace, loaded: LoadedHistory) -> np.ndarray:
    """Wins per day in the first, second and third month of a fiscal quarter against the quarter's average, learnt
    from the wins on record (`forecasting.seasonality`; ones when nothing is learnt)."""
    h = loaded.history
    closed = h.closed[~np.isnan(h.closed)]
    if not len(closed):
        return seasonality.NO_EFFECT
    local = loaded.as_of.astimezone(workspace.tz)
    as_of_day = local.date()
    # Days relative to the as-of moment, moved to the local midnight that starts its day, give each close's day.
    since_midnight = (local - datetime.combine(as_of_day, time(), tzinfo=local.tzinfo)).total_seconds() / 86400
    won_offsets = np.floor(h.closed[h.outcome == WON] + since_midnight).astype(np.int64)
    first = as_of_day + timedelta(days=int(np.floor(closed.min() + since_midnight)))
    return seasonality.month_intensity(workspace, as_of_day.toordinal() + won_offsets, first, as_of_day)


def calendar_factor(workspace: Workspace, loaded: LoadedHistory, start: date, end: date) -> float:
    """How much faster than the quarter's average pace deals win over the days of [start, end] still to come."""
    as_of_day = loaded.as_of.astimezone(workspace.tz).date()
    return seasonality.window_factor(
        workspace, month_pace(workspace, loaded), max(start, as_of_day + timedelta(days=1)), end
    )


def active_rep_count(loaded: LoadedHistory, days: int = 90) -> int:
    recent = loaded.history.created > -days
    return max(len(set(loaded.owner_ids[recent].tolist()) - {0}), 1)


def forecast_period(
    workspace: Workspace,
    loaded: LoadedHistory,
    model: FittedModel,
    start: date,
    end: date,
    *,
    sims: int = DEFAULT_SIMS,
    seed: int = 0,
    what_if: WhatIf | None = None,
    scores: dict[int, float] | None = None,
    keep_outcomes: bool = False,
) -> PeriodForecast:
    """Closed-won revenue in [start, end], as of `loaded.as_of` (`keep_outcomes`: see `engine.simulate`)."""
    what_if = what_if or WhatIf()
    as_of_day = loaded.as_of.astimezone(workspace.tz).date()
    w0 = max((start - as_of_day).days, 1)
    w1 = (end - as_of_day).days
    h = loaded.history
    realised_by_owner: dict[int, float] = {}
    if start <= as_of_day:
        for snap in loaded.snapshots:
            if snap.outcome == "won" and snap.closed_at is not None:
                day = snap.closed_at.astimezone(workspace.tz).date()
                if start <= day <= min(end, as_of_day):
                    realised_by_owner[snap.owner_id or 0] = realised_by_owner.get(snap.owner_id or 0, 0.0) + float(
                        snap.amount
                    )
    realised = sum(realised_by_owner.values())
    slip = np.zeros(len(h.created), dtype=np.int64)
    for i, deal_id in enumerate(loaded.deal_ids):
        slip[i] = what_if.slip_days.get(int(deal_id), 0)
    fixed = None
    if scores:
        fixed = np.array([scores.get(int(d), np.nan) for d in loaded.deal_ids], dtype=float)
    if w1 < 1:
        idx = np.array([], dtype=np.int64)
        _, deals = open_deal_inputs(h, model, window=(1, 1))
        deals = type(deals)(amount=deals.amount[:0], segment=deals.segment[:0], weight=deals.weight[:0])
        nb = None
    else:
        # The quarter-end rush scales the pace of wins in the window, not the what-if's win rate.
        pace = calendar_factor(workspace, loaded, start, end)
        idx, deals = open_deal_inputs(
            h,
            model,
            window=(w0, w1),
            slip_days=slip,
            rate_scale=what_if.win_rate_scale * pace,
            fixed_probability=fixed,
        )
        multiplier = 1.0
        if what_if.add_reps:
            ramp = np.minimum(np.arange(1, w1 + 1) / max(what_if.ramp_days, 1), 1.0).mean()
            multiplier += what_if.add_reps * ramp / active_rep_count(loaded)
        nb = new_business_inputs(
            model, window=(w0, w1), rate_multiplier=multiplier, rate_scale=what_if.win_rate_scale * pace
        )
    deal_ids = loaded.deal_ids[idx]
    owner_ids = loaded.owner_ids[idx]
    if what_if.exclude_deal_ids:
        keep = np.array([int(d) not in what_if.exclude_deal_ids for d in deal_ids], dtype=bool)
        deals = type(deals)(amount=deals.amount[keep], segment=deals.segment[keep], weight=deals.weight[keep])
        deal_ids, owner_ids = deal_ids[keep], owner_ids[keep]
    owners = sorted(set(owner_ids.tolist()) | set(realised_by_owner))
    owner_index = {o: i for i, o in enumerate(owners)}
    deals = type(deals)(
        amount=deals.amount,
        segment=deals.segment,
        weight=deals.weight,
        group=np.array([owner_index[int(o)] for o in owner_ids], dtype=np.intp),
    )
    # Pace swings average out over a longer window (months vary independently).
    months = max((end - max(start, as_of_day)).days / 30.0, 1.0)
    pace_cv = model.pace_cv / np.sqrt(months)
    # A quarter's win-rate shock does not average out over its months; both factors scale every deal.
    pace_cv = float(np.sqrt((1 + pace_cv**2) * (1 + model.win_cv**2) - 1))
    result = simulate(
        deals=deals,
        rates=model.rates,
        new_business=nb,
        realised=realised,
        sims=sims,
        seed=seed,
        n_groups=len(owners),
        pace_shape=1.0 / pace_cv**2 if pace_cv > 0 else None,
        keep_outcomes=keep_outcomes,
    )
    result.extras["owners"] = owners  # type: ignore[assignment]
    return PeriodForecast(
        start=start,
        end=end,
        result=result,
        deal_ids=deal_ids,
        owner_ids=owner_ids,
        realised_by_owner=realised_by_owner,
    )


def actual_won(workspace: Workspace, start: date, end: date) -> float:
    """Closed-won revenue that landed in [start, end], from today's data."""
    loaded = load_history(workspace, end_of_day(end, workspace))
    return won_between(loaded, start, end, workspace.tz)


def summary(result: ForecastResult) -> dict[str, float]:
    return {**{k: round(v, 2) for k, v in result.percentiles.items()}, "mean": round(result.mean, 2)}


def crps(samples: np.ndarray, actual: float) -> float:
    """Continuous ranked probability score of an ensemble (lower is better; in currency units)."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    term1 = np.mean(np.abs(x - actual))
    # E|X - X'| for the empirical distribution, from the sorted sample in O(n).
    weights = 2 * np.arange(1, n + 1) - n - 1
    term2 = 2 * np.sum(weights * x) / (n * n)
    return float(term1 - 0.5 * term2)
