"""The activation rule's statistics: beating the base rate AND the stage rates by more than noise."""

from __future__ import annotations

import numpy as np

from scoring.activation import beats_references, paired_bootstrap, time_ordered_holdout
from scoring.evaluation import default_repeats, mean_defined


def _outcomes(n, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.random(n)
    y = (rng.random(n) < signal).astype(float)
    return y, signal


def test_a_model_that_knows_something_beats_both_references():
    y, signal = _outcomes(2000)
    refs = {"base_rate": np.full(len(y), y.mean()), "stage_rate": np.full(len(y), y.mean())}
    ok, gains, why = beats_references(y, np.ones(len(y)), np.arange(len(y)), signal, refs)
    assert ok and why == ""
    assert gains["base_rate"]["low"] > 0


def test_a_model_no_better_than_the_base_rate_is_refused_with_the_reason():
    y, signal = _outcomes(2000)
    noise = np.clip(y.mean() + np.random.default_rng(1).normal(0, 0.02, len(y)), 0, 1)
    refs = {"base_rate": np.full(len(y), y.mean()), "stage_rate": signal}
    ok, gains, why = beats_references(y, np.ones(len(y)), np.arange(len(y)), noise, refs)
    assert not ok
    assert "the base rate" in why and "the stage win rates" in why and "by more than noise" in why
    assert gains["base_rate"]["low"] <= 0 <= gains["base_rate"]["high"] or gains["base_rate"]["high"] < 0


def test_the_bootstrap_interval_covers_a_zero_gain():
    gains = np.random.default_rng(0).normal(0, 0.1, 500)
    interval = paired_bootstrap(gains)
    assert interval["low"] < 0 < interval["high"]


def test_time_ordered_holdout_holds_out_later_decisions_as_they_stood_after_the_cut():
    deals = np.repeat(np.arange(100), 3)
    close = np.repeat(np.arange(100, dtype=float) * 10, 3)
    t = close - np.tile([30.0, 20.0, 5.0], 100)
    train, held, cut = time_ordered_holdout(deals, t, close)
    assert (close[train] < cut).all()
    assert (close[held] >= cut).all() and (t[held] >= cut).all()
    # Deal 75 is decided at the cut itself with no snapshot after it: nothing of it to score then.
    assert set(np.unique(deals[held]).tolist()) == set(range(76, 100))


def test_undefined_metrics_are_left_out_of_means_and_counted():
    assert mean_defined([0.5, None, float("nan"), 0.7]) == (0.6, 2)
    assert mean_defined([None, None]) == (None, 2)
    assert default_repeats(448) == 5 and default_repeats(78_000) == 1


def test_a_model_that_only_learns_the_later_win_rate_is_not_activated():
    """Outcomes that depend on nothing but the calendar (win rate rising from 30% to 70%): a model
    calibrated on the later deals would match their level and look better than the training base rate.
    Judged with cross-fitted calibration against level-matched references, it claims no skill."""
    from scoring.features import Vocabulary, build_features, training_snapshots
    from scoring.management.commands.bench_scoring import synthetic_raw
    from scoring.model import fit_scorer

    raw = synthetic_raw(n_open=50, n_closed=1500, seed=4)
    closed = np.flatnonzero(raw.outcome != 0)
    order = np.argsort(raw.closed[closed])
    rate = np.empty(len(closed))
    rate[order] = np.linspace(0.3, 0.7, len(closed))
    raw.outcome[closed] = np.where(np.random.default_rng(5).random(len(closed)) < rate, 1, 2)
    s = training_snapshots(raw)
    vocab = Vocabulary.fit(raw.attributes)
    x, names = build_features(raw, s.deal, s.t, vocab)
    scorer = fit_scorer(x, s.y, s.weight, s.deal, s.closed, names, vocab, snapshot_t=s.t)
    assert scorer.is_fallback, scorer.reason
    assert "by more than noise" in scorer.reason
    assert scorer.validation["brier_gain"]["base_rate"]["low"] <= 0
