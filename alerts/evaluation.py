"""The alerts a set of facts calls for: the detectors, ranked, optionally weighted by a workspace's calibration.

A plain core over NumPy arrays (no database): the monitors (alerts.services) and the backtest share it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from alerts import detectors, priority
from alerts.detectors import Thresholds

if TYPE_CHECKING:
    from alerts.calibration import Calibration
    from alerts.facts import LoadedFacts


def evaluate(
    loaded: LoadedFacts, thresholds: Thresholds, *, calibration: Calibration | None = None
) -> dict[tuple[int, str], dict[str, Any]]:
    """The alerts the facts call for: {(deal_id, kind): fields}. Used by the monitors and the backtest.

    With a `calibration.Calibration`, each rule's priority follows what it measured on this
    workspace's history (a rule that has not predicted losses here is shown at Low, with why)."""
    f = loaded.facts
    if not len(f):
        return {}
    findings = detectors.run_all(f, thresholds)
    signals = np.sum([finding.flagged for finding in findings.values()], axis=0)
    reference = priority.reference_value(f.amount, f.win_probability, f.stage_probability)
    wanted: dict[tuple[int, str], dict[str, Any]] = {}
    for kind, finding in findings.items():
        idx = np.flatnonzero(finding.flagged)
        if not len(idx):
            continue
        ranked = priority.rank(
            amount=f.amount[idx],
            win_probability=f.win_probability[idx],
            stage_probability=f.stage_probability[idx],
            severity=finding.severity[idx] * (calibration.weight(kind) if calibration is not None else 1.0),
            days_to_period_end=f.days_to_period_end[idx],
            reference_value=reference,
            thresholds=thresholds,
            signals=signals[idx],
        )
        if calibration is not None:
            ranked = calibration.adjust(kind, ranked, thresholds)
        for j, i in enumerate(idx):
            wanted[(int(f.deal_id[i]), kind)] = {
                "index": int(i),
                "priority": int(ranked.priority[j]),
                "score": float(ranked.score[j]),
                "revenue_at_risk": float(ranked.revenue_at_risk[j]),
                "note": calibration.note(kind) if calibration is not None else "",
            }
    return wanted
