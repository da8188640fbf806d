"""The numerical core: closed-form moments, shared vs independent rate draws, survival with censoring."""

from __future__ import annotations

import numpy as np

from forecasting.engine import OpenDeals, closed_form_moments, simulate
from forecasting.rates import BetaRates, fit_beta_rates
from forecasting.survival import CENSORED, LOST, WON, fit_close_times


def _fixed(amount: np.ndarray, p: np.ndarray) -> tuple[OpenDeals, BetaRates]:
    # Segment 1 (one past the last) marks fixed probabilities: no rate uncertainty, no timing.
    deals = OpenDeals(amount=amount, segment=np.ones(len(amount), dtype=np.intp), weight=p)
    return deals, BetaRates(alpha=np.array([1.0]), beta=np.array([1.0]), pooled=0.5, kappa=2)


def test_independent_deals_match_closed_form_mean_and_variance():
    rng = np.random.default_rng(3)
    amount = rng.lognormal(9, 1, 300)
    p = rng.uniform(0.05, 0.95, 300)
    deals, rates = _fixed(amount, p)
    sims = 40_000
    result = simulate(deals=deals, rates=rates, sims=sims, seed=1)
    mean, var = closed_form_moments(amount, p)
    # Monte Carlo standard errors of the mean and of the variance (normal approximation).
    assert abs(result.mean - mean) < 4 * np.sqrt(var / sims)
    assert abs(result.std**2 - var) < 4 * var * np.sqrt(2 / sims)


def test_independent_rate_draws_give_a_falsely_narrow_interval():
    amount = np.full(2000, 10_000.0)
    rates = BetaRates(alpha=np.array([20.0]), beta=np.array([20.0]), pooled=0.5, kappa=40)
    deals = OpenDeals(amount=amount, segment=np.zeros(2000, dtype=np.intp), weight=np.ones(2000))
    shared = simulate(deals=deals, rates=rates, sims=3000, seed=2)
    independent = simulate(deals=deals, rates=rates, sims=3000, seed=2, shared_rates=False)
    width_shared = shared.percentiles["p90"] - shared.percentiles["p10"]
    width_indep = independent.percentiles["p90"] - independent.percentiles["p10"]
    # Shared: the rate's own sd (~0.078) times the pipeline; independent draws average it away.
    assert width_shared > 5 * width_indep
    assert abs(shared.mean - independent.mean) < 0.02 * shared.mean


def test_survival_with_censoring_recovers_an_exponential():
    rng = np.random.default_rng(5)
    n, scale = 20_000, 40.0
    true = rng.exponential(scale, n)
    censor = rng.uniform(0, 120, n)
    observed = np.minimum(true, censor)
    events = np.where(true <= censor, WON, CENSORED)
    model = fit_close_times(np.floor(observed), events)
    for t in (10, 30, 60):
        assert abs(model.survival(t) - np.exp(-(t + 1) / scale)) < 0.02
    # Ignoring censoring (treating open deals as closed) would be far off: the fit is not that.
    naive = np.mean(observed > 60)
    assert abs(model.survival(60) - naive) > 0.05


def test_a_deal_older_than_anything_that_closed_is_nearly_dead():
    durations = np.array([5, 10, 20, 30, 40, 200, 220])
    events = np.array([WON, WON, LOST, WON, LOST, CENSORED, CENSORED])
    model = fit_close_times(durations, events)
    assert model.win_within(10, 90) > 0.15
    assert model.win_within(150, 90) == 0.0


def test_small_segments_shrink_toward_the_pooled_rate():
    wins = np.array([400, 1, 300])
    losses = np.array([400, 0, 300])
    rates = fit_beta_rates(wins, losses)
    assert 0.45 < rates.mean[1] < 0.6  # one win of one: not 100%
    assert rates.concentration[0] > rates.concentration[1]  # more evidence, tighter Beta


def test_deals_that_keep_slipping_are_learnt_to_win_less():
    from forecasting.model import History, fit, open_deal_inputs

    rng = np.random.default_rng(9)
    n = 1200
    created = -rng.uniform(100, 400, n)
    slips = np.full((n, 2), np.nan)
    pushed = rng.random(n) < 0.4
    slips[pushed] = 5.0  # two pushes in the first week in the stage
    # History that says so: pushed deals won 15% of the time, the others 60%.
    won = rng.random(n) < np.where(pushed, 0.15, 0.6)
    closed = created + rng.uniform(20, 60, n)
    outcome = np.where(won, WON, LOST)
    history = History(
        created=np.append(created, [-30.0, -30.0]),
        closed=np.append(closed, [np.nan, np.nan]),
        outcome=np.append(outcome, [CENSORED, CENSORED]),
        amount=np.full(n + 2, 1000.0),
        stage=np.zeros(n + 2, dtype=np.int64),
        reached=np.ones((n + 2, 1), dtype=bool),
        entered_stage_age=np.zeros(n + 2, dtype=np.int64),
        team=np.zeros(n + 2, dtype=np.int64),
        n_teams=1,
        entered=np.zeros((n + 2, 1)),
        slips=np.vstack([slips, [[np.nan, np.nan], [5.0, 5.0]]]),  # the last open deal slipped twice
    )
    model = fit(history)
    _, deals = open_deal_inputs(history, model, window=(1, 90))
    chance = model.rates.mean[deals.segment] * deals.weight
    assert chance[1] < 0.5 * chance[0]


def _closed_history(created: np.ndarray, closed: np.ndarray, won: np.ndarray, amount: np.ndarray):
    from forecasting.model import History

    n = len(created)
    return History(
        created=created,
        closed=closed,
        outcome=np.where(won, WON, LOST),
        amount=amount,
        stage=np.zeros(n, dtype=np.int64),
        reached=np.ones((n, 1), dtype=bool),
        entered_stage_age=np.zeros(n, dtype=np.int64),
        team=np.zeros(n, dtype=np.int64),
        n_teams=1,
        entered=np.zeros((n, 1)),
    )


def test_new_business_is_worth_what_wins_of_that_speed_bring():
    """Half the wins take 10 days and bring 1,000; half take 80 days and bring 10,000. A deal created inside a
    91-day window has far more days to win fast than slow, so what new business brings is mostly small wins:
    (81 x 1,000 + 11 x 10,000) / 92 = 2,076 a win, not the 5,500 average of every win no longer than the window."""
    from forecasting.model import fit, new_business_inputs

    rng = np.random.default_rng(4)
    n = 2000
    slow = rng.random(n) < 0.5
    created = -rng.uniform(200, 600, n)
    history = _closed_history(
        created, created + np.where(slow, 80.0, 10.0), np.ones(n, dtype=bool), np.where(slow, 10_000.0, 1_000.0)
    )
    nb = new_business_inputs(fit(history), window=(1, 91))
    assert 1_900 < nb.amount_mean < 2_300
    # Next quarter (days 31-121): slow wins of deals created in the first 41 days count too.
    later = new_business_inputs(fit(history), window=(31, 121))
    assert 3_500 < later.amount_mean < 4_100  # (41 x 10,000 + 91 x 1,000) / 132 = 3,795


def test_the_win_rate_follows_the_last_quarter():
    """Deals closed more than a quarter ago won 80% of the time, those of the last quarter 50%: next period's rate
    is the recent one, not the 65% of the whole record."""
    from forecasting.model import fit

    rng = np.random.default_rng(5)
    n = 6000  # about 1,400 closes in the last quarter
    closed = -rng.uniform(0, 400, n)
    recent = closed > -91
    won = rng.random(n) < np.where(recent, 0.5, 0.8)
    model = fit(_closed_history(closed - 30, closed, won, np.full(n, 1000.0)))
    overall = won.mean()
    assert 0.55 < model.recent_level * overall / 0.5 < 1.1  # the recent rate (shrunk a little toward the whole)
    pooled = model.rates.mean[model.pooled_segment]
    assert pooled < 0.58, pooled
    # A record no longer than a quarter has nothing older to differ from.
    short = fit(_closed_history(closed[recent] - 30, closed[recent], won[recent], np.full(recent.sum(), 1000.0)))
    assert short.recent_level == 1.0


def test_gained_within_is_the_difference_of_the_curves_chances():
    """What a forecast reads per group of open deals: exactly win_within / close_within at the window's two ends."""
    rng = np.random.default_rng(5)
    n = 400
    durations = rng.integers(0, 200, n)
    events = rng.choice([CENSORED, WON, LOST], n, p=[0.3, 0.3, 0.4])
    curve = fit_close_times(durations, events, entry=rng.integers(0, 20, n))
    age = rng.integers(0, 260, 300)  # some beyond every close seen (a dead curve: zero)
    start = np.where(rng.random(300) < 0.5, 0, rng.integers(1, 60, 300))
    end = start + rng.integers(0, 90, 300)
    win, close = curve.gained_within(age, start, end)
    later = start > 0
    np.testing.assert_array_equal(win, curve.win_within(age, end) - np.where(later, curve.win_within(age, start), 0.0))
    np.testing.assert_array_equal(
        close, curve.close_within(age, end) - np.where(later, curve.close_within(age, start), 0.0)
    )
    assert win.max() > 0 and (win[age > curve.max_close_age] == 0).all()
