"""Forecast categories: a default per stage, the owner's override kept in the deal's history."""

import pytest

from crm.models import DealHistory, ForecastCategory, Stage, TrackedField
from crm.selectors import deal_history_rows
from crm.services import deal_update
from tests.factories import make_deal

pytestmark = pytest.mark.django_db


def test_default_pipeline_stages_get_categories_by_kind_and_probability(personas):
    workspace = personas.workspace
    categories = {s.name: s.forecast_category for s in Stage.objects.filter(workspace=workspace)}
    assert categories["Prospecting"] == ForecastCategory.PIPELINE
    assert categories["Negotiation"] == ForecastCategory.COMMIT
    assert categories["Closed Won"] == ForecastCategory.CLOSED
    assert categories["Closed Lost"] == ForecastCategory.OMITTED


def test_override_is_recorded_and_cleared_back_to_the_stage_default(personas):
    owner_membership = personas.owner
    deal = make_deal(personas.workspace, stage="Prospecting")
    assert deal.effective_forecast_category == ForecastCategory.PIPELINE

    deal = deal_update(deal=deal, actor=owner_membership, changes={"forecast_category": ForecastCategory.COMMIT})
    assert deal.effective_forecast_category == ForecastCategory.COMMIT
    deal = deal_update(deal=deal, actor=owner_membership, changes={"forecast_category": ""})
    assert deal.effective_forecast_category == ForecastCategory.PIPELINE

    rows = DealHistory.objects.filter(deal=deal, field=TrackedField.FORECAST_CATEGORY).order_by("id")
    assert [(r.old_value, r.new_value) for r in rows] == [(None, "commit"), ("commit", None)]
    shown = [(r.old, r.new) for r in deal_history_rows(deal) if r.field == "Forecast category"]
    assert shown == [("Commit", "—"), ("—", "Commit")]


def test_setting_the_same_category_again_writes_nothing(personas):
    owner_membership = personas.owner
    deal = make_deal(personas.workspace)
    deal = deal_update(deal=deal, actor=owner_membership, changes={"forecast_category": ForecastCategory.BEST_CASE})
    deal_update(deal=deal, actor=owner_membership, changes={"forecast_category": ForecastCategory.BEST_CASE})
    assert DealHistory.objects.filter(deal=deal, field=TrackedField.FORECAST_CATEGORY).count() == 1
