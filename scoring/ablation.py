"""How much captured engagement adds to the scorer, measured: the same evaluation with the workspace's captured
activities and signals (crm.engagement) and without them (their activities dropped, the engagement features empty)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from scoring.features import RawData

METRICS = ("auc", "brier", "log_loss", "ece")


def without_capture(raw: RawData) -> RawData:
    keep = ~raw.act_captured if len(raw.act_captured) == len(raw.act_deal) else slice(None)
    return replace(
        raw,
        act_deal=raw.act_deal[keep],
        act_t=raw.act_t[keep],
        act_kind=raw.act_kind[keep],
        act_inbound=raw.act_inbound[keep],
        act_captured=raw.act_captured[keep] if len(raw.act_captured) == len(raw.act_deal) else raw.act_captured,
        signals={},
    )


def _delta(a: Any, b: Any) -> float | None:
    return round(a - b, 4) if isinstance(a, int | float) and isinstance(b, int | float) else None


def engagement_ablation(raw: RawData, measured: dict[str, Any], evaluate: Callable[[RawData], dict]) -> dict:
    """`measured`: the evaluation already run on `raw`; `evaluate` runs the same one on another RawData."""
    captured = int(raw.act_captured.sum()) if len(raw.act_captured) else 0
    signals = sum(len(v[0]) for v in raw.signals.values())
    with_capture = {m: measured.get(m) for m in METRICS}
    without = evaluate(without_capture(raw))
    without_m = {m: without.get(m) for m in METRICS}
    return {
        "captured_activities": captured,
        "signal_rows": signals,
        "with": with_capture,
        "without": without_m,
        "added": {m: _delta(with_capture[m], without_m[m]) for m in METRICS},
        "note": "no captured activities or signals: the two runs are the same by construction"
        if not captured and not signals
        else "with minus without (AUC up and Brier, log loss, ECE down are gains)",
    }
