"""The dashboard's shortcuts never show stale numbers: the cached funnel follows every move, and a remembered
figure is a copy its caller may change."""

from __future__ import annotations

import pytest

from crm.models import Stage, StageKind
from crm.services import deal_move_to_stage
from forecasting import charts
from forecasting.selectors import stage_funnel_cached
from tests.factories import make_deal

pytestmark = pytest.mark.django_db


def test_the_cached_funnel_follows_a_stage_move(personas):
    workspace = personas.workspace
    stages = list(Stage.objects.filter(workspace=workspace, pipeline__is_default=True).order_by("order"))
    open_stages = [s for s in stages if s.kind == StageKind.OPEN]
    deal = make_deal(workspace, stage=open_stages[0], owner=personas.rep)
    names, before, _ = stage_funnel_cached(workspace, stages, None)
    assert stage_funnel_cached(workspace, stages, None)[1] == before  # asked again: the same answer
    deal_move_to_stage(deal=deal, stage=open_stages[2], actor=personas.rep)
    _, after, _ = stage_funnel_cached(workspace, stages, None)
    reached = names.index(open_stages[2].name)
    assert after[reached] == before[reached] + 1
    # Another member's filter has its own entry: the West rep's funnel has none of the East rep's deal.
    assert stage_funnel_cached(workspace, stages, frozenset({personas.other_rep.id}))[1] == [0] * len(names)


def test_a_remembered_figure_is_a_copy():
    first = charts.pipeline_by_stage(["Qualify", "Propose"], [1000.0, 2500.0])
    first["layout"]["title"]["text"] = "changed by a caller"
    again = charts.pipeline_by_stage(["Qualify", "Propose"], [1000.0, 2500.0])
    assert again["layout"]["title"]["text"] != "changed by a caller"
    assert again["data"] == first["data"]
    assert charts.pipeline_by_stage(["Qualify", "Propose"], [1000.0, 9999.0])["data"] != first["data"]
