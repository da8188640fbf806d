"""The Monte Carlo revenue engine. Plain NumPy: no Django, no database.

One simulation draws, once per segment, a win rate from that segment's Beta (so every deal that
depends on a rate shares its uncertainty), a new-business arrival rate from its Gamma, and then for
every open deal a Bernoulli(`rate[segment] * weight`) (the weight carries timing and any per-deal
adjustment). The Bernoulli is the product of two independent events tested with one random byte
each (see `_SharedRateKernel`), so the engine needs 16 random bits per deal per simulation instead
of a float64 uniform's 64 and never materialises an S x N threshold. Work is done in chunks of
simulations, so memory does not grow with S.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecasting.rates import BetaRates, GammaRate

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
CHUNK_CELLS = 4 * 1024 * 1024  # deal-simulations per chunk: memory stays flat in S (~40 MB), Python overhead amortised


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
    outcomes: np.ndarray | None = None  # N x S: whether each open deal won in each simulation (keep_outcomes)
    deal_amount: np.ndarray | None = None  # N: the amounts simulated

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
    pace_shape: float | None = None,
    keep_outcomes: bool = False,
) -> ForecastResult:
    """Run `sims` simulations of closed-won revenue in one period.

    `pace_shape`: the close pace of the whole pipeline drifts too (a slow month slows every deal), so
    each simulation multiplies every open deal's rate by one Gamma(shape, 1/shape) draw (mean 1).

    `shared_rates=False` draws a fresh rate per deal per simulation instead; it exists only to show
    (in tests) how independent draws understate the spread.

    `keep_outcomes` keeps which deal won in which simulation (`result.outcomes`, deals x simulations, one
    byte each): what insights reads to tell which deals decide the period. Shared rates only.
    """
    if sims < 1:
        raise ValueError("sims must be at least 1")
    # SFC64: a fast, well-tested generator; the engine's cost is mostly random bits.
    rng = np.random.Generator(np.random.SFC64(seed))
    n = len(deals)
    n_seg = len(rates.alpha)
    use_groups = n_groups > 0 and deals.group is not None
    group = deals.group if use_groups and deals.group is not None else np.zeros(n, dtype=np.intp)
    order = np.lexsort((group, deals.segment))
    seg = deals.segment[order].astype(np.intp)
    weight = np.maximum(deals.weight[order].astype(float), 0.0)
    # A weight may exceed 1 (a deal likelier than its segment's average); the kernel needs both
    # factors in [0, 1], so such a segment's weights are divided by their maximum and its rate draws
    # multiplied by it: the product, the deal's chance, is unchanged (capped at 1).
    seg_scale = np.ones(n_seg + 1)
    if n:
        np.maximum.at(seg_scale, seg, weight)
    seg_scale[n_seg] = 1.0
    kernel_weight = np.minimum(weight / seg_scale[seg], 1.0)
    amount = deals.amount[order].astype(np.float32)
    grp = np.asarray(group)[order].astype(np.intp)
    alpha, beta = rates.alpha.astype(float), rates.beta.astype(float)

    totals = np.zeros(sims, dtype=np.float64)
    group_totals = np.zeros((sims, n_groups), dtype=np.float64) if use_groups else None
    new_totals = np.zeros(sims, dtype=np.float64)
    chunk = max(1, min(sims, CHUNK_CELLS // max(n, 1)))
    kernel = _SharedRateKernel(seg, kernel_weight, amount, grp, n_seg) if (n and shared_rates) else None
    won_sorted = np.zeros((n, sims), dtype=bool) if keep_outcomes and shared_rates else None

    for start in range(0, sims, chunk):
        c = min(chunk, sims - start)
        draws = rng.beta(alpha, beta, size=(c, n_seg))
        pace = rng.gamma(pace_shape, 1.0 / pace_shape, size=(c, 1)) if pace_shape else 1.0
        if kernel is not None:
            revenue = kernel.run(rng, draws * pace * seg_scale[:n_seg])
            if won_sorted is not None:
                won_sorted[:, start : start + c] = kernel.last_won
            totals[start : start + c] = revenue.sum(axis=1)
            if group_totals is not None:
                group_totals[start : start + c] = revenue @ kernel.run_to_group(n_groups)
        elif n:
            revenue = _independent_rates(rng, seg, np.minimum(weight, 1.0), amount, alpha, beta, c)
            totals[start : start + c] = revenue
        if new_business is not None:
            win_rate = draws[:, new_business.win_segment] if new_business.win_segment < n_seg else np.ones(c)
            new_totals[start : start + c] = _new_business_draw(rng, new_business, win_rate)

    totals += new_totals + realised
    mean_rate = np.append(rates.mean, 1.0)
    probability = np.empty(n)
    probability[order] = np.clip(mean_rate[seg] * weight, 0, 1)
    expected = probability * deals.amount
    outcomes = None
    if won_sorted is not None:
        outcomes = np.empty_like(won_sorted)
        outcomes[order] = won_sorted
    return ForecastResult(
        realised=realised,
        **distribution_of(totals),
        deal_probability=probability,
        deal_expected=expected,
        new_business_mean=float(new_totals.mean()),
        group_totals=group_totals,
        group_new_business=new_totals,
        outcomes=outcomes,
        deal_amount=np.asarray(deals.amount, dtype=float),
    )


def distribution_of(totals: np.ndarray) -> dict[str, Any]:
    """The fields of a ForecastResult that describe its totals: percentiles, moments, histogram."""
    pct = np.percentile(totals, PERCENTILES)
    counts, edges = np.histogram(totals, bins=40)
    return {
        "totals": totals,
        "percentiles": {f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)},
        "mean": float(totals.mean()),
        "std": float(totals.std()),
        "histogram_counts": counts.tolist(),
        "histogram_edges": edges.tolist(),
    }


def _byte_threshold(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a probability into a byte and a remainder: P(win) = (hi + frac) / 256 exactly."""
    scaled = np.clip(p, 0.0, 1.0) * 256.0
    hi = np.minimum(np.floor(scaled), 255.0)
    return hi, scaled - hi


def _dithered_rate(rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rates on a 1/256 grid, rounded up or down at random so the mean is exactly the rate's.

    Every deal's chance stays exactly what the Beta says; the rounding adds at most 1/(4 * 256**2)
    = 3.8e-6 to a rate's variance (an sd of 0.2 points), against 1e-4 or more for any Beta a win rate
    gets here (concentration is capped at 1000, and drift keeps it far lower): below what a test
    can see. Returns k - 1 where P(rate test passes) = k / 256 (k from 0 to 256); -1 means never.
    """
    scaled = np.clip(rate, 0.0, 1.0) * 256.0
    k = np.floor(scaled) + (rng.random(rate.shape) < scaled - np.floor(scaled))
    return (k - 1).astype(np.int16)


class _SharedRateKernel:
    """Bernoulli(rate[segment] * weight) for every deal in a chunk of simulations, cheaply.

    Given the segment's rate r (drawn once per simulation), a deal wins with probability r * w. That
    is the same as two independent events, "u1 < r" and "u2 < w", so no S x N threshold is ever
    computed: r is compared block-wise (deals are sorted by segment) with one random byte against the
    dithered rate, w deal-wise with one random byte against the dithered weight. Arrays are deals x
    simulations so every comparison runs along contiguous memory. Revenue per run of (segment,
    group) is a matrix-vector product, so roll-ups come from the same wins.
    """

    def __init__(self, seg: np.ndarray, weight: np.ndarray, amount: np.ndarray, grp: np.ndarray, n_seg: int):
        self.n = len(seg)
        self.amount, self.n_seg = amount, n_seg
        self.w_hi, self.w_frac = _byte_threshold(weight)
        bounds = np.searchsorted(seg, np.arange(n_seg + 2))
        self.seg_blocks = [(s, int(bounds[s]), int(bounds[s + 1])) for s in range(n_seg) if bounds[s + 1] > bounds[s]]
        self.fixed_from = int(bounds[n_seg])  # deals from here on have a fixed probability: no rate test
        change = np.flatnonzero((np.diff(seg) != 0) | (np.diff(grp) != 0)) + 1
        starts = np.concatenate(([0], change)).astype(np.intp)
        ends = np.concatenate((change, [self.n])).astype(np.intp)
        self.runs = list(zip(starts.tolist(), ends.tolist(), strict=True))
        self.run_group = grp[starts]
        self._buffers: tuple[int, tuple[np.ndarray, ...]] | None = None

    def run_to_group(self, n_groups: int) -> np.ndarray:
        m = np.zeros((len(self.runs), n_groups))
        m[np.arange(len(self.runs)), self.run_group] = 1.0
        return m

    def _buffers_for(self, c: int) -> tuple[np.ndarray, ...]:
        if self._buffers is None or self._buffers[0] != c:
            shape = (self.n, c)
            bufs = (*(np.empty(shape, bool) for _ in range(2)), np.empty(shape, np.float32))
            bufs[1][self.fixed_from :] = True  # fixed-probability deals always pass the rate test
            self._buffers = (c, bufs)
        return self._buffers[1]

    def run(self, rng: np.random.Generator, draws: np.ndarray) -> np.ndarray:
        """Revenue per simulation (rows) and per (segment, group) run (columns)."""
        c, n = draws.shape[0], self.n
        cand, rate_ok, won = self._buffers_for(c)
        limit = _dithered_rate(draws.T, rng)  # segments x simulations
        never = limit < 0
        limit8 = np.maximum(limit, 0).astype(np.uint8)
        # The weight's threshold is rounded up or down at random once per deal per chunk: each
        # simulation still gives the deal exactly P = w (the rounding is independent of the byte and
        # of other deals); simulations of one chunk merely share that coin, which moves the spread of
        # a total by at most a 1/65536 part.
        w_limit = self.w_hi + (rng.random(n) < self.w_frac) - 1
        w_never = w_limit < 0
        w_limit8 = np.maximum(w_limit, 0).astype(np.uint8)[:, None]
        raw = rng.bit_generator.random_raw((2 * c * n + 7) // 8).view(np.uint8)
        u_weight = raw[: c * n].reshape(n, c)
        u_rate = raw[c * n : 2 * c * n].reshape(n, c)
        for s, a, b in self.seg_blocks:
            np.less_equal(u_rate[a:b], limit8[s], out=rate_ok[a:b])
            if never[s].any():
                rate_ok[a:b, never[s]] = False
        np.less_equal(u_weight, w_limit8, out=cand)
        cand &= rate_ok
        if w_never.any():
            cand[w_never] = False
        np.copyto(won, cand)
        self.last_won = cand  # deals x simulations of this chunk, in sorted order (read before the next run)
        out = np.empty((len(self.runs), c), dtype=np.float32)
        for k, (a, b) in enumerate(self.runs):
            np.dot(self.amount[a:b], won[a:b], out=out[k])
        return out.T


def _independent_rates(
    rng: np.random.Generator,
    seg: np.ndarray,
    weight: np.ndarray,
    amount: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    c: int,
) -> np.ndarray:
    n_seg = len(alpha)
    fixed = seg == n_seg
    capped = np.minimum(seg, n_seg - 1)
    per_deal = rng.beta(alpha[capped], beta[capped], size=(c, len(seg)))
    per_deal[:, fixed] = 1.0
    won = rng.random((c, len(seg))) < per_deal * weight
    return won.astype(np.float32) @ amount


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
