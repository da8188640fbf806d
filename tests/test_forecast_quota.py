"""Quota, attainment, the leaderboard, and coverage defined once for the dashboard, the leaderboard and the alert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from forecasting import quota, selectors
from forecasting.coverage import closes_by, coverage_ratio
from forecasting.models import ForecastRun
from forecasting.services import target_set
from tenancy.scope import Scope
from tests.factories import make_deal

pytestmark = pytest.mark.django_db

START, END = date(2026, 10, 1), date(2026, 12, 31)


@pytest.fixture
def quarter(personas):
    """Rep: won 3,000 of a 10,000 quota, 14,000 open closing this quarter (2,000 overdue), 50,000 next quarter."""
    p = personas
    ws = p.workspace
    whole = Scope.whole_workspace(ws)
    target_set(scope=whole, period_start=START, period_end=END, amount=Decimal(10_000), owner=p.rep)
    target_set(scope=whole, period_start=START, period_end=END, amount=Decimal(20_000), team=p.rep.team)
    target_set(scope=whole, period_start=START, period_end=END, amount=Decimal(10_000))
    make_deal(ws, owner=p.rep, amount=3000, stage="Closed Won", at=datetime(2026, 10, 20, tzinfo=UTC))
    make_deal(ws, owner=p.rep, amount=12_000, stage="Proposal", expected_close_date=date(2026, 12, 10))
    make_deal(ws, owner=p.rep, amount=2000, stage="Proposal", expected_close_date=date(2026, 9, 30))
    make_deal(ws, owner=p.rep, amount=50_000, stage="Proposal", expected_close_date=date(2027, 2, 1))
    make_deal(ws, owner=p.other_rep, amount=8000, stage="Closed Won", at=datetime(2026, 11, 2, tzinfo=UTC))
    return p


def test_coverage_rule():
    assert coverage_ratio(open_pipeline=14_000, target=10_000, won=3000) == pytest.approx(2.0)
    assert coverage_ratio(open_pipeline=1, target=None, won=0) is None
    assert coverage_ratio(open_pipeline=1, target=100, won=100) == float("inf")
    assert closes_by(date(2026, 12, 31), END) and closes_by(date(2026, 1, 1), END)
    assert not closes_by(date(2027, 1, 1), END) and not closes_by(None, END)


def test_leaderboard_attainment_and_coverage(quarter):
    p = quarter
    board = quota.leaderboard(Scope.for_member(p.owner), START, END)
    rep = next(r for r in board["reps"] if r.name == p.rep.display_name)
    assert rep.target == 10_000 and rep.won == 3000 and rep.attainment == pytest.approx(0.3)
    assert rep.open_pipeline == 14_000  # next quarter's 50,000 is not this period's pipeline
    assert rep.coverage == pytest.approx(14_000 / 7000)
    east = next(t for t in board["teams"] if t.name == "East")
    assert east.target == 20_000 and east.won == 3000
    # Ranked by attainment: the West rep has no quota, so comes after the ranked ones.
    assert board["reps"][0].name == p.rep.display_name
    # A rep of another team sees only their own team.
    mine = quota.leaderboard(Scope.for_member(p.other_rep), START, END)
    assert {r.name for r in mine["reps"]} == {p.other_rep.display_name}


def test_the_dashboard_uses_the_same_coverage(quarter):
    p = quarter
    run = ForecastRun.objects.create(
        workspace=p.workspace,
        as_of=timezone.now(),
        period_start=START,
        period_end=END,
        sims=1,
        mean=0,
        percentiles={"p10": 0, "p50": 0, "p90": 0},
    )
    with time_machine.travel(datetime(2026, 11, 15, tzinfo=UTC), tick=False):
        shown = selectors.dashboard(Scope.for_member(p.owner), run, team=None, rep=p.rep)
    assert shown["coverage"] == pytest.approx(2.0)
    assert "what is left of the target" in shown["coverage_definition"]


def test_the_leaderboard_page(quarter):
    p = quarter
    page = p.client_for(p.manager).get("/w/acme/forecast/calls/leaderboard/?on=2026-11-01")
    text = page.content.decode()
    assert page.status_code == 200 and "30%" in text and "2.00×" in text and "what is left of the target" in text
    assert p.other_rep.display_name not in text
    assert p.client_for(p.outsider).get("/w/acme/forecast/calls/leaderboard/").status_code == 404
