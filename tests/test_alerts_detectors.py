"""The detectors and the ranking on small arrays (no database)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from alerts import detectors, priority
from alerts.detectors import DealFacts, Thresholds

T = Thresholds()


def make_facts(n: int, **overrides) -> DealFacts:
    """`n` healthy deals (recent activity, on schedule, three contacts) with some facts overridden."""
    base = {
        "deal_id": np.arange(1, n + 1),
        "amount": np.full(n, 10_000.0),
        "stage_id": np.ones(n, dtype=np.int64),
        "stage_probability": np.full(n, 0.3),
        "win_probability": np.full(n, np.nan),
        "previous_win_probability": np.full(n, np.nan),
        "age_days": np.full(n, 60.0),
        "days_in_stage": np.full(n, 5.0),
        "stage_norm_days": np.full(n, 20.0),
        "days_since_activity": np.full(n, 2.0),
        "recent_activities": np.full(n, 4.0),
        "earlier_activities": np.full(n, 12.0),
        "days_since_inbound": np.full(n, 3.0),
        "recent_outbound": np.full(n, 2.0),
        "recent_inbound": np.full(n, 2.0),
        "slip_count": np.zeros(n),
        "slip_days": np.zeros(n),
        "days_past_due": np.full(n, -30.0),
        "contact_count": np.full(n, 3.0),
        "days_to_period_end": np.full(n, 40.0),
        "activity_tracked": np.ones(n, dtype=bool),
        "meeting_booked": np.zeros(n, dtype=bool),
    }
    for key, value in overrides.items():
        base[key] = np.asarray(value, dtype=base[key].dtype)
    return DealFacts(**base)


def test_healthy_deals_raise_nothing():
    findings = detectors.run_all(make_facts(4), T)
    assert {kind: int(f.flagged.sum()) for kind, f in findings.items()} == dict.fromkeys(detectors.DETECTORS, 0)


def test_stale_after_fourteen_quiet_days_or_never_touched_once_old():
    f = make_facts(4, days_since_activity=[13, 15, np.nan, np.nan], age_days=[60, 60, 10, 30])
    found = detectors.stale(f, T)
    assert found.flagged.tolist() == [False, True, False, True]
    assert found.severity[3] > found.severity[1]  # 30 idle days is worse than 15
    untracked = make_facts(1, days_since_activity=[np.nan], activity_tracked=[False])
    assert not detectors.stale(untracked, T).flagged.any()  # a workspace that logs no activities


def test_stalled_compares_with_the_stage_norm_not_a_fixed_number():
    f = make_facts(3, days_in_stage=[30, 30, 30], stage_norm_days=[20, 45, np.nan])
    assert detectors.stalled(f, T).flagged.tolist() == [True, False, False]


def test_slipping_counts_pushes_and_past_due():
    f = make_facts(4, slip_count=[1, 2, 0, 0], slip_days=[20, 45, 0, 0], days_past_due=[-5, -5, 3, np.nan])
    found = detectors.slipping(f, T)
    assert found.flagged.tolist() == [False, True, True, False]


def test_engagement_decay_against_the_deals_own_rate_and_ghosting():
    f = make_facts(
        4,
        recent_activities=[1, 4, 0, 5],
        earlier_activities=[12, 12, 2, 5],
        days_since_inbound=[3, 3, 3, 20],
        recent_outbound=[1, 2, 0, 5],
    )
    found = detectors.engagement(f, T)
    # 1 in 14 days vs 12 in 42 is a drop to 25%; 0 vs 2 earlier is too little history to judge.
    assert found.flagged.tolist() == [True, False, False, True]


def test_model_risk_is_silent_without_scores():
    f = make_facts(3, amount=[1e6, 1e3, 1e3])
    assert not detectors.model_risk(f, T).flagged.any()


def test_model_risk_on_a_drop_or_a_low_score_on_a_large_deal():
    f = make_facts(
        4,
        amount=[1e3, 1e3, 1e6, 1e3],
        win_probability=[0.2, 0.5, 0.1, 0.1],
        previous_win_probability=[0.6, 0.55, np.nan, np.nan],
    )
    assert detectors.model_risk(f, T).flagged.tolist() == [True, False, True, False]


def test_single_threaded_only_above_the_median_and_only_with_contact_data():
    f = make_facts(4, amount=[1e3, 2e3, 5e4, 8e4], contact_count=[1, 1, 1, 3])
    assert detectors.single_threaded(f, T).flagged.tolist() == [False, False, True, False]
    assert not detectors.single_threaded(make_facts(4, contact_count=[np.nan] * 4), T).flagged.any()


def test_thresholds_are_configurable_and_validated():
    strict = Thresholds.from_dict({"stale_days": 7, "unknown": 3})
    f = make_facts(1, days_since_activity=[10])
    assert detectors.stale(f, strict).flagged.tolist() == [True]
    assert detectors.stale(f, T).flagged.tolist() == [False]
    with pytest.raises(ValueError, match="stale_days"):
        Thresholds.from_dict({"stale_days": -1})
    assert isinstance(Thresholds.from_dict({"slip_min_pushes": "3"}).slip_min_pushes, int)


def test_coverage_and_forecast_drop():
    assert detectors.coverage(open_pipeline=200, target=300, won=100, t=T).flagged  # 1x of what is left
    assert not detectors.coverage(open_pipeline=700, target=300, won=100, t=T).flagged
    assert not detectors.coverage(open_pipeline=0, target=300, won=400, t=T).flagged  # target already met
    assert detectors.forecast_drop(p50_now=80, p50_before=100, t=T) == (True, pytest.approx(0.2))
    assert not detectors.forecast_drop(p50_now=95, p50_before=100, t=T)[0]


def test_large_deal_this_quarter_outranks_small_deal_next_year():
    ranked = priority.rank(
        amount=np.array([5_000.0, 500_000.0, 500_000.0]),
        win_probability=np.full(3, np.nan),
        stage_probability=np.array([0.5, 0.5, 0.5]),
        severity=np.array([0.8, 0.8, 0.8]),
        days_to_period_end=np.array([400.0, 30.0, 400.0]),
        reference_value=10_000.0,
        thresholds=T,
    )
    order = np.argsort(-ranked.score)
    assert order.tolist() == [1, 2, 0]
    assert ranked.priority[1] == priority.CRITICAL
    assert ranked.priority[0] == priority.LOW


def test_corroborating_signals_raise_priority():
    one = priority.rank(
        amount=np.array([10_000.0]),
        win_probability=np.array([np.nan]),
        stage_probability=np.array([0.5]),
        severity=np.array([0.6]),
        days_to_period_end=np.array([30.0]),
        reference_value=5_000.0,
        thresholds=T,
        signals=np.array([1]),
    )
    three = priority.rank(
        amount=np.array([10_000.0]),
        win_probability=np.array([np.nan]),
        stage_probability=np.array([0.5]),
        severity=np.array([0.6]),
        days_to_period_end=np.array([30.0]),
        reference_value=5_000.0,
        thresholds=T,
        signals=np.array([3]),
    )
    assert three.score[0] > one.score[0]


def test_take_keeps_every_array_aligned():
    f = make_facts(3, amount=[1.0, 2.0, 3.0])
    sub = f.take(np.array([2, 0]))
    assert sub.amount.tolist() == [3.0, 1.0]
    assert all(len(getattr(sub, x.name)) == 2 for x in fields(sub))


def test_a_meeting_booked_ahead_keeps_a_quiet_deal_from_stale_and_ghosting():
    quiet = {"days_since_activity": [30, 30], "days_since_inbound": [30, 30], "recent_outbound": [5, 5]}
    f = make_facts(2, meeting_booked=[False, True], **quiet)
    assert detectors.stale(f, T).flagged.tolist() == [True, False]
    assert detectors.engagement(f, T).flagged.tolist() == [True, False]
