"""The dashboard tells the truth: the funnel from history, periods by fiscal year, money in the workspace currency."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from crm.demo.services import demo_workspace_seed
from crm.models import Deal, Stage, StageKind
from forecasting.selectors import stage_funnel
from tenancy.models import Workspace


@pytest.mark.slow
def test_demo_funnel_never_rises_and_lost_deals_count_only_the_stages_they_entered(db):
    demo_workspace_seed(slug="demo", as_of=date(2026, 6, 30), scale=0.3)
    workspace = Workspace.objects.get(slug="demo")
    stages = list(Stage.objects.for_workspace(workspace).filter(pipeline__is_default=True).order_by("order"))
    names, reached, days = stage_funnel(workspace, stages, None)
    assert names[-1] == next(s.name for s in stages if s.kind == StageKind.WON)
    assert all(a >= b for a, b in itertools.pairwise(reached)), list(zip(names, reached, strict=True))
    deals = Deal.objects.for_workspace(workspace)
    assert reached[0] == deals.count()
    # Every won deal reached Won, and no lost deal did.
    assert reached[-1] == deals.filter(outcome="won").count()
    # Lost deals no longer lift every open stage: fewer deals reached the last open stage than were ever closed.
    assert reached[-2] < deals.exclude(outcome="open").count()
    assert all(d is None or d >= 0 for d in days)

    # A rep's funnel counts only their deals.
    owner_id = deals.values_list("owner_id", flat=True).first()
    _, mine, _ = stage_funnel(workspace, stages, frozenset({owner_id}))
    assert mine[0] == deals.filter(owner_id=owner_id).count() < reached[0]
