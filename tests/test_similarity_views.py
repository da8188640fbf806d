"""The similarity screens (search page, deal panel) and the /api/v1/embeddings/ endpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from crm.models import Outcome
from similarity import embedding
from similarity.models import DealEmbedding
from similarity.services import deal_embeddings_refresh
from tenancy.services import api_key_create
from tests.factories import DealFactory, default_stage

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def model():
    return embedding.get_model()


def _deal(workspace, title, *, outcome=Outcome.OPEN, owner=None, lost_reason="", cycle_days=30):
    stage = {Outcome.WON: "Closed Won", Outcome.LOST: "Closed Lost"}.get(outcome, "Prospecting")
    return DealFactory(
        workspace=workspace,
        title=title,
        owner=owner,
        stage=default_stage(workspace, stage),
        outcome=outcome,
        lost_reason=lost_reason,
        created_at=T0 - timedelta(days=cycle_days),
        closed_at=T0 if outcome != Outcome.OPEN else None,
    )


@pytest.fixture
def deals(personas, model):
    """A small indexed workspace: an open deal, similar won and lost deals, one of them not visible to `rep`."""
    ws, rep = personas.workspace, personas.rep
    d = {
        "open": _deal(ws, "Security audit software renewal for a regional bank", owner=rep),
        "won": _deal(ws, "Security audit software for a credit union", outcome=Outcome.WON, owner=rep, cycle_days=40),
        "won2": _deal(ws, "Compliance audit tooling for a savings bank", outcome=Outcome.WON, owner=rep),
        "lost": _deal(ws, "Audit software for an insurance firm", outcome=Outcome.LOST, owner=rep, lost_reason="Price"),
        "hidden": _deal(
            ws, "Security audit software for a bank in the west", outcome=Outcome.LOST, owner=personas.other_rep
        ),
        "far": _deal(ws, "Office plants and flowers", outcome=Outcome.WON, owner=rep),
    }
    deal_embeddings_refresh(workspace_id=ws.id)
    d["theirs"] = _deal(personas.other_workspace, "Security audit software for credit unions", outcome=Outcome.WON)
    deal_embeddings_refresh(workspace_id=personas.other_workspace.id)
    return d


def _panel_url(personas, deal) -> str:
    return reverse("similarity:deal_panel", args=[personas.workspace.slug, deal.uuid])


# --- the deal panel ---------------------------------------------------------------------------------


def test_deal_panel_shows_similar_won_and_lost_deals_and_what_they_share(personas, deals):
    response = personas.client_for(personas.owner).get(_panel_url(personas, deals["open"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Similar won deals" in html and "Similar lost deals" in html
    assert deals["won"].title in html and deals["lost"].title in html
    assert str(deals["theirs"].uuid) not in html  # the other workspace's near twin
    assert str(deals["open"].uuid) not in html  # never the deal itself
    assert "Price (1)" in html  # the lost reason they share
    assert "median cycle" in html
    assert html.index(deals["won"].title) < html.index(deals["far"].title)  # nearest first


def test_deal_panel_hides_deals_a_rep_may_not_see(personas, deals):
    html = personas.client_for(personas.rep).get(_panel_url(personas, deals["open"])).content.decode()
    assert deals["lost"].title in html
    assert deals["hidden"].title not in html
    # ... and the rep cannot open the panel of that deal either.
    assert personas.client_for(personas.rep).get(_panel_url(personas, deals["hidden"])).status_code == 404


def test_deal_panel_access(personas, deals):
    url = _panel_url(personas, deals["open"])
    assert personas.client_for(personas.viewer).get(url).status_code == 200
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    assert personas.client_for(personas.owner).post(url).status_code == 405
    bad = reverse("similarity:deal_panel", args=[personas.workspace.slug, "not-a-uuid"])
    assert personas.client_for(personas.owner).get(bad).status_code == 404
    theirs = reverse("similarity:deal_panel", args=[personas.workspace.slug, deals["theirs"].uuid])
    assert personas.client_for(personas.owner).get(theirs).status_code == 404
    anonymous = personas.client_for(personas.owner)
    anonymous.logout()
    assert anonymous.get(url).status_code == 302


def test_deal_panel_of_a_deal_not_yet_indexed_says_so(personas, db):
    deal = _deal(personas.workspace, "Brand new")
    response = personas.client_for(personas.owner).get(_panel_url(personas, deal))
    assert response.status_code == 200
    assert "not been indexed yet" in response.content.decode()


# --- the search page --------------------------------------------------------------------------------


def test_search_page_lists_deals_by_meaning_with_links(personas, deals):
    url = reverse("similarity:search", args=[personas.workspace.slug])
    response = personas.client_for(personas.owner).get(url, {"q": "bank security audit", "outcome": "won"})
    assert response.status_code == 200
    html = response.content.decode()
    assert deals["won"].title in html
    assert deals["lost"].title not in html  # filtered to won
    assert str(deals["theirs"].uuid) not in html
    assert reverse("crm:deal_detail", args=[personas.workspace.slug, deals["won"].uuid]) in html


def test_search_under_htmx_renders_only_the_results(personas, deals):
    url = reverse("similarity:search", args=[personas.workspace.slug])
    client = personas.client_for(personas.rep)
    html = client.get(url, {"q": "bank security audit"}, headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert deals["open"].title in html and deals["hidden"].title not in html


def test_search_refuses_bad_input_without_error(personas, db):
    url = reverse("similarity:search", args=[personas.workspace.slug])
    client = personas.client_for(personas.owner)
    response = client.get(url, {"q": "x" * 600, "outcome": "maybe"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert client.get(url).status_code == 200
    assert personas.client_for(personas.outsider).get(url).status_code == 404


# --- the API ----------------------------------------------------------------------------------------


@pytest.fixture
def api(personas):
    _, raw = api_key_create(workspace=personas.workspace, name="tests")

    def call(method: str, path: str, body: dict | None = None, key: str | None = raw):
        client = personas.client_for(personas.owner)
        client.logout()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"/api/v1/embeddings/{path}"
        if method == "get":
            return client.get(url, headers=headers)
        return client.post(url, body or {}, content_type="application/json", headers=headers)

    return call


def test_api_embed_deal_is_idempotent(personas, api, model):
    deal = _deal(personas.workspace, "Headsets for the support team")
    first = api("post", "embed-deal", {"deal_id": str(deal.uuid)})
    assert first.status_code == 200 and first.json()["embedded"] is True
    again = api("post", "embed-deal", {"deal_id": str(deal.uuid)})
    assert again.json()["embedded"] is False and again.json()["text_hash"] == first.json()["text_hash"]
    assert api("post", "embed-deal", {"deal_id": str(deal.uuid), "force": True}).json()["embedded"] is True


def test_api_embed_multiple_and_stats(personas, api, model):
    a, b = _deal(personas.workspace, "Laptops"), _deal(personas.workspace, "Monitors")
    _deal(personas.workspace, "Docking stations")
    assert api("get", "stats").json() == {
        "count": 0,
        "deals": 3,
        "dimensions": 384,
        "distance_metric": "cosine",
        "stale_count": 3,
        "model": "all-MiniLM-L6-v2",
    }
    response = api("post", "embed-multiple", {"deal_ids": [str(a.uuid), str(b.uuid)]})
    assert response.status_code == 200 and response.json()["embedded"] == 2
    stats = api("get", "stats").json()
    assert (stats["count"], stats["stale_count"]) == (2, 1)


def test_api_find_similar_returns_k_deals_of_the_workspace_in_order(personas, api, deals):
    body = {"deal_id": str(deals["open"].uuid), "k": 3, "outcome": "closed"}
    results = api("post", "find-similar", body).json()["results"]
    assert len(results) == 3
    assert all(r["outcome"] in {"won", "lost"} for r in results)
    assert [r["similarity"] for r in results] == sorted((r["similarity"] for r in results), reverse=True)
    assert str(deals["theirs"].uuid) not in {r["deal_id"] for r in results}
    assert str(deals["open"].uuid) not in {r["deal_id"] for r in results}
    everything = api("post", "find-similar", {"deal_id": str(deals["open"].uuid), "k": 50}).json()["results"]
    assert len(everything) == 5  # every other deal of the workspace, whatever its owner
    by_text = api("post", "find-similar", {"query": "flowers for the office", "k": 1}).json()["results"]
    assert by_text[0]["deal_id"] == str(deals["far"].uuid)


def test_api_refuses_other_workspaces_deals_and_bad_input(personas, api, deals):
    theirs = str(deals["theirs"].uuid)
    assert api("post", "embed-deal", {"deal_id": theirs}).status_code == 404
    assert api("post", "find-similar", {"deal_id": theirs}).status_code == 404
    assert api("post", "find-similar", {"deal_id": str(uuid.uuid4())}).status_code == 404
    mixed = [str(deals["open"].uuid), theirs]
    before = DealEmbedding.objects.get(deal=deals["open"]).embedded_at
    assert api("post", "embed-multiple", {"deal_ids": mixed, "force": True}).status_code == 404
    assert DealEmbedding.objects.get(deal=deals["open"]).embedded_at == before  # no partial write
    assert api("post", "find-similar", {}).status_code == 422
    assert api("post", "find-similar", {"query": "x", "deal_id": str(deals["open"].uuid)}).status_code == 422
    assert api("post", "find-similar", {"query": "x", "k": 0}).status_code == 422
    assert api("post", "embed-multiple", {"deal_ids": []}).status_code == 422
    assert api("post", "embed-deal", {"deal_id": "nope"}).status_code == 422
    assert api("get", "stats", key=None).status_code == 401
