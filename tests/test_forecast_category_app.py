"""Forecast categories in the app: override on the deal page and through the API, names and stage defaults."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from crm.models import DealHistory, ForecastCategory, Stage, TrackedField
from crm.services import deal_update
from tenancy.models import Role
from tenancy.services import api_key_create
from tests.factories import MembershipFactory, UserFactory, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(personas):
    return make_deal(personas.workspace, title="Globex renewal", owner=personas.rep, stage="Proposal")


def edit(client, deal, **changes):
    data = {
        "title": deal.title,
        "stage": deal.stage.uuid,
        "owner": deal.owner.uuid,
        "amount": deal.amount,
        **changes,
    }
    return client.post(f"/w/{deal.workspace.slug}/deals/{deal.uuid}/edit/", data)


def test_the_owner_overrides_on_the_edit_form_and_history_shows_it(personas, deal):
    client = personas.client_for(personas.rep)
    assert "Forecast category" in client.get(f"/w/acme/deals/{deal.uuid}/edit/").content.decode()
    assert edit(client, deal, forecast_category="commit").status_code == 302
    deal.refresh_from_db()
    assert deal.effective_forecast_category == ForecastCategory.COMMIT
    row = DealHistory.objects.get(deal=deal, field=TrackedField.FORECAST_CATEGORY)
    assert row.changed_by == personas.rep
    page = client.get(f"/w/acme/deals/{deal.uuid}/").content.decode()
    assert "Commit" in page and "(set for this deal)" in page and "Forecast category" in page


def test_a_teammate_cannot_override_but_the_manager_can(personas, deal):
    teammate = MembershipFactory(
        workspace=personas.workspace, role=Role.REP, team=personas.rep.team, user=UserFactory(email="mate@acme.test")
    )
    mate = personas.client_for(teammate)
    assert "Forecast category" not in mate.get(f"/w/acme/deals/{deal.uuid}/edit/").content.decode()
    edit(mate, deal, forecast_category="commit")  # the field is not theirs: ignored
    deal.refresh_from_db()
    assert deal.forecast_category == ""
    with pytest.raises(PermissionDenied):
        deal_update(deal=deal, actor=teammate, changes={"forecast_category": "commit"})
    deal_update(deal=deal, actor=personas.manager, changes={"forecast_category": "omitted"})
    deal.refresh_from_db()
    assert deal.effective_forecast_category == ForecastCategory.OMITTED


def test_names_and_stage_defaults_are_set_by_admins(personas, deal):
    url = "/w/acme/forecast-categories/"
    stages = list(Stage.objects.filter(workspace=personas.workspace).select_related("pipeline"))
    data = {f"label_{c.value}": "" for c in ForecastCategory}
    data["label_best_case"] = "Upside"
    data.update({f"stage_{s.uuid.hex}": s.forecast_category for s in stages})
    proposal = next(s for s in stages if s.name == "Proposal")
    data[f"stage_{proposal.uuid.hex}"] = ForecastCategory.COMMIT
    assert personas.client_for(personas.rep).post(url, data).status_code == 403
    assert personas.client_for(personas.viewer).post(url, data).status_code == 403
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    assert personas.client_for(personas.owner).post(url, data).status_code == 302
    proposal.refresh_from_db()
    assert proposal.forecast_category == ForecastCategory.COMMIT
    deal.refresh_from_db()
    assert deal.effective_forecast_category == ForecastCategory.COMMIT  # follows its stage
    form = personas.client_for(personas.rep).get(f"/w/acme/deals/{deal.uuid}/edit/").content.decode()
    assert "Upside" in form and "Stage default (Commit)" in form
    won = next(s for s in stages if s.kind == "won")
    data[f"stage_{won.uuid.hex}"] = ForecastCategory.PIPELINE
    refused = personas.client_for(personas.owner).post(url, data)
    assert refused.status_code == 422 and "Closed is the category of won stages" in refused.content.decode()


def test_the_api_patches_the_category(personas, deal):
    _key, raw = api_key_create(workspace=personas.workspace, name="t", created_by=personas.owner)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    url = f"/api/v1/deals/{deal.uuid}/"
    response = client.patch(url, json.dumps({"forecast_category": "best_case"}), content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["forecast_category"] == "best_case" and body["effective_forecast_category"] == "best_case"
    bad = client.patch(url, json.dumps({"forecast_category": "maybe"}), content_type="application/json")
    assert bad.status_code == 422
    back = client.patch(url, json.dumps({"forecast_category": None}), content_type="application/json").json()
    assert back["forecast_category"] == "" and back["effective_forecast_category"] == deal.stage.forecast_category


def test_the_board_card_and_the_history_use_the_workspaces_names(personas, deal):
    from crm.categories import category_names_save

    category_names_save(actor=personas.owner, labels={"best_case": "Upside", "commit": "Banked"})
    client = personas.client_for(personas.rep)
    board = client.get("/w/acme/").content.decode()
    assert "Upside" in board  # the Proposal deal follows its stage: Best Case, named Upside here
    deal_update(deal=deal, actor=personas.rep, changes={"forecast_category": "commit"})
    page = client.get(f"/w/acme/deals/{deal.uuid}/").content.decode()
    assert "Banked" in page and "(set for this deal)" in page
