"""Hierarchical Beta-Binomial win rates and Gamma-Poisson arrival rates. Plain NumPy.

Segments (a team, a product, a stage) are shrunk toward the pooled rate: the prior is
Beta(kappa * p0, kappa * (1 - p0)) with kappa estimated from how much the segments really differ
(method of moments); a segment's posterior adds its own wins and losses. Small segments therefore sit
near the pooled rate, big ones near their own.

Rates also drift between periods. The Beta's concentration is capped by `drift_concentration`, the
between-period spread of the pooled rate measured the same way over time buckets, so a forecast does
not claim to know next quarter's rate better than history shows it can be known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_KAPPA, MAX_KAPPA = 2.0, 1000.0


@dataclass(frozen=True)
class BetaRates:
    alpha: np.ndarray  # per segment
    beta: np.ndarray
    pooled: float
    kappa: float  # prior strength used for shrinkage

    @property
    def mean(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)

    @property
    def concentration(self) -> np.ndarray:
        return self.alpha + self.beta

    def scaled(self, factor: float) -> BetaRates:
        """Same uncertainty, mean multiplied by `factor` (capped below 1): a what-if on win rates."""
        conc = self.concentration
        mean = np.clip(self.mean * factor, 1e-4, 0.999)
        return BetaRates(
            alpha=mean * conc, beta=(1 - mean) * conc, pooled=min(self.pooled * factor, 0.999), kappa=self.kappa
        )


def estimate_kappa(wins: np.ndarray, trials: np.ndarray) -> float:
    """Beta concentration from the spread of observed rates beyond binomial noise (method of moments)."""
    wins, trials = np.asarray(wins, float), np.asarray(trials, float)
    keep = trials > 0
    wins, trials = wins[keep], trials[keep]
    if len(trials) < 2 or trials.sum() == 0:
        return MAX_KAPPA
    p0 = wins.sum() / trials.sum()
    if p0 <= 0 or p0 >= 1:
        return MAX_KAPPA
    rates = wins / trials
    weights = trials / trials.sum()
    observed_var = float(np.sum(weights * (rates - p0) ** 2))
    binomial_var = float(np.sum(weights * p0 * (1 - p0) / trials))
    excess = observed_var - binomial_var
    if excess <= 1e-12:
        return MAX_KAPPA
    return float(np.clip(p0 * (1 - p0) / excess - 1.0, MIN_KAPPA, MAX_KAPPA))


def fit_beta_rates(
    wins: np.ndarray,
    losses: np.ndarray,
    *,
    prior_rate: float | None = None,
    drift_concentration: float | None = None,
) -> BetaRates:
    """Posterior Beta per segment from its wins and losses, shrunk toward the pooled (or given) rate."""
    wins, losses = np.asarray(wins, float), np.asarray(losses, float)
    trials = wins + losses
    total = trials.sum()
    if prior_rate is None:
        # A weak Jeffreys-like prior keeps an empty history from claiming 0% or 100%.
        prior_rate = float((wins.sum() + 0.5) / (total + 1.0))
    prior_rate = float(np.clip(prior_rate, 1e-3, 0.999))
    kappa = estimate_kappa(wins, trials) if len(trials) > 1 else MAX_KAPPA
    kappa = min(kappa, max(total, MIN_KAPPA))
    alpha = kappa * prior_rate + wins
    beta = kappa * (1 - prior_rate) + losses
    if drift_concentration is not None:
        conc = alpha + beta
        cap = np.minimum(conc, max(drift_concentration, MIN_KAPPA))
        mean = alpha / conc
        alpha, beta = mean * cap, (1 - mean) * cap
    return BetaRates(alpha=alpha, beta=beta, pooled=prior_rate, kappa=kappa)


@dataclass(frozen=True)
class GammaRate:
    """Gamma(shape, rate) over an arrival rate per day."""

    shape: float
    rate: float

    @property
    def mean(self) -> float:
        return self.shape / self.rate if self.rate > 0 else 0.0


def fit_arrival_rate(counts_per_bucket: np.ndarray, bucket_days: float) -> GammaRate:
    """Arrivals per day from counts in equal time buckets, with over-dispersion between buckets.

    Poisson alone would say the rate is known to +-1/sqrt(total); buckets that vary more than Poisson
    widen the Gamma (negative-binomial moments) so the forecast carries the drift history shows.
    """
    counts = np.asarray(counts_per_bucket, float)
    if len(counts) == 0 or counts.sum() == 0:
        return GammaRate(shape=0.5, rate=max(bucket_days, 1.0))  # almost nothing known: vague, near zero
    n, mean = len(counts), counts.mean()
    shape, rate = counts.sum() + 0.5, n * bucket_days
    if n >= 3:
        var = counts.var(ddof=1)
        if var > mean > 0:
            # Between-bucket variance of the rate itself: var - mean (per bucket); its Gamma has that spread.
            rate_var = (var - mean) / bucket_days**2
            per_day = mean / bucket_days
            drift_shape = per_day**2 / rate_var
            if drift_shape < shape:
                shape, rate = drift_shape, drift_shape / per_day
    return GammaRate(shape=float(shape), rate=float(rate))


def drift_concentration(wins_by_bucket: np.ndarray, trials_by_bucket: np.ndarray) -> float | None:
    """How concentrated a Beta over next period's pooled rate may be, from the spread across past buckets."""
    trials = np.asarray(trials_by_bucket, float)
    if (trials > 0).sum() < 3:
        return None
    kappa = estimate_kappa(np.asarray(wins_by_bucket, float), trials)
    return None if kappa >= MAX_KAPPA else kappa
