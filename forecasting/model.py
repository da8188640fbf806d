"""From a workspace's history (as plain arrays, as known at the as-of date) to the engine's inputs.

Plain NumPy. Days are counted relative to the as-of date T (T = day 0, history is negative). The
forecast window is days [w0, w1] after T, inclusive (w0 = 1 for "from tomorrow").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.engine import NewBusiness, OpenDeals
from forecasting.rates import BetaRates, GammaRate, drift_concentration, fit_arrival_rate, fit_beta_rates
from forecasting.survival import CENSORED, LOST, WON, CloseTimeModel, fit_close_times

MIN_CLOSED_FOR_OWN_CURVE = 40  # a stage with fewer closed deals uses the pooled time-to-close curve
ARRIVAL_HALF_LIFE_DAYS = 30.0  # recent weeks say more about next quarter's inflow than old ones
ARRIVAL_LOOKBACK_DAYS = 182
DRIFT_BUCKET_DAYS = 7.0


@dataclass(frozen=True)
class History:
    """Every deal that existed at T, as of T.

    `stage` is the current stage index (open deals) or the last open stage reached (closed deals);
    `reached[i, s]` says whether deal i ever was in open stage s (so wins and losses count for every
    stage a deal passed through); `entered_stage_age[i]` is the deal's age when it entered its stage.
    """

    created: np.ndarray  # day, <= 0
    closed: np.ndarray  # day <= 0, or NaN while open
    outcome: np.ndarray  # CENSORED (open) / WON / LOST
    amount: np.ndarray  # current amount (open) or final amount (closed)
    stage: np.ndarray
    reached: np.ndarray  # bool (n, n_stages)
    entered_stage_age: np.ndarray
    team: np.ndarray  # segment index within a stage (team, product...); 0 when unused
    n_teams: int
    entered: np.ndarray | None = None  # (n, n_stages) age when each reached stage was first entered

    @property
    def n_stages(self) -> int:
        return self.reached.shape[1]

    @property
    def is_open(self) -> np.ndarray:
        return self.outcome == CENSORED


@dataclass(frozen=True)
class FittedModel:
    rates: BetaRates  # segments: stage * n_teams + team, then one pooled segment for new business
    curves: list[CloseTimeModel]  # per stage (may be the same pooled object)
    pooled_curve: CloseTimeModel
    arrivals: GammaRate
    new_deal_win_share: float
    won_amount_mean: float
    won_amount_var: float
    n_teams: int
    n_stages: int

    @property
    def pooled_segment(self) -> int:
        return self.n_stages * self.n_teams


def fit(history: History) -> FittedModel:
    h = history
    n_stages, n_teams = h.n_stages, max(h.n_teams, 1)
    closed = ~h.is_open
    age_now = (-h.created).astype(np.int64)
    duration = np.where(closed, np.nan_to_num(h.closed) - h.created, age_now).astype(np.int64)

    # Closes are only on record from the first one: before it, a CRM export (or a fresh CRM) says
    # nothing about how deals close, so deals enter the risk set then (left truncation), not at birth.
    first_close = float(np.nanmin(h.closed)) if closed.any() else 0.0
    observed_from = np.maximum(first_close - h.created, 0).astype(np.int64)
    pooled_curve = fit_close_times(duration, h.outcome, entry=observed_from)
    won_mask, lost_mask = h.outcome == WON, h.outcome == LOST

    # Drift: how much the pooled win rate moved between buckets of closes.
    close_bucket = np.floor(np.nan_to_num(h.closed[closed]) / DRIFT_BUCKET_DAYS).astype(np.int64)
    bucket_drift = None
    if closed.any():
        offset = close_bucket.min()
        trials = np.bincount(close_bucket - offset)
        wins = np.bincount(close_bucket - offset, weights=won_mask[closed].astype(float))
        bucket_drift = drift_concentration(wins, trials)

    alphas, betas, curves = [], [], []
    for s in range(n_stages):
        reached = h.reached[:, s]
        stage_entry = (
            np.zeros(len(h.created), dtype=np.int64) if h.entered is None else h.entered[:, s].astype(np.int64)
        )
        w = np.bincount(h.team[reached & won_mask], minlength=n_teams)[:n_teams]
        losses = np.bincount(h.team[reached & lost_mask], minlength=n_teams)[:n_teams]
        stage_rates = fit_beta_rates(w, losses, drift_concentration=bucket_drift)
        alphas.append(stage_rates.alpha)
        betas.append(stage_rates.beta)
        if (reached & closed).sum() >= MIN_CLOSED_FOR_OWN_CURVE:
            curves.append(
                fit_close_times(
                    duration[reached],
                    h.outcome[reached],
                    entry=np.maximum(stage_entry[reached], observed_from[reached]),
                )
            )
        else:
            curves.append(pooled_curve)
    pooled = fit_beta_rates(np.array([won_mask.sum()]), np.array([lost_mask.sum()]), drift_concentration=bucket_drift)
    alphas.append(pooled.alpha)
    betas.append(pooled.beta)
    rates = BetaRates(
        alpha=np.concatenate(alphas), beta=np.concatenate(betas), pooled=pooled.pooled, kappa=pooled.kappa
    )

    # Arrivals per 7-day bucket over the lookback, recent buckets weighted more (exponential decay).
    lookback = min(ARRIVAL_LOOKBACK_DAYS, int(age_now.max(initial=0)) + 1)
    n_buckets = max(lookback // 7, 1)
    recent = h.created > -n_buckets * 7
    bucket = np.floor(-h.created[recent] / 7.0).astype(np.int64)
    counts = np.bincount(bucket, minlength=n_buckets)[:n_buckets].astype(float)
    decay = 0.5 ** (np.arange(n_buckets) * 7.0 / ARRIVAL_HALF_LIFE_DAYS)
    arrivals = _weighted_arrivals(counts, decay)

    won_amounts = h.amount[won_mask]
    return FittedModel(
        rates=rates,
        curves=curves,
        pooled_curve=pooled_curve,
        arrivals=arrivals,
        new_deal_win_share=pooled_curve.win_share(),
        won_amount_mean=float(won_amounts.mean()) if len(won_amounts) else 0.0,
        won_amount_var=float(won_amounts.var()) if len(won_amounts) > 1 else 0.0,
        n_teams=n_teams,
        n_stages=n_stages,
    )


def _weighted_arrivals(counts: np.ndarray, decay: np.ndarray) -> GammaRate:
    """Gamma over arrivals per day from weekly counts, recent weeks weighted by `decay`."""
    effective_weeks = decay.sum()
    weighted_count = float((counts * decay).sum())
    base = fit_arrival_rate(counts, 7.0)
    per_day = weighted_count / (effective_weeks * 7.0) if effective_weeks > 0 else 0.0
    if per_day <= 0:
        return base
    # Keep the spread the unweighted fit found (drift between weeks), centred on the recent rate.
    shape = min(base.shape, weighted_count + 0.5)
    return GammaRate(shape=shape, rate=shape / per_day)


def open_deal_inputs(
    history: History,
    model: FittedModel,
    *,
    window: tuple[int, int],
    slip_days: np.ndarray | None = None,
    rate_scale: float = 1.0,
    fixed_probability: np.ndarray | None = None,
) -> tuple[np.ndarray, OpenDeals]:
    """Indices of the open deals and their engine arrays for the window [w0, w1] (days after T).

    `slip_days` pushes a deal's timing out (a what-if); `fixed_probability` (NaN = none) replaces the
    segment rate with a calibrated score.
    """
    w0, w1 = window
    idx = np.flatnonzero(history.is_open)
    age = (-history.created[idx]).astype(np.int64)
    stage = history.stage[idx]
    shift = np.zeros(len(idx), dtype=np.int64) if slip_days is None else slip_days[idx].astype(np.int64)
    weight = np.zeros(len(idx))
    for s in range(model.n_stages):
        m = stage == s
        if not m.any():
            continue
        curve = model.curves[s]
        share = curve.win_share()
        if share <= 0:
            continue
        # Slipping a deal by d days: it cannot close before T + d, and its clock is the same.
        start = np.maximum(w0 - 1 - shift[m], 0)
        end = np.maximum(w1 - shift[m], 0)
        p_by_end = curve.win_within(age[m], end)
        p_by_start = np.where(start > 0, curve.win_within(age[m], start), 0.0)
        weight[m] = np.clip(p_by_end - p_by_start, 0, 1) / share
    segment = stage * model.n_teams + history.team[idx]
    if rate_scale != 1.0:
        weight = weight * rate_scale
    if fixed_probability is not None:
        fp = fixed_probability[idx]
        has = ~np.isnan(fp)
        if has.any():
            timing = np.zeros(len(idx))
            for s in range(model.n_stages):
                m = has & (stage == s)
                if m.any():
                    curve = model.curves[s]
                    share = curve.win_share()
                    closes = curve.close_within(age[m], np.maximum(w1 - shift[m], 0)) - np.where(
                        w0 - 1 - shift[m] > 0, curve.close_within(age[m], np.maximum(w0 - 1 - shift[m], 0)), 0.0
                    )
                    timing[m] = np.clip(closes, 0, 1) if share > 0 else 0.0
            weight = np.where(has, np.clip(fp * timing * rate_scale, 0, 1), weight)
            segment = np.where(has, len(model.rates.alpha), segment)
    deals = OpenDeals(amount=history.amount[idx].astype(float), segment=segment.astype(np.intp), weight=weight)
    return idx, deals


def new_business_inputs(
    model: FittedModel, *, window: tuple[int, int], rate_multiplier: float = 1.0, rate_scale: float = 1.0
) -> NewBusiness:
    """Deals created from tomorrow to the window's end that win inside the window."""
    w0, w1 = window
    curve = model.pooled_curve
    share = curve.win_share()
    created = np.arange(1, w1 + 1)
    by_end = curve.cif_won[np.clip(w1 - created, 0, curve.horizon)]
    before = np.where(w0 - 1 - created >= 0, curve.cif_won[np.clip(w0 - 1 - created, 0, curve.horizon)], 0.0)
    exposure = float(np.clip(by_end - before, 0, 1).sum() / share) if share > 0 else 0.0
    return NewBusiness(
        arrivals=model.arrivals,
        exposure_days=exposure * rate_scale,
        win_segment=model.pooled_segment,
        amount_mean=model.won_amount_mean,
        amount_var=model.won_amount_var,
        rate_multiplier=rate_multiplier,
    )
