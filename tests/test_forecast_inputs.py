"""The arrays a forecast fits on: which stages each deal reached, and at what age it first entered each."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from crm.services import deal_move_to_stage
from forecasting.inputs import load_history
from tests.factories import default_stage, make_deal

pytestmark = pytest.mark.django_db


def test_a_skipped_stage_counts_as_reached_on_the_day_the_deal_jumped_past_it(personas):
    ws, owner = personas.workspace, personas.owner
    jumped = make_deal(ws, title="Jumped", stage="Prospecting", at=timezone.now() - timedelta(days=30), actor=owner)
    deal_move_to_stage(deal=jumped, stage=default_stage(ws, "Proposal"), actor=owner)  # past Qualification, Discovery
    fresh = make_deal(ws, title="Fresh", stage="Qualification", actor=owner)  # no earlier visit: Prospecting passed

    loaded = load_history(ws, timezone.now() + timedelta(days=10))
    h = loaded.history
    names = [default_stage(ws, n).id for n in ("Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation")]
    columns = [loaded.stage_ids.index(i) for i in names]
    row = {int(d): i for i, d in enumerate(loaded.deal_ids)}
    j, f = row[jumped.id], row[fresh.id]

    assert h.reached[j, columns].tolist() == [True, True, True, True, False]
    assert h.entered[j, columns[0]] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(h.entered[j, columns[1:4]], 30.0, atol=0.01)  # its age when it jumped
    assert h.entered[j, columns[4]] == 0.0  # never entered
    assert h.stage[j] == columns[3] and h.entered_stage_age[j] == 30
    assert h.reached[f, columns].tolist() == [True, True, False, False, False]
    np.testing.assert_allclose(h.entered[f, columns[:2]], 0.0, atol=1e-6)
