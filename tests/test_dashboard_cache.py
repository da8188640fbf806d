"""The dashboard's shortcuts never show stale numbers: the cached funnel follows every move, and a remembered
figure is a copy its caller may change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Stage, StageKind
from crm.services import deal_delete, deal_move_to_stage, deal_update
from crm.setup import stage_save
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


def test_the_cached_funnel_follows_owners_deletions_and_names_but_not_amount_edits(personas):
    workspace, rep, other = personas.workspace, personas.rep, personas.other_rep
    stages = list(Stage.objects.filter(workspace=workspace, pipeline__is_default=True).order_by("order"))
    deal = make_deal(workspace, stage=stages[0], owner=rep)
    mine = frozenset({rep.id})
    assert stage_funnel_cached(workspace, stages, mine)[1][0] == 1

    # An amount edit (the most frequent change) does not read the stage history again.
    deal_update(deal=deal, actor=rep, changes={"amount": Decimal("1234")})
    with CaptureQueriesContext(connection) as ctx:
        assert stage_funnel_cached(workspace, stages, mine)[1][0] == 1
    assert not any('"crm_dealhistory"."new_value"' in q["sql"] for q in ctx.captured_queries)  # only the key's probes

    deal_update(deal=deal, actor=rep, changes={"owner": other})  # the deal leaves the rep's funnel
    assert stage_funnel_cached(workspace, stages, mine)[1][0] == 0
    assert stage_funnel_cached(workspace, stages, frozenset({other.id}))[1][0] == 1
    deal_delete(deal=deal, actor=other)
    assert stage_funnel_cached(workspace, stages, frozenset({other.id}))[1][0] == 0
    first = stages[0]
    stage_save(pipeline=first.pipeline, stage=first, name="First call", default_probability=first.default_probability,
               kind=first.kind, forecast_category=first.forecast_category)  # fmt: skip
    renamed = list(Stage.objects.filter(workspace=workspace, pipeline__is_default=True).order_by("order"))
    assert stage_funnel_cached(workspace, renamed, None)[0][0] == "First call"


def test_a_remembered_figure_is_a_copy():
    first = charts.pipeline_by_stage(["Qualify", "Propose"], [1000.0, 2500.0])
    first["layout"]["title"]["text"] = "changed by a caller"
    again = charts.pipeline_by_stage(["Qualify", "Propose"], [1000.0, 2500.0])
    assert again["layout"]["title"]["text"] != "changed by a caller"
    assert again["data"] == first["data"]
    assert charts.pipeline_by_stage(["Qualify", "Propose"], [1000.0, 9999.0])["data"] != first["data"]
