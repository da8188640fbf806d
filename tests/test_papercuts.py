"""Small things a new user tripped over (issue 18): favicon, API paths, the deal page's history and labels,
the similar-deals summary against its lists, a scoring label for a whole attribute, and Roll back."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.services import deal_update
from scoring.charts import model_figures
from scoring.features import feature_label
from scoring.models import ModelStatus, ScoringModel
from similarity.selectors import deal_panel
from similarity.services import deal_embeddings_refresh
from tests.alerts_helpers import make_deal
from tests.factories import DealFactory, default_stage

pytestmark = pytest.mark.django_db


def test_the_favicon_is_linked_and_served(personas, client):
    page = personas.client_for(personas.owner).get(reverse("crm:board", args=["acme"])).content.decode()
    assert 'rel="icon"' in page and "vectoros/favicon" in page
    # Pages that link none (the admin's, error pages) get the browser's default request answered too.
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


def test_api_paths_never_answer_an_empty_redirect(client):
    for path in ("/api/v1", "/api/v1/nothing-here", "/api/v1/nothing/here/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json"
        assert json.loads(response.content)["status"] == 404
    # The documented operations still answer with or without the slash (a problem for a missing key, not a 301).
    for path in ("/api/v1/deals", "/api/v1/deals/"):
        assert client.get(path).status_code == 401


def test_deal_history_shows_money_dates_stage_and_member_names(personas):
    deal = make_deal(personas.workspace, personas.rep, title="History", amount=400_000, close=date(2026, 6, 20))
    deal_update(
        deal=deal,
        actor=personas.owner,
        changes={
            "amount": Decimal("423000"),
            "expected_close_date": date(2026, 9, 30),
            "owner": personas.other_rep,
            "stage": default_stage(personas.workspace, "Proposal"),
        },
    )
    response = personas.client_for(personas.owner).get(reverse("crm:deal_detail", args=["acme", deal.uuid]))
    changes = {row.field: (row.old, row.new) for row in response.context["history"] if row.old != "—"}
    currency = deal.currency
    assert changes["Amount"] == (f"{currency} 400,000", f"{currency} 423,000")
    assert changes["Expected close date"] == ("Jun 20, 2026", "Sep 30, 2026")
    assert changes["Owner"] == (personas.rep.display_name, personas.other_rep.display_name)
    assert changes["Stage"][1] == "Proposal"
    html = response.content.decode()
    assert "423000" not in html and "2026-09-30" not in html


def test_the_deal_page_says_whose_probability_is_whose(personas):
    deal = make_deal(personas.workspace, personas.rep, title="Labels")
    client = personas.client_for(personas.owner)
    assert "Rep's probability" in client.get(reverse("crm:deal_detail", args=["acme", deal.uuid])).content.decode()
    panel = client.get(reverse("scoring:deal_panel", args=["acme", deal.uuid])).content.decode()
    assert "Model: win chance" in panel


def test_similar_deals_summary_counts_the_deals_it_lists(personas):
    from crm.models import Outcome

    ws = personas.workspace
    now = timezone.now()
    titles = [f"Security audit software for bank {i}" for i in range(14)]
    for i, title in enumerate(titles):
        outcome = Outcome.WON if i % 3 == 0 else Outcome.LOST
        DealFactory(
            workspace=ws,
            title=title,
            owner=personas.rep,
            outcome=outcome,
            stage=default_stage(ws, "Closed Won" if outcome == Outcome.WON else "Closed Lost"),
            created_at=now - timedelta(days=40),
            closed_at=now - timedelta(days=i),
        )
    target = DealFactory(workspace=ws, title="Security audit software for a bank", owner=personas.rep)
    deal_embeddings_refresh(workspace_id=ws.id)
    panel = deal_panel(ws.id, target.id)
    assert panel.nearest_closed == 10
    assert len(panel.won.deals) == panel.nearest_won and len(panel.lost.deals) == panel.nearest_lost
    html = personas.client_for(personas.owner).get(reverse("similarity:deal_panel", args=["acme", target.uuid]))
    text = html.content.decode()
    assert f"<strong>{panel.nearest_won} won</strong> and {panel.nearest_lost} lost" in text
    assert f"Similar won deals ({panel.nearest_won})" in text and f"Similar lost deals ({panel.nearest_lost})" in text


def test_a_whole_attribute_and_a_blank_category_read_as_words():
    assert feature_label("attr:owner") == "owner"
    assert feature_label("attr:owner=") == "owner is (no owner)"
    assert feature_label("attr:region=EMEA") == "region is “EMEA”"


def test_a_model_stored_with_the_old_label_is_charted_by_the_attributes_name(personas):
    active = ScoringModel.objects.create(
        workspace=personas.workspace,
        version=1,
        kind="logistic",
        status=ModelStatus.ACTIVE,
        importance={"owner is “”": 0.4, "deal size": 0.2},
    )
    figure = model_figures([active], active, None)["importance"]
    assert "owner is" not in json.dumps(figure) and '"owner"' in json.dumps(figure)


def test_roll_back_is_offered_only_when_there_is_a_version_to_go_back_to(personas):
    page = reverse("scoring:model", args=["acme"])
    client = personas.client_for(personas.owner)
    now = timezone.now()
    ScoringModel.objects.create(
        workspace=personas.workspace, version=1, kind="logistic", status=ModelStatus.ACTIVE, activated_at=now
    )
    assert "Roll back" not in client.get(page).content.decode()
    refused = client.post(reverse("scoring:rollback", args=["acme"]), follow=True).content.decode()
    assert "no earlier active version" in refused
    ScoringModel.objects.filter(version=1).update(status=ModelStatus.RETIRED)
    ScoringModel.objects.create(
        workspace=personas.workspace, version=2, kind="logistic", status=ModelStatus.ACTIVE, activated_at=now
    )
    assert "Roll back to v1" in client.get(page).content.decode()
