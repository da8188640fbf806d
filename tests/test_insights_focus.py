"""The deals that decide the period come from the run's stored simulations, in the member's scope."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from crm.services import deal_update
from forecasting.models import RunSimulation, Target
from forecasting.services import forecast_run
from forecasting.simulations import unpack
from insights import focus
from insights.selectors import focus_for_member
from tenancy.scope import Scope
from tests.insights_deals import days_ago, deal_through

SIMS = 4000


# ---- the plain core ------------------------------------------------------------------------------------
def _synthetic(seed: int = 1):
    rng = np.random.default_rng(seed)
    sims = 20_000
    p = np.array([0.5, 0.5, 0.3, 0.9])
    amount = np.array([100_000.0, 10.0, 50_000.0, 40_000.0])
    won = rng.random((4, sims)) < p[:, None]
    totals = amount @ won
    return won, amount, totals


def test_a_big_deal_swings_the_chance_and_a_tiny_one_does_not():
    won, amount, totals = _synthetic()
    target = 120_000.0
    impacts = focus.deal_impacts(won=won, amount=amount, totals=totals, raw_totals=totals, target=target)
    # Exact under independence: with the big deal won the rest must make 20k (C or D), lost they must make 120k (never).
    assert impacts.chance_if_won[0] == pytest.approx(1 - 0.7 * 0.1, abs=0.01)
    assert impacts.chance_if_lost[0] == pytest.approx(0.0, abs=1e-9)
    assert abs(impacts.swing[1]) < 0.01  # the 10-unit deal moves nothing
    assert impacts.chance == pytest.approx(float(np.mean(totals >= target)))
    # Variance shares add up to 1 when the total is the deals' sum, and track amount² p(1-p).
    assert impacts.spread_share.sum() == pytest.approx(1.0, abs=1e-6)
    assert impacts.spread_share[0] > impacts.spread_share[2] > impacts.spread_share[1]
    room = focus.room_to_act(impacts.probability, 30, np.zeros(4))
    order = focus.top(focus.impact_scores(impacts, room), 4)
    assert order[0] == 0 and 1 not in order[:2]


def test_blended_totals_map_the_target_back_to_the_engines_scale():
    raw = np.array([10.0, 20.0, 30.0, 40.0])
    blended = raw * 2 + 5
    assert focus.raw_threshold(45.0, blended, raw) == pytest.approx(20.0)
    assert focus.raw_threshold(12.0, raw, raw) == 12.0
    assert focus.raw_threshold(100.0, blended, raw) == pytest.approx(40 + (100 - 85))


def test_room_to_act_needs_an_open_outcome_and_time_and_counts_alerts():
    p = np.array([0.5, 0.5, 0.999, 0.5])
    room = focus.room_to_act(p, 30, np.array([0, 2, 0, 0]))
    assert room[1] > room[0] > room[2]
    assert focus.room_to_act(p, 0, np.zeros(4)).max() == 0.0


# ---- from a stored run ---------------------------------------------------------------------------------
@pytest.fixture
def pipeline(personas, monkeypatch):
    """East (the rep) and West (other_rep) with a won/lost record, and open deals of very different sizes."""
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", SIMS)
    ws = personas.workspace
    now = timezone.now()
    for i in range(30):
        owner = personas.rep if i % 2 else personas.other_rep
        end = "Closed Won" if i % 3 else "Closed Lost"
        start = 300 - 9 * i
        cycle = min(15 + (i * 7) % 50, start - 5)  # every one closed before today
        deal_through(ws, owner, [("Proposal", days_ago(now, start)), (end, days_ago(now, start - cycle))], amount=20000)
    close = (now + timezone.timedelta(days=20)).date()
    deals = {
        "big": deal_through(ws, personas.rep, [("Proposal", days_ago(now, 8))], amount=900_000, title="Big one"),
        "mid": deal_through(ws, personas.rep, [("Proposal", days_ago(now, 8))], amount=60_000, title="Mid one"),
        "tiny": deal_through(ws, personas.rep, [("Proposal", days_ago(now, 8))], amount=50, title="Tiny one"),
        "west": deal_through(
            ws, personas.other_rep, [("Proposal", days_ago(now, 8))], amount=800_000, title="West secret"
        ),
    }
    for deal in deals.values():
        deal_update(deal=deal, actor=None, changes={"expected_close_date": close})
    run = forecast_run(workspace=ws)
    # Between the totals' point masses (sums of a few amounts), so only real swings cross it: beyond Mid and what
    # else may close (60k + 20k deals), below either big deal (800k, 900k), beside what already closed in the
    # period. Not at the median: with each big deal's chance near 0.3 the median sits where both are lost (49%),
    # and it jumps between masses with any small change of the chances.
    Target.objects.create(
        workspace=ws,
        period_start=run.period_start,
        period_end=run.period_end,
        amount=Decimal(round(run.realised) + 400_000),
    )
    return deals


def _by_title(result):
    return {d.deal.title: d for d in result.deals}


def test_focus_ranks_by_the_stored_simulations_in_the_members_sight(personas, pipeline):
    result = focus_for_member(Scope.for_member(personas.owner))
    titles = [d.deal.title for d in result.deals]
    assert set(titles[:2]) == {"Big one", "West secret"}
    found = _by_title(result)
    if "Tiny one" in found:  # winning or losing 50 moves almost no simulation across the target: last, far behind
        assert titles[-1] == "Tiny one" and found["Tiny one"].impact < found["Big one"].impact / 50
    assert found["Big one"].swing > 0.3
    if "Mid one" in found:  # 60k next to a 400k gap: far less impact, or none worth listing
        assert found["Big one"].impact > 10 * found["Mid one"].impact
    assert "chance of reaching the target" in found["Big one"].reason

    # The figures are the stored simulations': the deal set won / lost in every one of them, recomputed by hand.
    sim = unpack(RunSimulation.objects.get(run=result.run).data)
    assert sim.won.shape == (len(sim.deal_ids), SIMS)
    row = int(np.flatnonzero(sim.deal_ids == pipeline["big"].id)[0])
    target = float(Target.objects.get(workspace=personas.workspace).amount)
    without = sim.raw_totals - sim.amount[row] * sim.won[row]
    assert found["Big one"].chance_if_won == pytest.approx(float(np.mean(without + sim.amount[row] >= target)))
    assert found["Big one"].chance_if_lost == pytest.approx(float(np.mean(without >= target)))
    assert result.chance == pytest.approx(float(np.mean(sim.totals >= target)))

    # A rep (and East's manager) see East's deals only; the owner sees West's too.
    rep_view = focus_for_member(Scope.for_member(personas.rep))
    assert "Big one" in {d.deal.title for d in rep_view.deals}
    assert "West secret" not in {d.deal.title for d in rep_view.deals}
    assert rep_view.scope_name == personas.rep.team.name
    assert "West secret" not in {d.deal.title for d in focus_for_member(Scope.for_member(personas.manager)).deals}


def test_changing_a_deals_amount_changes_its_impact(personas, pipeline):
    before = _by_title(focus_for_member(Scope.for_member(personas.owner))).get("Mid one")  # may be too small to list
    deal_update(deal=pipeline["mid"], actor=None, changes={"amount": Decimal("700000")})
    forecast_run(workspace=personas.workspace)
    after = _by_title(focus_for_member(Scope.for_member(personas.owner)))["Mid one"]
    assert after.amount == 700_000 and (before is None or before.amount == 60_000)
    assert after.swing > (before.swing if before else 0.0) + 0.1
    assert before is None or after.impact > 3 * before.impact


def test_no_stored_run_means_no_focus(personas):
    assert focus_for_member(Scope.for_member(personas.owner)).run is None
