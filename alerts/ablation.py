"""How much captured engagement adds to the alerts, measured: the same backtest with every capture-derived input
(captured activities and their signals, crm.engagement) and without them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.backtest import backtest
from alerts.detectors import Thresholds
from crm import engagement
from crm.models import Activity
from tenancy.models import Workspace

_KINDS = ("stale", "engagement")  # the detectors that read activities and captured signals


def _row(result: dict[str, Any]) -> dict[str, Any]:
    hc = result["high_critical"]
    kinds = {k: {m: result["by_kind"].get(k, {}).get(m) for m in ("flagged", "precision", "recall")} for k in _KINDS}
    return {"high_critical": {m: hc.get(m) for m in ("flagged", "precision", "recall", "lift")}, "by_kind": kinds}


def _delta(a: Any, b: Any) -> float | None:
    return round(a - b, 3) if isinstance(a, int | float) and isinstance(b, int | float) else None


def engagement_ablation(
    workspace: Workspace,
    as_of: datetime,
    horizon_days: int,
    thresholds: Thresholds,
    calibration: Any = None,
    *,
    measured: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`measured`: the backtest already run with these thresholds (with capture), not run again."""
    captured = (
        Activity.objects.for_workspace(workspace)
        .filter(external_id__startswith=engagement.CAPTURED_PREFIX, occurred_at__lte=as_of)
        .count()
    )
    with_capture = _row(measured or backtest(workspace, as_of, horizon_days, thresholds, calibration))
    with engagement.without_capture():
        without = _row(backtest(workspace, as_of, horizon_days, thresholds, calibration))
    w, wo = with_capture["high_critical"], without["high_critical"]
    return {
        "captured_activities": captured,
        "with": with_capture,
        "without": without,
        "added": {m: _delta(w[m], wo[m]) for m in ("flagged", "precision", "recall", "lift")},
        "note": "no captured activities before the as-of date: the two runs are the same by construction"
        if not captured
        else "with minus without: what captured mail and meetings add to High+Critical alerts",
    }
