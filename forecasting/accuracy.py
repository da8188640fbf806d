"""Reads for the accuracy page's rolling-backtest section (the stored runs of `backtest_rolling`)."""

from __future__ import annotations

from forecasting.models import BacktestJob, BacktestJobStatus, ForecastRun, RollingBacktest
from forecasting.scoring_rules import MIN_PAST_ORIGINS, PIT_BINS
from tenancy.models import Workspace

HORIZON_LABELS = {"this": "Rest of this quarter", "next": "Next quarter"}
MONTHS_OF_QUARTER = ("First month", "Second month", "Third month")
RUSH_SHOWN = 0.05  # a month of the quarter this much faster or slower than average is called a pattern


def learnt_now(workspace: Workspace) -> dict[str, object] | None:
    """What the latest forecast run took from the workspace's history beside the blend: the last quarter's win
    rate against the whole record's, and the pace of wins by month of the quarter (None before any run)."""
    run = ForecastRun.objects.for_workspace(workspace).first()
    if run is None:
        return None
    inputs = run.inputs or {}
    pace = inputs.get("month_pace") or [1.0, 1.0, 1.0]
    return {
        "run": run,
        "win_rate_level": inputs.get("recent_win_rate_level", 1.0),
        "pooled_win_rate": inputs.get("pooled_win_rate"),
        "months": [{"name": name, "pace": value} for name, value in zip(MONTHS_OF_QUARTER, pace, strict=False)],
        "rush_learnt": any(abs(float(v) - 1.0) >= RUSH_SHOWN for v in pace),
    }


def rolling_backtests(workspace: Workspace) -> list[dict[str, object]]:
    """Per horizon: scores of the blend, of its two parts and of the baselines, PIT bars, per-origin rows."""
    out = []
    for run in RollingBacktest.objects.for_workspace(workspace):
        s = run.summary
        pit = s.get("pit_histogram") or [0] * PIT_BINS
        top = max(max(pit), 1)
        components = s.get("components", {})
        baselines = s.get("baselines", {})
        out.append(
            {
                "run": run,
                "label": HORIZON_LABELS.get(run.horizon, run.horizon),
                "rows": [
                    {"name": "Blend (shown forecast)", **_scores(s)},
                    {"name": "Deal-level simulation", **_scores(components.get("deal_model", {}))},
                    {"name": "Throughput (run rate)", **_scores(components.get("throughput", {}))},
                    {"name": "Weighted pipeline", **_scores(baselines.get("weighted_pipeline", {}))},
                    {"name": "Last period's run rate", **_scores(baselines.get("last_period_run_rate", {}))},
                ],
                "pit": [
                    {"low": i / len(pit), "high": (i + 1) / len(pit), "count": c, "width": round(100 * c / top)}
                    for i, c in enumerate(pit)
                ],
                "origins": run.origins,
                "learnt": sum(1 for o in run.origins if o.get("calibration_learnt")),
                "min_past": MIN_PAST_ORIGINS,
            }
        )
    return out


def _scores(values: dict[str, object]) -> dict[str, object]:
    keys = ("mae_pct", "bias", "coverage_p10_p90", "crps")
    return {k: values.get(k) for k in keys}


def backtest_jobs(workspace: Workspace, limit: int = 30) -> dict[str, object]:
    """Backtests started from the page, newest first, each with its blend's and baselines' scores once done."""
    rows = []
    jobs = list(BacktestJob.objects.for_workspace(workspace).select_related("requested_by")[:limit])
    for job in jobs:
        s = job.summary or {}
        baselines = s.get("baselines", {})
        rows.append(
            {
                "job": job,
                "label": HORIZON_LABELS.get(job.horizon, job.horizon),
                "blend": _scores(s),
                "weighted_pipeline": _scores(baselines.get("weighted_pipeline", {})),
                "run_rate": _scores(baselines.get("last_period_run_rate", {})),
            }
        )
    active = any(j.status in (BacktestJobStatus.QUEUED, BacktestJobStatus.RUNNING) for j in jobs)
    return {"rows": rows, "active": active}
