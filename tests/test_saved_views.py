"""Saved views of the deal list and the board: personal or shared with a team or the workspace; save, apply,
delete (own; admins for shared ones)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import SavedView
from tests import factories


def url(name, personas, *args):
    return reverse(name, args=[personas.workspace.slug, *args])


def save(client, personas, **data):
    data = {"screen": "deals", "sharing": "personal", "query": "outcome=won&sort=amount", **data}
    return client.post(url("crm:saved_view_create", personas), data)


@pytest.fixture
def deals(personas):
    for title, stage, amount in (
        ("Open big", "Proposal", 9000),
        ("Won small", "Closed Won", 100),
        ("Won big", "Closed Won", 500),
    ):
        factories.make_deal(
            personas.workspace, actor=personas.owner, owner=personas.rep, title=title, stage=stage, amount=amount
        )


def test_save_and_apply_a_personal_view(personas, deals):
    rep = personas.client_for(personas.rep)
    response = save(rep, personas, name="Wins, small first")
    assert response.status_code == 302
    applied = rep.get(response["Location"])
    assert [d.title for d in applied.context["page"]] == ["Won small", "Won big"]
    rows = applied.context["saved_views"]
    assert [r.view.name for r in rows] == ["Wins, small first"] and rows[0].current
    # Personal: nobody else sees it.
    assert personas.client_for(personas.manager).get(url("crm:deal_list", personas)).context["saved_views"] == []


def test_the_list_offers_the_current_filters_to_save(personas, deals):
    response = personas.client_for(personas.rep).get(url("crm:deal_list", personas), {"sort": "amount"})
    assert response.context["saved_view_form"].initial["query"] == "sort=amount&outcome=open"


def test_team_and_workspace_sharing(personas, deals):
    save(personas.client_for(personas.rep), personas, name="East wins", sharing="team")
    save(
        personas.client_for(personas.manager),
        personas,
        name="Everyone",
        sharing="workspace",
        screen="board",
        query="close=this_quarter",
    )
    east = [
        r.view.name
        for r in personas.client_for(personas.manager).get(url("crm:deal_list", personas)).context["saved_views"]
    ]
    west = [
        r.view.name
        for r in personas.client_for(personas.other_rep).get(url("crm:deal_list", personas)).context["saved_views"]
    ]
    assert east == ["East wins"] and west == []
    board = personas.client_for(personas.other_rep).get(url("crm:board", personas))
    assert [r.view.name for r in board.context["saved_views"]] == ["Everyone"]


def test_refusals_are_messages(personas, deals):
    rep = personas.client_for(personas.rep)
    response = save(rep, personas, name="All of it", sharing="workspace", query="")
    assert response.status_code == 302
    assert "Only managers and admins share" in rep.get(response["Location"]).content.decode()
    viewer_team_less = personas.client_for(personas.owner)
    page = viewer_team_less.get(save(viewer_team_less, personas, name="T", sharing="team")["Location"])
    assert "You are in no team" in page.content.decode()
    assert not SavedView.objects.exists()
    assert (
        personas.client_for(personas.viewer).post(url("crm:saved_view_create", personas), {"name": "x"}).status_code
        == 403
    )


def test_delete_own_and_admins_delete_shared(personas, deals):
    save(personas.client_for(personas.rep), personas, name="Mine")
    save(personas.client_for(personas.rep), personas, name="Ours", sharing="team")
    mine, ours = SavedView.objects.get(name="Mine"), SavedView.objects.get(name="Ours")
    manager = personas.client_for(personas.manager)
    assert manager.post(url("crm:saved_view_delete", personas, mine.uuid)).status_code == 404  # out of sight
    assert manager.post(url("crm:saved_view_delete", personas, ours.uuid)).status_code == 403  # not theirs
    owner = personas.client_for(personas.owner)
    assert owner.post(url("crm:saved_view_delete", personas, mine.uuid)).status_code == 404  # personal stays personal
    assert (
        personas.client_for(personas.outsider).post(url("crm:saved_view_delete", personas, ours.uuid)).status_code
        == 404
    )
    assert personas.client_for(personas.rep).post(url("crm:saved_view_delete", personas, mine.uuid)).status_code == 302
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Ours"]
    assert owner.post(url("crm:saved_view_delete", personas, ours.uuid)).status_code == 302  # an admin, shared
    assert not SavedView.objects.exists()
