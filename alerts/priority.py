"""Ranking alerts: revenue at risk (amount x win probability x severity) scaled by urgency. No Django here.

Urgency comes from the days to the end of the period the deal is due in: a deal due this quarter
counts fully, one due a year out about a third. Priority tiers are cut on the score relative to
the workspace's median expected deal value, so they mean the same in any currency or deal size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts.detectors import Thresholds

CRITICAL, HIGH, MEDIUM, LOW = 4, 3, 2, 1
# A second signal on the same deal corroborates the first: each adds this share to every severity.
CORROBORATION = 0.35
# A lone signal reaches High or Critical only when it is strong on its own (e.g. 50% past the stage
# norm, activity down to a quarter of its earlier rate, ghosting, over a week past due).
LONE_SIGNAL_MIN_SEVERITY = 0.75


def urgency(days_to_period_end: np.ndarray) -> np.ndarray:
    days = np.clip(np.nan_to_num(np.asarray(days_to_period_end, dtype=float), nan=365.0), 0, None)
    return np.where(days <= 92, 1.0, 1.0 / (1.0 + (days - 92) / 180))


def expected_value(amount: np.ndarray, win_probability: np.ndarray, stage_probability: np.ndarray) -> np.ndarray:
    """amount x probability, the model's when there is one, the stage default otherwise."""
    p = np.where(np.isnan(win_probability), stage_probability, win_probability)
    return np.asarray(amount, dtype=float) * p


@dataclass
class Ranked:
    revenue_at_risk: np.ndarray
    score: np.ndarray
    priority: np.ndarray  # int 1-4


def rank(
    *,
    amount: np.ndarray,
    win_probability: np.ndarray,
    stage_probability: np.ndarray,
    severity: np.ndarray,
    days_to_period_end: np.ndarray,
    reference_value: float,
    thresholds: Thresholds,
    signals: np.ndarray | None = None,
) -> Ranked:
    """Priority of each alert. `signals` is how many detectors flag the same deal (itself included)."""
    count = np.broadcast_to(np.asarray(signals if signals is not None else 1), np.shape(severity))
    boost = 1.0 + CORROBORATION * np.maximum(count - 1, 0)
    at_risk = expected_value(amount, win_probability, stage_probability) * np.clip(severity * boost, 0, 2)
    score = at_risk * urgency(days_to_period_end)
    relative = score / reference_value if reference_value > 0 else np.zeros_like(score)
    priority = np.select(
        [
            relative >= thresholds.critical_score,
            relative >= thresholds.high_score,
            relative >= thresholds.medium_score,
        ],
        [CRITICAL, HIGH, MEDIUM],
        LOW,
    )
    weak_alone = (count <= 1) & (np.asarray(severity) < LONE_SIGNAL_MIN_SEVERITY)
    priority = np.where(weak_alone, np.minimum(priority, MEDIUM), priority)
    return Ranked(at_risk, score, priority.astype(int))


def reference_value(amount: np.ndarray, win_probability: np.ndarray, stage_probability: np.ndarray) -> float:
    """The median expected value of the open deals (0 when there are none)."""
    values = expected_value(amount, win_probability, stage_probability)
    values = values[values > 0]
    return float(np.median(values)) if len(values) else 0.0
