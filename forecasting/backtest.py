"""Rolling-origin backtest: a forecast at every month-end, made only from what was known then.

At each origin the forecast is fitted from the workspace as it stood at the end of that day (the
same as-of machinery the live forecast uses), for the rest of the quarter that starts the next day
(`this`) or the quarter after (`next`). Beside it, on the same origins, the two answers a sales team
would give without a model: the weighted pipeline and last period's run rate. The blend of the deal
model with a throughput model and the interval's scale are learnt, at each origin, only from earlier
origins whose period was already over, so the scores below are out of sample. `calibration_as_of` is
what a run on a past day would have learnt: `services.backtest_run` blends with it, so a backtest shows
the forecast the live one would have shown that day. Origins can also be every Sunday (`every="week"`,
for diagnosis): those overlap, so their scores are not independent, and a month of them counts as one
piece of evidence for the blend. No writes here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.db.models import Max

from crm.models import DealHistory, Outcome, Stage
from forecasting.compute import calendar_factor, end_of_day, fit_as_of, forecast_period
from forecasting.inputs import LoadedHistory, load_history, won_between
from forecasting.scoring_rules import (
    MIN_RECORD_DAYS,
    P10,
    P50,
    P90,
    Calibration,
    crps_quantiles,
    learn_calibration,
    pit,
    pit_histogram,
    quantiles_of,
    throughput_quantiles,
)
from forecasting.survival import WON
from tenancy.models import Workspace

HORIZONS = ("this", "next")
EVERY = ("month", "week")
MIN_CLOSED_AT_ORIGIN = 20  # an origin with fewer closes on record has nothing to fit a win rate on
# Weights and spread are learnt from the latest past origins only: a young CRM's first months say
# little about how the model does once the record is long.
LEARN_FROM_LAST = 8  # months of origins


@dataclass
class OriginResult:
    origin: date
    period_start: date
    period_end: date
    actual: float
    model_q: np.ndarray
    throughput_q: np.ndarray
    final_q: np.ndarray
    calibration: Calibration
    weighted_pipeline: float
    run_rate: float
    record_days: float = 0.0

    def as_dict(self) -> dict[str, object]:
        q = self.final_q
        return {
            "date": self.origin.isoformat(),
            "period": f"{self.period_start.isoformat()}:{self.period_end.isoformat()}",
            "actual": round(self.actual, 2),
            "p10": round(float(q[P10]), 2),
            "p50": round(float(q[P50]), 2),
            "p90": round(float(q[P90]), 2),
            "pit": round(pit(q, self.actual), 4),
            "crps": round(crps_quantiles(q, self.actual), 2),
            "model_p50": round(float(self.model_q[P50]), 2),
            "throughput_p50": round(float(self.throughput_q[P50]), 2),
            "model_weight": self.calibration.model_weight,
            "spread_scale": round(self.calibration.spread_scale, 3),
            "calibration_learnt": self.calibration.learnt,
            "weighted_pipeline": round(self.weighted_pipeline, 2),
            "last_period_run_rate": round(self.run_rate, 2),
        }


@dataclass
class RollingBacktest:
    workspace_slug: str
    horizon: str
    origins: list[OriginResult] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        rows = [o for o in self.origins if o.actual > 0]
        actual = np.array([o.actual for o in rows])

        def point_scores(values: np.ndarray) -> dict[str, float | None]:
            if not len(rows):
                return {"mae_pct": None, "bias": None}
            error = (values - actual) / actual * 100
            return {"mae_pct": round(float(np.mean(np.abs(error))), 2), "bias": round(float(np.mean(error)), 2)}

        def scores(qs: list[np.ndarray]) -> dict[str, object]:
            p50 = np.array([q[P50] for q in qs])
            inside = [q[P10] <= o.actual <= q[P90] for q, o in zip(qs, rows, strict=True)]
            crps = [crps_quantiles(q, o.actual) for q, o in zip(qs, rows, strict=True)]
            return {
                **point_scores(p50),
                "coverage_p10_p90": round(float(np.mean(inside)), 3) if rows else None,
                "crps": round(float(np.mean(crps)), 2) if rows else None,
                "crps_pct": round(float(np.mean(np.array(crps) / actual) * 100), 2) if rows else None,
            }

        final = scores([o.final_q for o in rows])
        return {
            "calibration_now": self.calibration_now().__dict__,
            "workspace": self.workspace_slug,
            "horizon": self.horizon,
            "origins": [o.as_dict() for o in self.origins],
            "n_origins": len(self.origins),
            "bias": final["bias"],
            "mae_pct": final["mae_pct"],
            "coverage_p10_p90": final["coverage_p10_p90"],
            "crps": final["crps"],
            "crps_pct": final["crps_pct"],
            "pit_histogram": pit_histogram([pit(o.final_q, o.actual) for o in rows]),
            "components": {
                "deal_model": scores([o.model_q for o in rows]),
                "throughput": scores([o.throughput_q for o in rows]),
            },
            "baselines": {
                "weighted_pipeline": point_scores(np.array([o.weighted_pipeline for o in rows])),
                "last_period_run_rate": point_scores(np.array([o.run_rate for o in rows])),
            },
        }

    def calibration_now(self) -> Calibration:
        """What a forecast made today should use: learnt from the latest origins, all of them over."""
        return learnt_from([o for o in self.origins if o.actual > 0])


def learnt_from(past: list[OriginResult]) -> Calibration:
    """The calibration learnt from the origins of the latest `LEARN_FROM_LAST` months among `past`; the
    origins of one month (weekly ones) count together as one piece of evidence."""
    months = set(sorted({(o.origin.year, o.origin.month) for o in past})[-LEARN_FROM_LAST:])
    kept = [o for o in past if (o.origin.year, o.origin.month) in months]
    return learn_calibration([(o.model_q, o.throughput_q, o.actual) for o in kept], evidence=float(len(months)))


def month_ends(first: date, last: date) -> list[date]:
    out: list[date] = []
    day = date(first.year, first.month, 1)
    while True:
        nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        end = nxt - timedelta(days=1)
        if end > last:
            return out
        if end >= first:
            out.append(end)
        day = nxt


def week_ends(first: date, last: date) -> list[date]:
    """Sundays from `first` to `last`."""
    day = first + timedelta(days=(6 - first.weekday()) % 7)
    out: list[date] = []
    while day <= last:
        out.append(day)
        day += timedelta(days=7)
    return out


def origin_days(first: date, last: date, every: str) -> list[date]:
    """Month-ends; with `week`, every Sunday as well (so the month-end origins are still there to compare)."""
    ends = month_ends(first, last)
    return sorted(set(ends) | set(week_ends(first, last))) if every == "week" else ends


def period_for(workspace: Workspace, origin: date, horizon: str) -> tuple[date, date]:
    """`this`: from the day after the origin to the end of its quarter; `next`: the quarter after."""
    tomorrow = origin + timedelta(days=1)
    start, end = tomorrow, workspace.fiscal_quarter_bounds(tomorrow)[1]
    if horizon == "next":
        start, end = workspace.fiscal_quarter_bounds(end + timedelta(days=1))
    return start, end


def data_end(workspace: Workspace) -> date | None:
    """The last day the workspace's record covers (its latest recorded change)."""
    latest = DealHistory.objects.for_workspace(workspace).aggregate(v=Max("changed_at"))["v"]
    return latest.astimezone(workspace.tz).date() if latest else None


def default_origins(
    workspace: Workspace, final: LoadedHistory, horizon: str, last_day: date, every: str = "month"
) -> list[date]:
    """Month-ends (or week-ends) with enough closes on record whose period is over by `last_day`."""
    h = final.history
    closed = np.sort(h.closed[~np.isnan(h.closed)])
    if len(closed) < MIN_CLOSED_AT_ORIGIN:
        return []
    final_day = final.as_of.astimezone(workspace.tz).date()
    first_ready = final_day + timedelta(days=int(np.ceil(closed[MIN_CLOSED_AT_ORIGIN - 1])))
    first_created = final_day + timedelta(days=int(np.floor(h.created.min())))
    return [
        d
        for d in origin_days(max(first_ready, first_created), last_day, every)
        if period_for(workspace, d, horizon)[1] <= last_day
    ]


def _stage_probability(workspace: Workspace) -> dict[int, float]:
    return {
        sid: float(p) / 100
        for sid, p in Stage.objects.for_workspace(workspace).values_list("id", "default_probability")
    }


def weighted_pipeline(loaded: LoadedHistory, stage_probability: dict[int, float], start: date, end: date) -> float:
    """Amount x probability of deals open at the origin expected to close in the period.

    The deal's own probability where a rep set one, else its stage's; a deal with no expected close
    date (some exports have none) counts in whatever period is asked, as a team without dates would.
    """
    total = 0.0
    for snap in loaded.snapshots:
        if snap.outcome != Outcome.OPEN:
            continue
        close = snap.expected_close_date
        if close is not None and not start <= close <= end:
            continue
        p = float(snap.probability) / 100 if snap.probability is not None else stage_probability.get(snap.stage_id, 0)
        total += float(snap.amount) * p
    return total


def won_record(loaded: LoadedHistory) -> tuple[np.ndarray, np.ndarray, float]:
    h = loaded.history
    won = h.outcome == WON
    closed = h.closed[~np.isnan(h.closed)]
    record_days = float(-closed.min()) if len(closed) else 0.0
    return h.closed[won], h.amount[won], record_days


def throughput_for(
    workspace: Workspace, loaded: LoadedHistory, start: date, end: date, realised: float
) -> np.ndarray | None:
    """The throughput model's quantiles of the period's won revenue (`realised`: already won in it), or None
    when the record of closes is too short to take a run rate from or nothing of the period is left."""
    won_day, won_amount, record_days = won_record(loaded)
    as_of_day = loaded.as_of.astimezone(workspace.tz).date()
    days = (end - max(start - timedelta(days=1), as_of_day)).days
    if record_days < MIN_RECORD_DAYS or days < 1:
        return None
    # The run rate is a quarter's average pace; the days left may sit in a quarter's faster or slower months.
    pace = calendar_factor(workspace, loaded, start, end)
    return realised + pace * throughput_quantiles(won_day, won_amount, record_days=record_days, period_days=days)


def horizon_of(workspace: Workspace, as_of: date, end: date) -> str:
    """`this` when the period ends in the quarter that starts the day after `as_of` (or earlier), else `next`."""
    return "this" if end <= period_for(workspace, as_of, "this")[1] else "next"


def calibration_as_of(workspace: Workspace, as_of: date, horizon: str, *, sims: int = 2000) -> Calibration:
    """What a rolling backtest run at the end of `as_of` would have stored for `horizon`: learnt only from
    origins whose period was over by then (the record is cut at `as_of`, so nothing later is seen)."""
    return backtest_rolling(workspace, horizon=horizon, sims=sims, record_end=as_of).calibration_now()


def run_rate(loaded: LoadedHistory, origin: date, workspace: Workspace, start: date, end: date) -> float:
    """Won in the quarter-length just before the origin, prorated to the days forecast."""
    q_start, q_end = workspace.fiscal_quarter_bounds(end)
    length = (q_end - q_start).days + 1
    won = won_between(loaded, origin - timedelta(days=length - 1), origin, workspace.tz)
    return won * ((end - max(start, origin + timedelta(days=1))).days + 1) / length


def backtest_rolling(
    workspace: Workspace,
    *,
    horizon: str = "this",
    first: date | None = None,
    last: date | None = None,
    sims: int = 2000,
    record_end: date | None = None,
    every: str = "month",
    progress: Callable[[int, int], None] | None = None,
) -> RollingBacktest:
    """`record_end`: the last day the record is complete to (default: the day of its latest change).
    `every`: an origin at each month-end or each week-end (Sunday); weekly origins overlap, so their
    scores are not independent. `progress(done, total)` is told after each origin (the accuracy page's job)."""
    if horizon not in HORIZONS:
        raise ValueError(f"horizon must be one of {', '.join(HORIZONS)}")
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}")
    end_day = record_end or data_end(workspace)
    out = RollingBacktest(workspace_slug=workspace.slug, horizon=horizon)
    if end_day is None:
        return out
    final = load_history(workspace, end_of_day(end_day, workspace))
    origins = default_origins(workspace, final, horizon, end_day, every)
    origins = [d for d in origins if (first is None or d >= first) and (last is None or d <= last)]
    probability = _stage_probability(workspace)
    if progress is not None:
        progress(0, len(origins))
    for seed, origin in enumerate(origins):
        start, end = period_for(workspace, origin, horizon)
        loaded, model = fit_as_of(workspace, end_of_day(origin, workspace))
        forecast = forecast_period(workspace, loaded, model, start, end, sims=sims, seed=seed)
        model_q = quantiles_of(forecast.result.totals)
        record_days = won_record(loaded)[2]
        throughput = throughput_for(workspace, loaded, start, end, forecast.result.realised)
        throughput_q = model_q if throughput is None else throughput  # no record to take a run rate from
        calibration = learnt_from([o for o in out.origins if o.period_end <= origin and o.actual > 0])
        out.origins.append(
            OriginResult(
                origin=origin,
                period_start=start,
                period_end=end,
                actual=won_between(final, start, end, workspace.tz),
                model_q=model_q,
                throughput_q=throughput_q,
                final_q=calibration.apply(model_q, throughput_q),
                calibration=calibration,
                weighted_pipeline=forecast.result.realised + weighted_pipeline(loaded, probability, start, end),
                run_rate=forecast.result.realised + run_rate(loaded, origin, workspace, start, end),
                record_days=record_days,
            )
        )
        if progress is not None:
            progress(seed + 1, len(origins))
    return out


def replay(workspace: Workspace, *, last_day: date, months: int, sims: int = 2000) -> list[dict[str, object]]:
    """The forecasts the live one would have shown at each month-end of the last `months` (the rest of that
    quarter and the next one; blended as learnt from earlier origins only), beside what landed.

    Only periods that are over by `last_day` are included; nothing is stored.
    """
    since = date(last_day.year, last_day.month, 1)
    for _ in range(months):
        since = date(since.year - (since.month == 1), (since.month - 2) % 12 + 1, 1)
    rows: list[dict[str, object]] = []
    for horizon in HORIZONS:
        for o in backtest_rolling(workspace, horizon=horizon, sims=sims, record_end=last_day).origins:
            if o.origin >= since:
                rows.append(
                    {"as_of": o.origin, "start": o.period_start, "end": o.period_end, "actual": o.actual}
                    | {k: float(o.final_q[i]) for k, i in (("p10", P10), ("p50", P50), ("p90", P90))}
                )
    return sorted(rows, key=lambda r: (r["as_of"], r["start"]))
