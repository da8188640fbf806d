"""From a workspace's history (as plain arrays, as known at the as-of date) to the engine's inputs.

Plain NumPy. Days are counted relative to the as-of date T (T = day 0, history is negative). The
forecast window is days [w0, w1] after T, inclusive (w0 = 1 for "from tomorrow").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.engine import NewBusiness, OpenDeals
from forecasting.rates import (
    MAX_KAPPA as MAX_DRIFT_CONCENTRATION,
)
from forecasting.rates import BetaRates, GammaRate, drift_concentration, fit_arrival_rate, fit_beta_rates
from forecasting.survival import CENSORED, LOST, WON, CloseTimeModel, fit_close_times

# Fewer closes than this and a curve borrows the one before it (or its stage's). At 40 the large-deal
# band borrowed its stage's faster curve and the rolling backtest over-forecast short windows (demo,
# rest-of-quarter origins: P50 bias +36% at 40, +9% at 15 with the stale rule below; Maven unchanged).
MIN_CLOSED_FOR_OWN_CURVE = 15
# An open deal older (from creation) than this share of past wins took is treated as dead: curves by
# time in stage still gave such deals ~2.4x the revenue they brought (demo backtest, one-month windows).
# Only applied once the record of closes is long enough to have seen slow wins.
STALE_WIN_AGE_QUANTILE = 0.95
MIN_RECORD_FOR_STALE_DAYS = 180
ARRIVAL_HALF_LIFE_DAYS = 30.0  # recent weeks say more about next quarter's inflow than old ones
ARRIVAL_LOOKBACK_DAYS = 182
DRIFT_BUCKET_DAYS = 30.0  # win rates drift from month to month; a forecast spans months
QUARTER_DAYS = 91.0  # shocks shared by every deal (a good or bad quarter) are measured per quarter
# With fewer than three months of closes the month-to-month drift cannot be measured. Then a Beta
# over next period's rate gets this concentration: a rate sd of about 0.1 at 50%, the swing between
# months sales teams commonly see. One month of closes is one draw of a drifting rate, not the rate.
DEFAULT_DRIFT_CONCENTRATION = 20.0
# Likewise the close pace (share of open deals that close in a month) swings between months; with
# fewer than three months to measure it, a swing of 20% is assumed.
DEFAULT_PACE_CV = 0.2
# Next period's win rate is the last quarter's: its closes over 91 days hold one quarter-end rush and its
# mid-quarter losses, whatever the day. The whole record's rate weighs calendar months unevenly when the record
# does not span whole quarters, and keeps a rate that has moved: Maven's closes from 2017-03-01 to 2017-06-30 won
# 66.6% (March and June, quarter-ends, 82% and 83%; April and May 49% and 54%), its last quarter 61.7%. Shrunk
# toward the whole record's by 300 closes: on the demo, where the rate only wanders, the last quarter alone is noise
# (rolling CRPS this / next quarter, two seeds: 100 closes +6% / -3% and +1% / +2%, 300 closes +5% / -2% and -1% / +1%).
RECENT_RATE_DAYS = 91.0
RECENT_RATE_PRIOR_CLOSES = 300.0
PRIOR_WIN_RATE = 0.5  # an even chance: what is known about a win rate before any close
# Time-in-stage landmarks (days): a deal still sitting in its stage after L days is compared only
# with deals that also sat there at least L days. Stuck deals are worse than the stage's average.
STAGE_LANDMARKS = (0, 3, 7, 10, 14, 21, 28, 35, 45, 60, 75, 90, 120, 150, 180, 240, 300, 365)
MIN_FAST_WINS = 20  # wins needed to describe the amounts of deals won within the window
N_AMOUNT_BANDS = 3  # small / medium / large deals win at different rates
# Close-date pushes so far (0, 1, 2 or more): deals that keep slipping close later and lose more.
# Counted for history at the same time-in-stage landmark as the open deal it is compared with.
SLIP_BANDS = 3


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
    slips: np.ndarray | None = None  # (n, k) age at each close-date push (NaN padded)

    def slips_by(self, age: np.ndarray) -> np.ndarray:
        """Close-date pushes each deal had made by the given age."""
        if self.slips is None or self.slips.shape[1] == 0:
            return np.zeros(len(self.created), dtype=np.int64)
        # Column by column (a handful): summing a short axis costs far more in NumPy; the same counts.
        age = np.asarray(age, dtype=float)
        count = np.zeros(len(self.created), dtype=np.int64)
        for column in self.slips.T:
            count += column <= age
        return count

    @property
    def n_stages(self) -> int:
        return self.reached.shape[1]

    @property
    def is_open(self) -> np.ndarray:
        return self.outcome == CENSORED


@dataclass(frozen=True)
class FittedModel:
    rates: BetaRates  # segments: stage * n_keys + key, then one pooled segment for new business
    curves: list[list[list[list[CloseTimeModel]]]]  # stage, amount band, landmark, slip band; clock: days in stage
    stage_rate: np.ndarray  # (stage, amount band): win rate of deals that reached the stage
    # (stage, amount band, landmark, slip band): the win rate of the group whose curve is used there
    # (the band's own, or the whole stage's where the band borrowed the stage's curve).
    curve_rate: np.ndarray
    pooled_curve: CloseTimeModel  # clock = age: for new business
    arrivals: GammaRate
    pace_cv: float  # month-to-month variation of the close pace (coefficient of variation)
    win_cv: float  # quarter-to-quarter variation of the pooled win rate, shared by every deal (CV)
    new_deal_win_share: float
    won_amount_mean: float
    won_amount_var: float
    won_close_age: np.ndarray  # days from creation to the win, per won deal
    won_amount: np.ndarray
    n_teams: int
    n_stages: int
    amount_edges: np.ndarray  # band edges over closed deals' amounts
    record_days: float = 0.0  # days from the first close on record to T
    recent_level: float = 1.0  # last quarter's win rate over the whole record's (applied to `rates`)

    @property
    def n_keys(self) -> int:
        return self.n_teams * N_AMOUNT_BANDS

    @property
    def pooled_segment(self) -> int:
        return self.n_stages * self.n_keys

    def segment_key(self, team: np.ndarray, amount: np.ndarray) -> np.ndarray:
        return team * N_AMOUNT_BANDS + np.searchsorted(self.amount_edges, amount)

    def landmark(self, time_in_stage: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(np.array(STAGE_LANDMARKS), time_in_stage, side="right") - 1, 0, None)


def _landmark_curves(
    subset: np.ndarray,
    exit_in_stage: np.ndarray,
    since_entry: np.ndarray,
    seen_from: np.ndarray,
    outcome: np.ndarray,
    closed: np.ndarray,
    slips_at: list[np.ndarray],
    fallback: list[list[CloseTimeModel]] | None,
) -> tuple[list[list[CloseTimeModel]], np.ndarray]:
    """Per landmark, per slip band: the curve of deals still in the stage at the landmark.

    Also says which curves were borrowed from `fallback` (their win level is the fallback group's).
    """
    out: list[list[CloseTimeModel]] = []
    borrowed = np.zeros((len(STAGE_LANDMARKS), SLIP_BANDS), dtype=bool)
    for i, landmark in enumerate(STAGE_LANDMARKS):
        keep = subset & (exit_in_stage >= landmark) & (since_entry >= landmark)
        n_closed = int((keep & closed).sum())
        slip_band = np.minimum(slips_at[i], SLIP_BANDS - 1)

        def fitted(mask: np.ndarray, lm: int = landmark) -> CloseTimeModel:
            return fit_close_times(
                np.floor(since_entry[mask]).astype(np.int64),
                outcome[mask],
                entry=np.maximum(seen_from[mask], lm).astype(np.int64),
            )

        if n_closed >= MIN_CLOSED_FOR_OWN_CURVE or (not out and fallback is None):
            base = fitted(keep)
        elif fallback is not None:
            base = fallback[i][0]
            borrowed[i, 0] = True
        else:
            base = out[-1][0]
            borrowed[i, 0] = borrowed[i - 1, 0]
        bands = [base]
        for k in range(1, SLIP_BANDS):
            in_band = keep & (slip_band == k)
            if (in_band & closed).sum() >= MIN_CLOSED_FOR_OWN_CURVE:
                bands.append(fitted(in_band))
            elif fallback is not None:
                bands.append(fallback[i][k])
                borrowed[i, k] = True
            else:
                bands.append(bands[-1])
                borrowed[i, k] = borrowed[i, k - 1]
        if n_closed >= MIN_CLOSED_FOR_OWN_CURVE:
            # Band 0 (no push yet) is its own group once pushes are split out.
            no_push = keep & (slips_at[i] == 0)
            if (no_push & closed).sum() >= MIN_CLOSED_FOR_OWN_CURVE:
                bands[0] = fitted(no_push)
                borrowed[i, 0] = False
        out.append(bands)
    return out, borrowed


def _stage_exit_age(h: History, stage: int, stage_order: np.ndarray, end_age: np.ndarray) -> np.ndarray:
    """Age at which each deal left `stage` (entered a later stage, or closed), else its end age."""
    later = h.reached & (stage_order[None, :] > stage_order[stage])
    entered = h.entered if h.entered is not None else np.zeros(h.reached.shape)
    first_later = np.where(later, entered, np.inf).min(axis=1)
    return np.minimum(first_later, end_age)


def fit(history: History, stage_order: np.ndarray | None = None) -> FittedModel:
    h = history
    n_stages, n_teams = h.n_stages, max(h.n_teams, 1)
    stage_order = np.arange(n_stages) if stage_order is None else stage_order
    closed = ~h.is_open
    age_now = (-h.created).astype(np.int64)
    duration = np.where(closed, np.nan_to_num(h.closed) - h.created, age_now)

    # Closes are only on record from the first one: before it, a CRM export (or a fresh CRM) says
    # nothing about how deals close, so deals enter the risk set then (left truncation), not at birth.
    first_close = float(np.nanmin(h.closed)) if closed.any() else 0.0
    observed_from = np.maximum(first_close - h.created, 0)
    pooled_curve = fit_close_times(
        duration.astype(np.int64), h.outcome, entry=observed_from.astype(np.int64), amounts=h.amount
    )
    won_mask, lost_mask = h.outcome == WON, h.outcome == LOST

    # Drift: how much the pooled win rate moves between months of closes.
    bucket_drift = DEFAULT_DRIFT_CONCENTRATION
    if closed.any():
        # Whole months counted back from T, only those inside the record of closes.
        full_months = int(-first_close // DRIFT_BUCKET_DAYS)
        close_bucket = np.floor(-np.nan_to_num(h.closed[closed]) / DRIFT_BUCKET_DAYS).astype(np.int64)
        inside = close_bucket < full_months
        trials = np.bincount(close_bucket[inside], minlength=full_months)
        wins = np.bincount(close_bucket[inside], weights=won_mask[closed][inside].astype(float), minlength=full_months)
        if full_months >= 3 and (trials > 0).sum() >= 3:
            measured = drift_concentration(wins, trials)
            bucket_drift = measured if measured is not None else MAX_DRIFT_CONCENTRATION
    amount_edges = (
        np.quantile(h.amount[closed], np.arange(1, N_AMOUNT_BANDS) / N_AMOUNT_BANDS)
        if closed.sum() >= 3 * N_AMOUNT_BANDS
        else np.full(N_AMOUNT_BANDS - 1, np.inf)
    )
    n_keys = n_teams * N_AMOUNT_BANDS
    band = np.searchsorted(amount_edges, h.amount)
    key = h.team * N_AMOUNT_BANDS + band

    alphas: list[np.ndarray] = []
    betas: list[np.ndarray] = []
    curves: list[list[list[list[CloseTimeModel]]]] = []
    stage_rate: list[list[np.ndarray]] = []
    curve_rate: list[list[np.ndarray]] = []
    entered_all = h.entered if h.entered is not None else np.zeros(h.reached.shape)
    stage_mean = _stage_means(h, won_mask, lost_mask)
    for s in range(n_stages):
        reached = h.reached[:, s]
        w = np.bincount(key[reached & won_mask], minlength=n_keys)[:n_keys]
        losses = np.bincount(key[reached & lost_mask], minlength=n_keys)[:n_keys]
        alpha_s, beta_s = _segment_posteriors(w, losses, n_teams, stage_mean[s], bucket_drift)
        alphas.append(alpha_s)
        betas.append(beta_s)
        stage_rate.append([])
        # Clock: days since entering the stage; follow-up runs to the final close, whatever stages
        # come between. Each landmark keeps only deals still in the stage at that many days; each
        # amount band has its own curves (large deals close later and less often), borrowing the
        # whole stage's where a band has too few closes.
        entry_age = entered_all[:, s]
        exit_in_stage = _stage_exit_age(h, s, stage_order, duration) - entry_age
        since_entry = np.maximum(duration - entry_age, 0)
        seen_from = np.maximum(observed_from - entry_age, 0)
        slips_at = [h.slips_by(entry_age + landmark) for landmark in STAGE_LANDMARKS]
        whole, _ = _landmark_curves(reached, exit_in_stage, since_entry, seen_from, h.outcome, closed, slips_at, None)
        whole_rate = (won_mask[reached].sum() + 0.5) / ((won_mask | lost_mask)[reached].sum() + 1.0)
        by_band, band_rate, band_curve_rate = [], [], []
        for b in range(N_AMOUNT_BANDS):
            in_band = reached & (band == b)
            own, borrowed = _landmark_curves(
                in_band, exit_in_stage, since_entry, seen_from, h.outcome, closed, slips_at, whole
            )
            by_band.append(own)
            rate_b = (won_mask[in_band].sum() + 0.5) / ((won_mask | lost_mask)[in_band].sum() + 1.0)
            band_rate.append(rate_b)
            band_curve_rate.append(np.where(borrowed, whole_rate, rate_b))
        curves.append(by_band)
        stage_rate[-1] = band_rate
        curve_rate.append(band_curve_rate)
    pooled = fit_beta_rates(np.array([won_mask.sum()]), np.array([lost_mask.sum()]), drift_concentration=bucket_drift)
    alphas.append(pooled.alpha)
    betas.append(pooled.beta)
    alpha, beta = np.concatenate(alphas), np.concatenate(betas)
    # Each month of closes is one draw of a rate that drifts; what it says about next period's rate
    # is shrunk toward an even chance counted as one more month. With two years of history that is a
    # nudge; with one month (a fresh CRM, an export that starts recently) it halves the month's say.
    months = max(-first_close / DRIFT_BUCKET_DAYS, 0.0) if closed.any() else 0.0
    prior_share = 1.0 / (months + 1.0)
    conc = alpha + beta
    mean = (1 - prior_share) * alpha / conc + prior_share * PRIOR_WIN_RATE
    level = _recent_level(h, won_mask, lost_mask)
    mean = np.clip(mean * level, 1e-4, 0.999)
    rates = BetaRates(alpha=mean * conc, beta=(1 - mean) * conc, pooled=pooled.pooled, kappa=pooled.kappa)

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
        stage_rate=np.array(stage_rate).reshape(n_stages, N_AMOUNT_BANDS),
        curve_rate=np.array(curve_rate).reshape(n_stages, N_AMOUNT_BANDS, len(STAGE_LANDMARKS), SLIP_BANDS),
        pooled_curve=pooled_curve,
        arrivals=arrivals,
        pace_cv=_pace_cv(h, first_close),
        win_cv=_win_cv(h, won_mask, first_close),
        new_deal_win_share=pooled_curve.win_share(),
        won_amount_mean=float(won_amounts.mean()) if len(won_amounts) else 0.0,
        won_amount_var=float(won_amounts.var()) if len(won_amounts) > 1 else 0.0,
        won_close_age=duration[won_mask],
        won_amount=won_amounts,
        n_teams=n_teams,
        n_stages=n_stages,
        amount_edges=amount_edges,
        record_days=float(-first_close) if closed.any() else 0.0,
        recent_level=level,
    )


def _recent_level(h: History, won_mask: np.ndarray, lost_mask: np.ndarray) -> float:
    """Last quarter's win rate (shrunk toward the whole record's) over the whole record's; 1 when the record is
    no longer than a quarter or has no wins."""
    wins, losses = float(won_mask.sum()), float(lost_mask.sum())
    if wins == 0:
        return 1.0
    overall = wins / (wins + losses)
    recent = np.nan_to_num(h.closed, nan=-np.inf) > -RECENT_RATE_DAYS
    recent_wins, recent_closes = float((recent & won_mask).sum()), float((recent & (won_mask | lost_mask)).sum())
    rate = (recent_wins + RECENT_RATE_PRIOR_CLOSES * overall) / (recent_closes + RECENT_RATE_PRIOR_CLOSES)
    return rate / overall


def _stage_means(h: History, won_mask: np.ndarray, lost_mask: np.ndarray) -> np.ndarray:
    """Win rate of deals that reached each stage, shrunk toward the pooled rate (top of the hierarchy)."""
    reached = h.reached
    wins = (reached & won_mask[:, None]).sum(axis=0)
    losses = (reached & lost_mask[:, None]).sum(axis=0)
    return fit_beta_rates(wins, losses).mean


def _segment_posteriors(
    wins: np.ndarray, losses: np.ndarray, n_teams: int, stage_mean: float, drift: float
) -> tuple[np.ndarray, np.ndarray]:
    """Beta per (team, amount band) in one stage: stage -> amount band -> team, each shrunk toward its parent.

    Large deals win less often; shrinking a team's large-deal rate toward the whole stage (all sizes)
    would pull it up and over-forecast exactly the deals that carry the most revenue, so a team's rate
    in a band is shrunk toward that band's rate, and the band's toward the stage's.
    """
    by_band_w = wins.reshape(n_teams, N_AMOUNT_BANDS)
    by_band_l = losses.reshape(n_teams, N_AMOUNT_BANDS)
    band_mean = fit_beta_rates(by_band_w.sum(axis=0), by_band_l.sum(axis=0), prior_rate=stage_mean).mean
    alpha = np.zeros((n_teams, N_AMOUNT_BANDS))
    beta = np.zeros((n_teams, N_AMOUNT_BANDS))
    for b in range(N_AMOUNT_BANDS):
        rates = fit_beta_rates(by_band_w[:, b], by_band_l[:, b], prior_rate=band_mean[b], drift_concentration=drift)
        alpha[:, b], beta[:, b] = rates.alpha, rates.beta
    return alpha.reshape(-1), beta.reshape(-1)


def _win_cv(h: History, won_mask: np.ndarray, first_close: float) -> float:
    """Between-quarter spread of the pooled win rate beyond binomial noise (CV), from whole quarters.

    A good or bad quarter moves every segment's rate at once; independent per-segment Beta draws
    average that out, so it is drawn once per simulation. Fewer than three quarters: not measured (0).
    """
    full = int(-first_close // QUARTER_DAYS) if np.isfinite(first_close) else 0
    if full < 3:
        return 0.0
    closed = ~h.is_open
    bucket = np.floor(-np.nan_to_num(h.closed[closed]) / QUARTER_DAYS).astype(np.int64)
    inside = bucket < full
    trials = np.bincount(bucket[inside], minlength=full).astype(float)
    wins = np.bincount(bucket[inside], weights=won_mask[closed][inside].astype(float), minlength=full)
    keep = trials > 0
    if keep.sum() < 3:
        return 0.0
    rates, p0 = wins[keep] / trials[keep], wins.sum() / trials.sum()
    if p0 <= 0:
        return 0.0
    excess = float(np.var(rates, ddof=1) - np.mean(p0 * (1 - p0) / trials[keep]))
    return float(np.clip(np.sqrt(max(excess, 0.0)) / p0, 0.0, 1.0))


def _pace_cv(h: History, first_close: float) -> float:
    """Coefficient of variation of the monthly close hazard beyond binomial noise, from whole months."""
    full_months = int(-first_close // DRIFT_BUCKET_DAYS) if np.isfinite(first_close) else 0
    if full_months < 3:
        return DEFAULT_PACE_CV
    closed_at = np.nan_to_num(h.closed, nan=np.inf)
    hazards, noise = [], []
    for m in range(full_months):
        end, start = -m * DRIFT_BUCKET_DAYS, -(m + 1) * DRIFT_BUCKET_DAYS
        at_risk = (h.created <= end) & (closed_at > start)
        closes = (closed_at > start) & (closed_at <= end)
        if at_risk.sum() >= 10:
            p = closes.sum() / at_risk.sum()
            hazards.append(p)
            noise.append(p * (1 - p) / at_risk.sum())
    if len(hazards) < 3 or np.mean(hazards) <= 0:
        return DEFAULT_PACE_CV
    excess = float(np.var(hazards, ddof=1) - np.mean(noise))
    return float(np.clip(np.sqrt(max(excess, 0.0)) / np.mean(hazards), 0.05, 1.0))


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

    A deal's chance is P(win inside the window | still in its stage after t days), from the curve of
    deals that sat in that stage at least as long, scaled by its segment's rate relative to the rate
    of the group that curve was fitted on (that ratio is what the shared Beta draw moves). `slip_days`
    pushes a deal's timing out (a what-if); `fixed_probability` (NaN = none) replaces the rate with a calibrated score.
    """
    w0, w1 = window
    idx = np.flatnonzero(history.is_open)
    age = (-history.created[idx]).astype(np.int64)
    in_stage = np.maximum(age - history.entered_stage_age[idx], 0)
    stage = history.stage[idx]
    shift = np.zeros(len(idx), dtype=np.int64) if slip_days is None else slip_days[idx].astype(np.int64)
    start = np.maximum(w0 - 1 - shift, 0)
    end = np.maximum(w1 - shift, 0)
    win = np.zeros(len(idx))
    close = np.zeros(len(idx))
    band = np.searchsorted(model.amount_edges, history.amount[idx])
    landmark = model.landmark(in_stage)
    pushes = np.minimum(history.slips_by(-history.created)[idx], SLIP_BANDS - 1)
    for s, b, lm, k in {
        (int(a), int(b), int(c), int(d)) for a, b, c, d in zip(stage, band, landmark, pushes, strict=True)
    }:
        sel = np.flatnonzero((stage == s) & (band == b) & (landmark == lm) & (pushes == k))
        win[sel], close[sel] = model.curves[s][b][lm][k].gained_within(in_stage[sel], start[sel], end[sel])
    win, close = np.clip(win, 0, 1), np.clip(close, 0, 1)
    key = model.segment_key(history.team[idx], history.amount[idx])
    segment = stage * model.n_keys + key
    curve_rate = np.maximum(model.curve_rate[stage, band, landmark, pushes], 1e-6)
    weight = win / curve_rate * rate_scale
    if model.record_days >= MIN_RECORD_FOR_STALE_DAYS and len(model.won_close_age):
        weight = np.where(age > np.quantile(model.won_close_age, STALE_WIN_AGE_QUANTILE), 0.0, weight)
    if fixed_probability is not None:
        fp = fixed_probability[idx]
        has = ~np.isnan(fp)
        if has.any():
            weight = np.where(has, np.clip(fp * close * rate_scale, 0, 1), weight)
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

    def gained(cumulative: np.ndarray) -> float:
        """Summed over the days of creation: what `cumulative` (a curve by age) gains while inside the window."""
        by_end = cumulative[np.clip(w1 - created, 0, curve.horizon)]
        before = np.where(w0 - 1 - created >= 0, cumulative[np.clip(w0 - 1 - created, 0, curve.horizon)], 0.0)
        return float(np.clip(by_end - before, 0, None).sum())

    wins = gained(curve.cif_won)
    exposure = wins / share if share > 0 else 0.0
    # A deal created and won inside the window closed fast, and fast wins are the small ones. What such a win
    # brings is read off the revenue curves over exactly the ages at which a deal created on each day of the
    # window can win inside it, weighted like the chance itself. The mean of every win no longer than the
    # window over-stated next quarter's new business by about half (demo: 30-42k a win forecast, 16-29k brought).
    amount_mean, amount_var = model.won_amount_mean, model.won_amount_var
    enough = (model.won_close_age <= w1).sum() >= MIN_FAST_WINS
    if enough and wins > 0 and curve.cif_won_amount is not None and curve.cif_won_amount_sq is not None:
        amount_mean = gained(curve.cif_won_amount) / wins
        amount_var = max(gained(curve.cif_won_amount_sq) / wins - amount_mean**2, 0.0)
    return NewBusiness(
        arrivals=model.arrivals,
        exposure_days=exposure * rate_scale,
        win_segment=model.pooled_segment,
        amount_mean=amount_mean,
        amount_var=amount_var,
        rate_multiplier=rate_multiplier,
    )
