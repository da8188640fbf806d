"""The Monte Carlo revenue engine. Plain NumPy: no Django, no database.

One simulation draws, once per segment, a win rate from that segment's Beta (so every deal that
depends on a rate shares its uncertainty), a new-business arrival rate from its Gamma, and then one
uniform per open deal compared with `rate[segment] * weight` (the weight carries timing and any
per-deal adjustment). Revenue per simulation is a matrix product of the wins with the amounts, done
in chunks of simulations so memory does not grow with S. The cost is dominated by the S x N uniforms,
which is the floor any per-deal simulation has to pay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from forecasting.rates import BetaRates, GammaRate

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
CHUNK_CELLS = 256 * 1024  # uniforms per chunk: small enough to stay in cache, large enough to amortise


@dataclass(frozen=True)
class OpenDeals:
    """Open deals as parallel arrays.

    A deal wins inside the period when `u < rate[segment] * weight`; `segment == n_segments` (one past
    the last) marks a deal whose probability is fixed (a calibrated score): its `weight` is then the
    whole probability.
    """

    amount: np.ndarray
    segment: np.ndarray
    weight: np.ndarray
    group: np.ndarray | None = None  # index of the roll-up group (e.g. owner) per deal, or None

    def __post_init__(self) -> None:
        n = len(self.amount)
        if len(self.segment) != n or len(self.weight) != n or (self.group is not None and len(self.group) != n):
            raise ValueError("open-deal arrays must have the same length")

    def __len__(self) -> int:
        return len(self.amount)


@dataclass(frozen=True)
class NewBusiness:
    """Deals not yet created that will be created and won inside the period.

    Wins ~ Poisson(arrival_rate * win_rate * exposure_days); each won amount has `amount_mean` and
    `amount_var`, so a simulation's total for k wins is drawn from the moment-matched Gamma.
    `win_segment` is the segment whose rate draw the new deals share (usually the pooled one).
    """

    arrivals: GammaRate
    exposure_days: float
    win_segment: int
    amount_mean: float
    amount_var: float
    rate_multiplier: float = 1.0
    group_shares: np.ndarray | None = None  # how new business splits across roll-up groups


@dataclass
class ForecastResult:
    totals: np.ndarray  # per simulation, realised included
    realised: float
    percentiles: dict[str, float]
    mean: float
    std: float
    histogram_counts: list[int]
    histogram_edges: list[float]
    deal_probability: np.ndarray  # expected chance each open deal wins inside the period
    deal_expected: np.ndarray
    new_business_mean: float
    group_totals: np.ndarray | None = None  # S x G, new business and realised not included
    group_new_business: np.ndarray | None = None  # per-simulation new business (S,)
    extras: dict[str, float] = field(default_factory=dict)

    def chance_of_reaching(self, target: float) -> float:
        return float(np.mean(self.totals >= target))

    @property
    def worst_likely_best(self) -> tuple[float, float, float]:
        return self.percentiles["p10"], self.percentiles["p50"], self.percentiles["p90"]


def confidence_label(probability: float) -> str:
    """A word for a deal's chance of closing won inside the period."""
    if probability >= 0.6:
        return "high"
    if probability >= 0.3:
        return "medium"
    if probability >= 0.05:
        return "low"
    return "unlikely"


def simulate(
    *,
    deals: OpenDeals,
    rates: BetaRates,
    new_business: NewBusiness | None = None,
    realised: float = 0.0,
    sims: int = 10_000,
    seed: int | None = 0,
    n_groups: int = 0,
    shared_rates: bool = True,
) -> ForecastResult:
    """Run `sims` simulations of closed-won revenue in one period.

    `shared_rates=False` draws a fresh rate per deal per simulation instead; it exists only to show
    (in tests) how independent draws understate the spread.
    """
    if sims < 1:
        raise ValueError("sims must be at least 1")
    rng = np.random.default_rng(seed)
    n = len(deals)
    n_seg = len(rates.alpha)
    order = np.argsort(deals.segment, kind="stable")
    seg = deals.segment[order].astype(np.intp)
    weight = deals.weight[order].astype(np.float32)
    amount = deals.amount[order].astype(np.float32)
    use_groups = n_groups > 0 and deals.group is not None
    if use_groups:
        onehot = np.zeros((n, n_groups), dtype=np.float32)
        onehot[np.arange(n), deals.group[order]] = amount
        weights_matrix = np.concatenate([amount[:, None], onehot], axis=1)
    else:
        weights_matrix = amount[:, None]

    totals = np.empty(sims, dtype=np.float64)
    group_totals = np.empty((sims, n_groups), dtype=np.float64) if use_groups else None
    new_totals = np.zeros(sims, dtype=np.float64)
    chunk = max(1, min(sims, CHUNK_CELLS // max(n, 1)))
    uniforms = np.empty((chunk, n), dtype=np.float32)
    thresholds = np.empty((chunk, n), dtype=np.float32)
    wins = np.empty((chunk, n), dtype=bool)
    alpha, beta = rates.alpha.astype(float), rates.beta.astype(float)

    for start in range(0, sims, chunk):
        c = min(chunk, sims - start)
        draws = np.ones((c, n_seg + 1), dtype=np.float64)
        draws[:, :n_seg] = rng.beta(alpha, beta, size=(c, n_seg))
        if n:
            u, th, won = uniforms[:c], thresholds[:c], wins[:c]
            rng.random(out=u, dtype=np.float32)
            if shared_rates:
                np.take(draws.astype(np.float32), seg, axis=1, out=th)
            else:
                fixed = seg == n_seg
                per_deal = rng.beta(alpha[np.minimum(seg, n_seg - 1)], beta[np.minimum(seg, n_seg - 1)], size=(c, n))
                per_deal[:, fixed] = 1.0
                th[:] = per_deal
            th *= weight
            np.less(u, th, out=won)
            revenue = won.view(np.uint8).astype(np.float32) @ weights_matrix
            totals[start : start + c] = revenue[:, 0]
            if group_totals is not None:
                group_totals[start : start + c] = revenue[:, 1:]
        else:
            totals[start : start + c] = 0.0
        if new_business is not None:
            new_totals[start : start + c] = _new_business_draw(rng, new_business, draws[:, new_business.win_segment])

    totals += new_totals + realised
    mean_rate = np.append(rates.mean, 1.0)
    probability = np.empty(n)
    probability[order] = np.clip(mean_rate[seg] * weight, 0, 1)
    expected = probability * deals.amount
    pct = np.percentile(totals, PERCENTILES)
    counts, edges = np.histogram(totals, bins=40)
    return ForecastResult(
        totals=totals,
        realised=realised,
        percentiles={f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)},
        mean=float(totals.mean()),
        std=float(totals.std()),
        histogram_counts=counts.tolist(),
        histogram_edges=edges.tolist(),
        deal_probability=probability,
        deal_expected=expected,
        new_business_mean=float(new_totals.mean()),
        group_totals=group_totals,
        group_new_business=new_totals,
    )


def _new_business_draw(rng: np.random.Generator, nb: NewBusiness, win_rate: np.ndarray) -> np.ndarray:
    c = len(win_rate)
    if nb.arrivals.shape <= 0 or nb.arrivals.rate <= 0 or nb.exposure_days <= 0:
        return np.zeros(c)
    per_day = rng.gamma(nb.arrivals.shape, 1.0 / nb.arrivals.rate, size=c) * nb.rate_multiplier
    wins = rng.poisson(per_day * win_rate * nb.exposure_days)
    total = np.zeros(c)
    some = wins > 0
    if nb.amount_mean <= 0 or not some.any():
        return total
    if nb.amount_var <= 0:
        total[some] = wins[some] * nb.amount_mean
        return total
    # Sum of k iid amounts: Gamma with the same mean k*m and variance k*v.
    shape = wins[some] * nb.amount_mean**2 / nb.amount_var
    scale = nb.amount_var / nb.amount_mean
    total[some] = rng.gamma(shape, scale)
    return total


def naive_simulate(*, amount: np.ndarray, alpha: np.ndarray, beta: np.ndarray, sims: int, seed: int = 0) -> np.ndarray:
    """The straightforward way (a Beta draw and a Bernoulli per deal per simulation), for the benchmark."""
    rng = np.random.default_rng(seed)
    totals = np.empty(sims)
    for s in range(sims):
        p = rng.beta(alpha, beta)
        totals[s] = float(amount @ (rng.random(len(amount)) < p))
    return totals


def closed_form_moments(amount: np.ndarray, probability: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the revenue of independent deals with fixed probabilities."""
    return float(np.sum(amount * probability)), float(np.sum(amount**2 * probability * (1 - probability)))
