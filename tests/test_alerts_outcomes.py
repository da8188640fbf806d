"""What "went bad" means for grading alerts, and the intervals of a grade (plain functions)."""

from __future__ import annotations

from datetime import date

from alerts.outcomes import DealCourse, earns_its_keep, grade, went_bad, wilson

ORIGIN, HORIZON = date(2026, 3, 31), date(2026, 5, 30)
Q2_END = date(2026, 6, 30)


def course(due=date(2026, 5, 15), lost=None, won=None, due_later=None):
    return DealCourse(due, Q2_END if due and due > date(2026, 3, 31) else date(2026, 3, 31), lost, won, due_later)


def test_a_loss_within_the_horizon_is_bad_and_a_win_on_time_is_not():
    assert went_bad(course(lost=date(2026, 4, 10)), ORIGIN, HORIZON)
    assert not went_bad(course(won=date(2026, 5, 10)), ORIGIN, HORIZON)


def test_a_due_date_passing_without_a_win_is_bad_even_if_won_later_in_the_horizon():
    assert went_bad(course(due_later=date(2026, 5, 15)), ORIGIN, HORIZON)
    assert went_bad(course(won=date(2026, 5, 20)), ORIGIN, HORIZON)


def test_still_open_and_not_yet_due_is_not_bad_however_quiet_it_is():
    assert not went_bad(course(due=date(2026, 6, 20), due_later=date(2026, 6, 20)), ORIGIN, HORIZON)
    assert not went_bad(course(due=None), ORIGIN, HORIZON)


def test_pushed_out_of_its_period_is_bad():
    assert went_bad(course(due=date(2026, 6, 20), due_later=date(2026, 7, 15)), ORIGIN, HORIZON)


def test_a_deal_past_due_at_the_origin_is_bad_only_if_not_won_by_the_horizon():
    overdue = date(2026, 3, 1)
    assert went_bad(DealCourse(overdue, overdue.replace(day=31), None, None, overdue), ORIGIN, HORIZON)
    assert not went_bad(DealCourse(overdue, date(2026, 3, 31), None, date(2026, 3, 31), None), ORIGIN, ORIGIN)


def test_wilson_interval_and_lift():
    low, high = wilson(8, 10)
    assert 0.49 < low < 0.5 and 0.94 < high < 0.95
    assert wilson(0, 0) is None
    everyone = set(range(100))
    bad = set(range(20))  # base rate 0.2
    strong = grade(set(range(15)) | {50, 51, 52, 53, 54}, bad, everyone)  # 15 of 20 flagged went bad
    assert strong["precision"] == 0.75 and strong["lift"] == 3.75 and earns_its_keep(strong)
    chance = grade({0, 1, 50, 51, 52, 53, 54, 55, 56, 57}, bad, everyone)  # 2 of 10: the base rate
    assert chance["lift"] == 1.0 and not earns_its_keep(chance)
    assert grade(set(), bad, everyone)["precision"] is None
