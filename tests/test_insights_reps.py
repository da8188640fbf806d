"""Rep insights: a gap is called out only where the rep's 90% interval leaves out the team's figure at the rep's mix."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone
from scipy import stats

from crm.models import Deal, Outcome
from insights import reps
from insights.selectors import rep_insights_for_member
from tenancy.models import Role
from tenancy.scope import Scope
from tests.factories import MembershipFactory, UserFactory, default_stage


# ---- the plain core ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("k", "n"), [(18, 100), (0, 20), (9, 50), (40, 40)])
def test_wilson_interval_matches_scipys(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert reps.wilson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)


def _group(n: int, wins: int, stratum: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n) < wins, np.full(n, stratum)


def test_the_team_figure_is_taken_at_the_reps_mix():
    # Everyone wins 60% of small deals and 20% of large ones. The rep sells only large deals and wins 20%:
    # against the team's raw 40% that looks like a gap; at the rep's own mix it is exactly the team's figure.
    rep_success, rep_strata = _group(60, 12, 1)
    small, small_s = _group(60, 36, 0)
    large, large_s = _group(60, 12, 1)
    success = np.concatenate([rep_success, small, large])
    strata = np.concatenate([rep_strata, small_s, large_s])
    rep = np.arange(180) < 60
    result = reps.share_vs_peers(success, strata, rep, ~rep)
    assert result is not None
    assert result.team == pytest.approx(0.2) and result.value == pytest.approx(0.2)
    assert not result.excludes_team
    raw_team = float(np.concatenate([small, large]).mean())
    assert not (result.low <= raw_team <= result.high)  # the unadjusted comparison would have called it out


def test_a_clear_gap_is_called_out_with_a_coaching_line_and_noise_is_not():
    success = np.concatenate([np.arange(50) < 9, np.arange(200) < 68])  # 18% vs 34%
    strata = np.zeros(250, dtype=int)
    rep = np.arange(250) < 50
    gap = reps.share_vs_peers(success, strata, rep, ~rep)
    assert gap is not None and gap.excludes_team
    metric = reps.describe(reps.METRICS["conversion"], gap, rep_name="Ana", stage="Proposal")
    assert metric.called_out and not metric.better
    ci = stats.binomtest(9, 50).proportion_ci(confidence_level=0.9, method="wilson")
    interval = f"{round(100 * ci.low)}–{round(100 * ci.high)}%"
    assert metric.text == f"Conversion from Proposal 18% vs team 34%, 90% interval {interval} (50 deals)"
    assert "Proposal" in metric.coaching and "Ana" in metric.coaching
    close = np.concatenate([np.arange(50) < 15, np.arange(200) < 68])  # 30% vs 34%
    noise = reps.share_vs_peers(close, strata, rep, ~rep)
    assert noise is not None and not noise.excludes_team
    assert reps.describe(reps.METRICS["conversion"], noise, rep_name="Ana", stage="Proposal").coaching == ""


def test_means_get_a_bootstrap_interval_and_too_few_deals_no_figure():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(150, 20, 40), rng.normal(100, 20, 120)])
    strata = np.zeros(160, dtype=int)
    rep = np.arange(160) < 40
    slow = reps.mean_vs_peers(values, strata, rep, ~rep)
    assert slow is not None and slow.low < slow.value < slow.high and slow.excludes_team
    assert reps.mean_vs_peers(values, strata, np.arange(160) < 5, ~rep) is None


# ---- from the deals in sight ---------------------------------------------------------------------------
def _closed(workspace, owner, count: int, wins: int) -> None:
    now = timezone.now()
    won, lost = default_stage(workspace, "Closed Won"), default_stage(workspace, "Closed Lost")
    Deal.objects.bulk_create(
        Deal(
            workspace=workspace, title=f"{owner.display_name} {i}", owner=owner, pipeline=won.pipeline,
            stage=won if i < wins else lost, outcome=Outcome.WON if i < wins else Outcome.LOST,
            amount=Decimal("10000"), created_at=now - timedelta(days=100), closed_at=now - timedelta(days=30 + i),
        )
        for i in range(count)
    )  # fmt: skip


@pytest.fixture
def east(personas):
    """East: the rep who wins 4 of 40, a colleague who wins 16 of 40, and a peer who wins 20 of 40."""
    ws, team = personas.workspace, personas.rep.team
    colleague = MembershipFactory(workspace=ws, role=Role.REP, team=team, user=UserFactory(email="col@acme.test"))
    peer = MembershipFactory(workspace=ws, role=Role.REP, team=team, user=UserFactory(email="peer@acme.test"))
    _closed(ws, personas.rep, 40, 4)
    _closed(ws, colleague, 40, 16)
    _closed(ws, peer, 40, 20)
    _closed(ws, personas.other_rep, 40, 38)  # West: not in East's comparison
    return {"colleague": colleague, "peer": peer}


def _win_rate(result, member):
    found = next(r for r in result if r.member == member)
    return found, next(m for m in found.metrics if m.key == "win_rate")


def test_a_rep_with_a_clear_gap_is_called_out_and_one_without_is_not(personas, east):
    result = rep_insights_for_member(Scope.for_member(personas.owner))
    rep, rate = _win_rate(result, personas.rep)
    assert rep.peers == "East"
    assert rate.called_out and not rate.better
    assert rate.text.startswith("Win rate 10% vs team 45%, 90% interval")  # 36 of 80 in the rest of East
    assert rate in rep.called_out and rate.coaching
    colleague, rate = _win_rate(result, east["colleague"])
    assert rate.comparison.team == pytest.approx(24 / 80) and not rate.called_out  # 40%, interval 28–53%
    assert rate not in colleague.called_out
    as_json = rep.as_json()
    assert as_json["rep"] == str(personas.rep.uuid) and as_json["insights"][0]["metric"] == "win_rate"


def test_a_rep_sees_only_their_own_figures_and_nobody_outside_their_sight(personas, east):
    mine = rep_insights_for_member(Scope.for_member(personas.rep))
    assert [r.member for r in mine] == [personas.rep]
    managed = {r.member for r in rep_insights_for_member(Scope.for_member(personas.manager))}
    assert personas.other_rep not in managed and east["colleague"] in managed
