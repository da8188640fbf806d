"""Scores of probabilistic forecasts and the throughput model, blend and recalibration. Plain NumPy.

Everything here works on quantile vectors (`QUANTILES`, one value per level) so a forecast of any
origin is a short array, past origins can be kept cheaply, and the blend of two forecasts is the
average of their quantiles (Vincentisation: unlike a mixture it does not widen two forecasts that
disagree into one vague one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUANTILES = np.linspace(0.01, 0.99, 99)  # levels kept per forecast
P10, P50, P90 = 9, 49, 89  # their indices in QUANTILES
PIT_BINS = 10
# Fewer past origins with a known actual than this and weights and spread are not learnt.
MIN_PAST_ORIGINS = 4
# What is assumed before the past has shown anything: an even split between the deal simulation and
# the run rate, and the intervals as simulated. Both forecasts rest on the same record of closes, so a
# short record is no more reason to trust one than the other: trusting the deal model on a young record
# (weight 0.96 at a month of closes) let it over-forecast exactly when the open pipeline was large next
# to what had ever closed (demo, first months: P50 1.95M against 0.23M; Maven on 2017-03-31: open deals
# +33% of what they brought, hidden by new business under-forecast by 42%).
PRIOR_MODEL_WEIGHT = 0.5
# What is learnt from a few origins is shrunk toward that prior as if it had this many origins of its
# own: four origins move the weight two thirds of the way, eight four fifths.
PRIOR_ORIGINS = 4.0
WEIGHT_GRID = np.linspace(0.0, 1.0, 21)
SCALE_BOUNDS = (0.5, 3.0)
TARGET_COVERAGE = 0.8  # P10-P90
DEFAULT_THROUGHPUT_CV = 0.25  # a month's won revenue swings this much when it cannot be measured
MIN_RECORD_DAYS = 28


def quantiles_of(samples: np.ndarray) -> np.ndarray:
    return np.quantile(np.asarray(samples, dtype=float), QUANTILES)


def crps_quantiles(q: np.ndarray, actual: float) -> float:
    """CRPS from quantiles: twice the mean pinball loss over the levels (lower is better; currency)."""
    diff = actual - q
    return float(2 * np.mean(np.maximum(QUANTILES * diff, (QUANTILES - 1) * diff)))


def pit(q: np.ndarray, actual: float) -> float:
    """Where the actual falls in the forecast distribution (0-1); uniform when calibrated."""
    return float(np.interp(actual, q, QUANTILES, left=0.0, right=1.0))


def pit_histogram(values: list[float]) -> list[int]:
    counts, _ = np.histogram(np.clip(values, 0, 1 - 1e-9), bins=PIT_BINS, range=(0.0, 1.0))
    return counts.tolist()


def throughput_quantiles(
    won_day: np.ndarray, won_amount: np.ndarray, *, record_days: float, period_days: int
) -> np.ndarray:
    """Run-rate forecast of the revenue won in the next `period_days`.

    `won_day` is each win's day relative to the origin (<= 0), over a record of closes `record_days`
    long. The rate is the revenue per day over the last quarter of the record (or all of it if
    shorter); the spread is the month-to-month variation of that revenue, shrunk by the number of
    months in the period, widened by how few months the rate rests on. Lognormal, so never negative.
    """
    window = float(min(max(record_days, 1.0), 91.0))
    recent = won_day > -window
    rate = float(won_amount[recent].sum()) / window
    mean = rate * period_days
    months = int(record_days // 30)
    cv = DEFAULT_THROUGHPUT_CV
    if months >= 3:
        monthly = np.array(
            [won_amount[(won_day <= -30 * m) & (won_day > -30 * (m + 1))].sum() for m in range(min(months, 12))]
        )
        if monthly.mean() > 0:
            cv = float(np.clip(monthly.std(ddof=1) / monthly.mean(), 0.05, 1.5))
    period_months = max(period_days / 30.0, 1.0)
    rate_months = max(window / 30.0, 1.0)
    sigma = float(np.sqrt(np.log1p(cv**2 / period_months + cv**2 / rate_months)))
    if mean <= 0:
        return np.zeros(len(QUANTILES))
    from scipy.stats import norm

    z = norm.ppf(QUANTILES)
    return mean * np.exp(sigma * z - sigma**2 / 2)


@dataclass(frozen=True)
class Calibration:
    """What the past origins taught: the model's weight in the blend and the interval's scale."""

    model_weight: float
    spread_scale: float
    learnt_from: int  # past origins with a known actual
    learnt: bool  # False: too few origins, the fixed defaults are used
    evidence: float | None = None  # what those origins count for (overlapping ones less than one each)

    def apply(self, model_q: np.ndarray, throughput_q: np.ndarray) -> np.ndarray:
        return rescale(blend(model_q, throughput_q, self.model_weight), self.spread_scale)


def blend(model_q: np.ndarray, throughput_q: np.ndarray, weight: float) -> np.ndarray:
    return weight * model_q + (1 - weight) * throughput_q


def rescale(q: np.ndarray, scale: float) -> np.ndarray:
    """Widen (or narrow) the distribution around its median; never below zero."""
    median = q[P50]
    return np.maximum(median + scale * (q - median), 0.0)


def learn_calibration(past: list[tuple[np.ndarray, np.ndarray, float]], evidence: float | None = None) -> Calibration:
    """Weights by the lowest mean CRPS over past (model, throughput, actual), then a conformal scale,
    both shrunk toward the prior (an even split, the simulated spread) by `PRIOR_ORIGINS`.

    `evidence`: how many independent origins `past` amounts to (default: one each). Weekly origins of the
    same month forecast overlapping periods from nearly the same record, so together they count as one.

    The scale is the 80% quantile of how far each actual sat from the blended median, in units of the
    P10/P90 half-width on its side (split-conformal scaling): scaling by it would have put 80% of the
    past actuals inside P10-P90.
    """
    n = float(len(past) if evidence is None else evidence)
    if n < MIN_PAST_ORIGINS:
        return Calibration(
            model_weight=PRIOR_MODEL_WEIGHT, spread_scale=1.0, learnt_from=len(past), learnt=False, evidence=n
        )
    scores = [np.mean([crps_quantiles(blend(m, t, w), a) for m, t, a in past]) for w in WEIGHT_GRID]
    weight = float(WEIGHT_GRID[int(np.argmin(scores))])
    needed = []
    for m, t, a in past:
        q = blend(m, t, weight)
        side = q[P90] - q[P50] if a >= q[P50] else q[P50] - q[P10]
        needed.append(abs(a - q[P50]) / side if side > 0 else SCALE_BOUNDS[1])
    # The plain 80% quantile, not the finite-sample conformal one (ceil((n+1)0.8)/n): with the 4-8
    # origins learnt from that is the largest ratio seen, and intervals then cover far more than 80%.
    scale = float(np.clip(np.quantile(needed, TARGET_COVERAGE), *SCALE_BOUNDS))
    share = n / (n + PRIOR_ORIGINS)
    return Calibration(
        model_weight=round(share * weight + (1 - share) * PRIOR_MODEL_WEIGHT, 3),
        spread_scale=share * scale + (1 - share) * 1.0,
        learnt_from=len(past),
        learnt=True,
        evidence=n,
    )
