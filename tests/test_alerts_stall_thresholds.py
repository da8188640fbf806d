"""The stalled rule per stage: how long is too long is chosen where time in that stage carried signal."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from alerts.calibration import Calibration, pick_stall_percentiles, thresholds_with
from alerts.detectors import Thresholds, stalled
from alerts.facts import load_facts, stall_norms
from alerts.outcomes import grade
from crm.services import deal_update
from tests.alerts_helpers import NOW, make_deal
from tests.factories import default_stage


def _stage_row(flagged: int, bad_flagged: int, members: int, bad: int) -> dict:
    """A stage's grade: `flagged` alerts of which `bad_flagged` went bad, among `members` deals, `bad` bad."""
    everyone = set(range(members))
    bad_ids = set(range(bad))
    hits = set(range(bad_flagged))
    misses = set(range(bad, bad + flagged - bad_flagged))
    return grade(hits | misses, bad_ids, everyone)


def test_each_stage_gets_the_percentile_where_its_stays_carried_signal():
    rows = {
        # Stage 1: long stays went bad far more than the stage's deals overall, most clearly at P90.
        # Stage 2: stalled deals went bad exactly as often as any deal in the stage: no signal anywhere.
        # Stage 3: too few alerts at every percentile to judge (noise guard): not chosen at all.
        # Stage 4: P90 is only a wobble better than the default P75, so P75 stays.
        50.0: {1: _stage_row(60, 30, 200, 60), 2: _stage_row(60, 18, 200, 60), 3: _stage_row(6, 6, 50, 10)},
        75.0: {1: _stage_row(40, 26, 200, 60), 2: _stage_row(40, 12, 200, 60), 3: _stage_row(4, 4, 50, 10)},
        90.0: {1: _stage_row(20, 19, 200, 60), 2: _stage_row(20, 6, 200, 60), 3: _stage_row(2, 2, 50, 10)},
    }
    rows[75.0][4] = _stage_row(40, 30, 200, 60)
    rows[90.0][4] = _stage_row(40, 30, 200, 60)
    rows[90.0][4]["lift_interval"] = [rows[75.0][4]["lift_interval"][0] + 0.03, 3.0]
    chosen, evidence = pick_stall_percentiles(rows, default=75.0)
    assert chosen == {"1": 90.0, "2": None, "4": 75.0}
    first = next(e for e in evidence if e["stage"] == 1)
    assert first["flagged"] == 20 and first["lift_interval"][0] > 1.0
    assert next(e for e in evidence if e["stage"] == 2)["percentile"] is None


def test_the_stored_choice_reaches_the_thresholds_unless_the_user_set_a_percentile():
    calibration = Calibration(by_kind={}, thresholds={"stall_percentile_by_stage": {"7": 90.0, "8": None}})
    tuned = thresholds_with(Thresholds(), set(), calibration)
    assert tuned.stall_percentile_for(7) == 90.0 and tuned.stall_percentile_for(8) is None
    assert tuned.stall_percentile_for(9) == 75.0  # a stage not judged keeps the workspace-wide one
    mine = thresholds_with(Thresholds(stall_percentile=60), {"stall_percentile"}, calibration)
    assert mine.stall_percentile_by_stage == () and mine.stall_percentile_for(7) == 60
    # Only numbers are settable by hand; the per-stage choice is not one of them.
    assert "stall_percentile_by_stage" not in Thresholds().as_dict()
    assert Thresholds.from_dict({"stall_percentile_by_stage": {"7": 1}}) == Thresholds()


@pytest.mark.django_db
def test_a_stage_switched_off_stays_silent_and_its_own_percentile_sets_the_norm(personas):
    ws, rep = personas.workspace, personas.rep
    discovery, proposal = default_stage(ws, "Discovery"), default_stage(ws, "Proposal")
    # Ten completed stays in Discovery of 10, 20, ..., 100 days, then one deal sitting there 85 days.
    for k in range(1, 11):
        deal = make_deal(ws, rep, title=f"Moved {k}", created_days_ago=200, stage="Discovery")
        deal_update(deal=deal, actor=None, at=NOW - timedelta(days=200 - 10 * k), changes={"stage": proposal})
    sitting = make_deal(ws, rep, title="Sitting", created_days_ago=85, stage="Discovery")
    with time_machine.travel(NOW, tick=False):
        default = Thresholds()
        own = Thresholds(stall_percentile_by_stage=((discovery.id, 90.0),))
        off = Thresholds(stall_percentile_by_stage=((discovery.id, None),))
        norms = {name: stall_norms(ws.id, NOW, t).get(discovery.id) for name, t in [("p75", default), ("p90", own)]}
        assert norms["p75"] == pytest.approx(77.5, abs=0.1) and norms["p90"] == pytest.approx(91.0, abs=0.1)
        assert discovery.id not in stall_norms(ws.id, NOW, off)
        flagged = {}
        for name, t in [("p75", default), ("p90", own), ("off", off)]:
            loaded = load_facts(ws, NOW, t)
            i = [s.id for s in loaded.snapshots].index(sitting.id)
            flagged[name] = bool(stalled(loaded.facts, t).flagged[i])
        assert flagged == {"p75": True, "p90": False, "off": False}
