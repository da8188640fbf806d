"""Hierarchical Beta-Binomial win rates: workspace → stage → stage × size segment (plain NumPy).

Each level's rate is its own (weighted) wins and deals pulled toward the level above by `strength`
pseudo-deals, so a stage seen five times says little and one seen five hundred times says a lot.
This is both the stage-rate baseline every model must beat and the fallback when history is short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

UNKNOWN = -1.0


def stage_keys(stage_order: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(stage_order), UNKNOWN, np.round(stage_order, 4))


def size_segments(amount_vs_workspace: np.ndarray) -> np.ndarray:
    """0 small, 1 usual, 2 large (geometric distance from the workspace's usual deal); -1 unknown."""
    a = amount_vs_workspace
    return np.where(np.isnan(a), UNKNOWN, np.where(a < -0.5, 0.0, np.where(a > 0.5, 2.0, 1.0)))


@dataclass
class BetaBinomialRates:
    use_segments: bool = True
    strength: float = 20.0
    base: float = 0.5
    stage_rates: dict[float, float] = field(default_factory=dict)
    segment_rates: dict[tuple[float, float], float] = field(default_factory=dict)
    stage_counts: dict[float, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "stage_segment" if self.use_segments else "stage_rate"

    def fit(self, stage: np.ndarray, segment: np.ndarray, y: np.ndarray, w: np.ndarray) -> BetaBinomialRates:
        total = float(w.sum())
        self.base = float((w * y).sum() / total) if total > 0 else 0.5
        self.stage_rates, self.segment_rates, self.stage_counts = {}, {}, {}
        for s in np.unique(stage):
            m = stage == s
            n, won = float(w[m].sum()), float((w[m] * y[m]).sum())
            rate = (won + self.strength * self.base) / (n + self.strength)
            self.stage_rates[float(s)] = rate
            self.stage_counts[float(s)] = n
            if not self.use_segments:
                continue
            for g in np.unique(segment[m]):
                mm = m & (segment == g)
                n2, won2 = float(w[mm].sum()), float((w[mm] * y[mm]).sum())
                self.segment_rates[(float(s), float(g))] = (won2 + self.strength * rate) / (n2 + self.strength)
        return self

    def predict(self, stage: np.ndarray, segment: np.ndarray) -> np.ndarray:
        out = np.empty(len(stage))
        for i, (s, g) in enumerate(zip(stage.tolist(), segment.tolist(), strict=True)):
            rate = self.stage_rates.get(s, self.base)
            if self.use_segments:
                rate = self.segment_rates.get((s, g), rate)
            out[i] = rate
        return out

    def confidence_deals(self, stage: np.ndarray) -> np.ndarray:
        """How many past deals stand behind each rate (for the 'confidence' shown beside a score)."""
        return np.array([self.stage_counts.get(s, 0.0) for s in stage.tolist()])


def beta_interval(rate: float, n: float, strength: float = 20.0) -> tuple[float, float]:
    """A rough 80% interval of a Beta rate backed by n deals (normal approximation)."""
    k = n + strength
    sd = math.sqrt(max(rate * (1 - rate), 1e-9) / (k + 1))
    return max(0.0, rate - 1.2816 * sd), min(1.0, rate + 1.2816 * sd)
