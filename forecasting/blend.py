"""The live forecast blended with the throughput model, as the workspace's rolling backtest taught.

`backtest_rolling` stores, per horizon, the blend weight and interval scale learnt from its latest
origins (`calibration_now`). A live forecast of the current quarter applies them to its simulations:
each simulation keeps its rank and moves to the blended, rescaled quantile at that rank, so the
headline percentiles, the histogram and every chance of reaching a target stay one distribution;
the next quarter's summary applies what the backtest of `next` learnt. Without a stored backtest
nothing changes. A backtest of a past day (`services.backtest_run`) blends with the calibration a
rolling backtest run that day would have stored (`backtest.calibration_as_of`), so it shows the
forecast the live one would have shown then.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from forecasting.backtest import throughput_for
from forecasting.compute import PeriodForecast
from forecasting.engine import ForecastResult, distribution_of
from forecasting.inputs import LoadedHistory
from forecasting.models import RollingBacktest
from forecasting.scoring_rules import QUANTILES, Calibration
from tenancy.models import Workspace


def stored_calibration(workspace: Workspace, horizon: str = "this") -> Calibration | None:
    stored = RollingBacktest.objects.for_workspace(workspace).filter(horizon=horizon)
    summary = stored.values_list("summary", flat=True).first()
    values = (summary or {}).get("calibration_now")
    return Calibration(**values) if values else None


def blended_totals(totals: np.ndarray, throughput_q: np.ndarray, calibration: Calibration) -> np.ndarray:
    order = np.argsort(totals, kind="stable")
    ranks = (np.arange(len(totals)) + 0.5) / len(totals)
    w = calibration.model_weight
    mixed = w * totals[order] + (1 - w) * np.interp(ranks, QUANTILES, throughput_q)
    median = float(np.median(mixed))
    out = np.empty_like(mixed)
    out[order] = np.maximum(median + calibration.spread_scale * (mixed - median), 0.0)
    return out


def with_totals(result: ForecastResult, totals: np.ndarray) -> ForecastResult:
    return replace(result, **distribution_of(totals))


def blend_calibrated(
    workspace: Workspace, loaded: LoadedHistory, forecast: PeriodForecast, calibration: Calibration
) -> tuple[PeriodForecast, dict[str, object] | None]:
    """The deal model's forecast blended with the throughput model as `calibration` says, and a note of its
    parts; unchanged (and no note) when the record is too short for a run rate or the period is over."""
    throughput_q = throughput_for(workspace, loaded, forecast.start, forecast.end, forecast.result.realised)
    if throughput_q is None:
        return forecast, None
    result = with_totals(forecast.result, blended_totals(forecast.result.totals, throughput_q, calibration))
    note = {
        **calibration.__dict__,
        "model_p50": round(float(np.median(forecast.result.totals)), 2),
        "throughput_p50": round(float(np.median(throughput_q)), 2),
    }
    return replace(forecast, result=result), note


def blend_live(
    workspace: Workspace, loaded: LoadedHistory, forecast: PeriodForecast, horizon: str = "this"
) -> tuple[PeriodForecast, dict[str, object] | None]:
    """The forecast blended as the stored backtest of `horizon` says (and a note of what was applied), or unchanged."""
    calibration = stored_calibration(workspace, horizon)
    if calibration is None:
        return forecast, None
    return blend_calibrated(workspace, loaded, forecast, calibration)
