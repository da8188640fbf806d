"""The live forecast blended with the throughput model, as the workspace's rolling backtest taught.

`backtest_rolling` stores, per horizon, the blend weight and interval scale learnt from its latest
origins (`calibration_now`). A live forecast of the current quarter applies them to its simulations:
each simulation keeps its rank and moves to the blended, rescaled quantile at that rank, so the
headline percentiles, the histogram and every chance of reaching a target stay one distribution.
Without a stored backtest nothing changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from forecasting.backtest import won_record
from forecasting.compute import PeriodForecast
from forecasting.engine import ForecastResult, distribution_of
from forecasting.inputs import LoadedHistory
from forecasting.models import RollingBacktest
from forecasting.scoring_rules import MIN_RECORD_DAYS, QUANTILES, Calibration, throughput_quantiles
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


def blend_live(
    workspace: Workspace, loaded: LoadedHistory, forecast: PeriodForecast
) -> tuple[PeriodForecast, dict[str, object] | None]:
    """The forecast blended as the stored backtest says (and a note of what was applied), or unchanged."""
    calibration = stored_calibration(workspace)
    won_day, won_amount, record_days = won_record(loaded)
    if calibration is None or record_days < MIN_RECORD_DAYS:
        return forecast, None
    as_of_day = loaded.as_of.astimezone(workspace.tz).date()
    days = (forecast.end - max(forecast.start - timedelta(days=1), as_of_day)).days
    if days < 1:
        return forecast, None
    throughput_q = forecast.result.realised + throughput_quantiles(
        won_day, won_amount, record_days=record_days, period_days=days
    )
    result = with_totals(forecast.result, blended_totals(forecast.result.totals, throughput_q, calibration))
    note = {**calibration.__dict__, "throughput_p50": round(float(np.median(throughput_q)), 2)}
    return replace(forecast, result=result), note
