"""Bottlenecks: a stage that got worse than the workspace's own history, beyond noise; not on noise."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from insights import bottlenecks
from insights.selectors import bottlenecks_for_member
from tenancy.scope import Scope
from tests.insights_deals import days_ago, deal_through


# ---- the plain core ------------------------------------------------------------------------------------
def _evidence(rng, earlier_rate: float, recent_rate: float, earlier_stay: float, recent_stay: float, n: int = 60):
    decided_at = np.concatenate([rng.uniform(-400, -100, n), rng.uniform(-85, -1, n)])
    rates = np.concatenate([np.full(n, earlier_rate), np.full(n, recent_rate)])
    stays = np.concatenate([rng.exponential(earlier_stay, n), rng.exponential(recent_stay, n)])
    return bottlenecks.StageWindows(
        advanced=rng.random(2 * n) < rates, decided_at=decided_at, stay_days=stays, stay_ended_at=decided_at
    )


def test_a_constructed_worsening_is_found_and_noise_is_not():
    rng = np.random.default_rng(7)
    worse = bottlenecks.stage_findings(_evidence(rng, 0.6, 0.25, 10, 30), stages=5)
    assert {f.metric for f in worse} == {"conversion", "time_in_stage"}
    conversion = next(f for f in worse if f.metric == "conversion")
    assert conversion.recent < conversion.earlier and conversion.p_value < 0.05
    # The same process in both windows: over many draws, a false alarm about as rarely as ALPHA says (5 in 100).
    alarms = sum(bool(bottlenecks.stage_findings(_evidence(rng, 0.5, 0.5, 15, 15))) for _ in range(200))
    assert alarms <= 20


def test_too_few_decisions_are_not_judged():
    rng = np.random.default_rng(1)
    assert bottlenecks.stage_findings(_evidence(rng, 0.9, 0.0, 5, 50, n=10)) == []


def test_two_proportion_test_is_one_sided():
    assert bottlenecks.two_proportion_worse(10, 50, 30, 50) < 0.001
    assert bottlenecks.two_proportion_worse(30, 50, 10, 50) > 0.999


# ---- from the deal history ------------------------------------------------------------------------------
def _proposals(personas, *, earlier: tuple[int, int], recent: tuple[int, int], recent_stay: int) -> None:
    """(advanced, total) out of Proposal a year ago (10-day stays) and in the last 90 days (`recent_stay`-day stays)."""
    ws, now = personas.workspace, timezone.now()
    for window, (advanced, total), stay, start in (("e", earlier, 10, 300), ("r", recent, recent_stay, 80)):
        for i in range(total):
            entered = days_ago(now, start - i * 2 + stay)
            left = days_ago(now, start - i * 2)
            end = "Negotiation" if i < advanced else "Closed Lost"
            deal_through(ws, personas.rep, [("Proposal", entered), (end, left)], title=f"{window}{i}")


@pytest.fixture
def stuck(personas):
    now = timezone.now()
    return [
        deal_through(
            personas.workspace, personas.rep, [("Proposal", days_ago(now, 70))], amount=55000, title="Stuck A"
        ),
        deal_through(personas.workspace, personas.rep, [("Proposal", days_ago(now, 2))], amount=7000, title="Fresh B"),
    ]


def test_a_stage_that_got_worse_is_flagged_with_the_deals_stuck_there(personas, stuck):
    _proposals(personas, earlier=(24, 30), recent=(8, 30), recent_stay=30)
    found = bottlenecks_for_member(Scope.for_member(personas.owner))
    metrics = {(b.stage, b.finding.metric) for b in found}
    assert ("Proposal", "conversion") in metrics and ("Proposal", "time_in_stage") in metrics
    conversion = next(b for b in found if b.finding.metric == "conversion")
    assert (conversion.finding.recent, conversion.finding.earlier) == (pytest.approx(8 / 30), pytest.approx(24 / 30))
    assert [s.deal.title for s in conversion.stuck] == ["Stuck A"]  # 70 days: far past the earlier 10-day stays
    assert conversion.revenue_held_up == 55000
    assert "Conversion from Proposal fell to 27%" in conversion.text
    # Another team's member sees nothing of East's stage.
    assert bottlenecks_for_member(Scope.for_member(personas.other_rep)) == []


def test_no_bottleneck_on_noise(personas, stuck):
    _proposals(personas, earlier=(15, 30), recent=(14, 30), recent_stay=10)
    assert bottlenecks_for_member(Scope.for_member(personas.owner)) == []
