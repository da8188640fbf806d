"""Bottlenecks: stages whose conversion or time-in-stage worsened against the workspace's own history.

Plain NumPy/SciPy. A recent window (the last `RECENT_DAYS`) is compared with the year before it:
conversion out of a stage with a one-sided two-proportion z-test, time in a stage with a one-sided
Mann-Whitney test on the stays that ended in each window. A stage is flagged only when the worsening
is beyond noise and large enough to matter. Beyond noise is p below `ALPHA` shared (Bonferroni) by all
the tests made on the pipeline, two per stage, so a pipeline whose stages did not change raises a false
alarm in at most about 1 run in 20; the deals sitting in it longer than the
earlier stays usually lasted are listed with the revenue they hold up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

RECENT_DAYS = 90
EARLIER_DAYS = 365
ALPHA = 0.05
MIN_N = 15  # decisions (or stays) in each window before a stage is judged at all
MIN_DROP = 0.05  # conversion points: smaller drops are not worth a manager's attention
MIN_SLOWDOWN = 1.2  # recent median stay at least this many times the earlier one
STUCK_QUANTILE = 0.75  # an open deal is stuck once it has sat longer than 3 in 4 earlier stays


def two_proportion_worse(k_recent: float, n_recent: float, k_earlier: float, n_earlier: float) -> float:
    """One-sided p-value that the recent share is below the earlier one (pooled two-proportion z-test)."""
    if n_recent <= 0 or n_earlier <= 0:
        return 1.0
    pooled = (k_recent + k_earlier) / (n_recent + n_earlier)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_recent + 1 / n_earlier))
    if se == 0:
        return 1.0
    z = (k_recent / n_recent - k_earlier / n_earlier) / se
    return float(stats.norm.cdf(z))


def longer_p_value(recent: np.ndarray, earlier: np.ndarray) -> float:
    """One-sided p-value that recent stays are longer than earlier ones (Mann-Whitney U)."""
    if len(recent) == 0 or len(earlier) == 0:
        return 1.0
    return float(stats.mannwhitneyu(recent, earlier, alternative="greater").pvalue)


@dataclass(frozen=True)
class StageWindows:
    """One stage's evidence: per decided deal whether it moved on and when; per ended stay its length and end."""

    advanced: np.ndarray  # bool per decision
    decided_at: np.ndarray  # days (negative: past)
    stay_days: np.ndarray
    stay_ended_at: np.ndarray


@dataclass(frozen=True)
class Finding:
    metric: str  # "conversion" or "time_in_stage"
    recent: float
    earlier: float
    recent_n: int
    earlier_n: int
    p_value: float


def _windows(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    recent = at > -RECENT_DAYS
    earlier = (at <= -RECENT_DAYS) & (at > -RECENT_DAYS - EARLIER_DAYS)
    return recent & (at <= 0), earlier


def stage_findings(evidence: StageWindows, *, stages: int = 1) -> list[Finding]:
    """What worsened in this stage, beyond noise and by enough to matter (possibly nothing).

    `stages`: how many stages are judged together; each of their 2 x `stages` tests gets that share of ALPHA."""
    alpha = ALPHA / (2 * max(stages, 1))
    found = []
    recent, earlier = _windows(evidence.decided_at)
    n_r, n_e = int(recent.sum()), int(earlier.sum())
    if n_r >= MIN_N and n_e >= MIN_N:
        k_r, k_e = float(evidence.advanced[recent].sum()), float(evidence.advanced[earlier].sum())
        p = two_proportion_worse(k_r, n_r, k_e, n_e)
        if p < alpha and k_e / n_e - k_r / n_r >= MIN_DROP:
            found.append(Finding("conversion", k_r / n_r, k_e / n_e, n_r, n_e, p))
    recent, earlier = _windows(evidence.stay_ended_at)
    stays_r, stays_e = evidence.stay_days[recent], evidence.stay_days[earlier]
    if len(stays_r) >= MIN_N and len(stays_e) >= MIN_N:
        p = longer_p_value(stays_r, stays_e)
        median_r, median_e = float(np.median(stays_r)), float(np.median(stays_e))
        if p < alpha and median_r >= MIN_SLOWDOWN * max(median_e, 1.0):
            found.append(Finding("time_in_stage", median_r, median_e, len(stays_r), len(stays_e), p))
    return found


def stuck_after(evidence: StageWindows) -> float | None:
    """Days in the stage after which an open deal counts as stuck: longer than most earlier stays."""
    _, earlier = _windows(evidence.stay_ended_at)
    stays = evidence.stay_days[earlier]
    if len(stays) < MIN_N:
        stays = evidence.stay_days
    if len(stays) == 0:
        return None
    return float(np.quantile(stays, STUCK_QUANTILE))


def describe(finding: Finding, stage: str) -> str:
    if finding.metric == "conversion":
        return (
            f"Conversion from {stage} fell to {round(100 * finding.recent)}% in the last {RECENT_DAYS} days "
            f"({finding.recent_n} deals decided) from {round(100 * finding.earlier)}% in the year before "
            f"({finding.earlier_n}); p = {finding.p_value:.3f}"
        )
    return (
        f"Deals now spend a median {finding.recent:.0f} days in {stage} (last {RECENT_DAYS} days, "
        f"{finding.recent_n} stays) against {finding.earlier:.0f} in the year before ({finding.earlier_n}); "
        f"p = {finding.p_value:.3f}"
    )
