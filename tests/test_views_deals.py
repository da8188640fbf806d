"""Board, deal list, deal page, deal forms: happy paths, the database after, and who may do what."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Activity, Deal, DealHistory, Stage, TrackedField
from crm.services import pipeline_create_default
from tests import factories
from tests.factories import CompanyFactory, default_stage

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


def make_deal(personas, owner=None, *, title="Acme renewal", amount="12000", **fields):
    """The page's usual deal: the rep's, created by the owner."""
    return factories.make_deal(
        personas.workspace, actor=personas.owner, owner=owner or personas.rep, title=title, amount=amount, **fields
    )


def url(name, personas, *args):
    return reverse(name, args=[personas.workspace.slug, *args])


# ---- Board ------------------------------------------------------------------------------------------


def test_board_shows_columns_with_counts_totals_and_cards(personas):
    make_deal(personas, title="Big one", amount="50000", stage="Proposal")
    make_deal(personas, title="Small one", amount="1000", stage="Proposal")
    make_deal(personas, title="Won deal", amount="7000", stage="Closed Won")
    response = personas.client_for(personas.owner).get(url("crm:board", personas))
    assert response.status_code == 200
    html = response.content.decode()
    board = response.context["board"]
    proposal = next(c for c in board.columns if c.stage.name == "Proposal")
    assert proposal.count == 2 and proposal.total == Decimal("51000")
    assert [d.title for d in proposal.cards] == ["Big one", "Small one"]
    assert "Closed Won" not in [c.stage.name for c in board.columns]
    won = next(c for c in board.closed if c.stage.name == "Closed Won")
    assert won.count == 1
    assert "Big one" in html and "51,000" in html
    assert "Won deal" not in html  # closed deals are counted, not shown as cards


def test_board_caps_cards_and_links_to_the_rest(personas):
    for i in range(4):
        make_deal(personas, title=f"Deal {i}", amount=str(1000 * (i + 1)))
    client = personas.client_for(personas.owner)
    from crm import selectors

    original = selectors.BOARD_CARDS_PER_COLUMN
    try:
        selectors.board_for_member.__defaults__  # noqa: B018 (keyword default lives in __kwdefaults__)
        selectors.board_for_member.__kwdefaults__["cards_per_column"] = 2
        html = client.get(url("crm:board", personas)).content.decode()
    finally:
        selectors.board_for_member.__kwdefaults__["cards_per_column"] = original
    assert "Deal 3" in html and "Deal 2" in html and "Deal 0" not in html
    assert "See all 4 deals in Prospecting" in html


def test_board_under_htmx_renders_only_the_board(personas):
    make_deal(personas)
    response = personas.client_for(personas.owner).get(url("crm:board", personas), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="board"' in html and "<html" not in html


def test_board_wrong_method_outsider_and_viewer(personas):
    make_deal(personas)
    assert personas.client_for(personas.owner).post(url("crm:board", personas)).status_code == 405
    assert personas.client_for(personas.outsider).get(url("crm:board", personas)).status_code == 404
    viewer_html = personas.client_for(personas.viewer).get(url("crm:board", personas)).content.decode()
    assert "Acme renewal" in viewer_html and 'name="stage"' not in viewer_html


def test_anonymous_is_sent_to_sign_in(personas):
    from django.test import Client

    response = Client().get(url("crm:board", personas))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_move_from_board_changes_stage_records_history_and_redraws_board(personas):
    deal = make_deal(personas)
    proposal = default_stage(personas.workspace, "Proposal")
    response = personas.client_for(personas.rep).post(
        url("crm:deal_move", personas, deal.uuid),
        {"stage": str(proposal.uuid), "from": "board"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert 'id="board"' in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == proposal
    row = DealHistory.objects.get(deal=deal, field=TrackedField.STAGE, old_value__isnull=False)  # not the creation row
    assert row.changed_by == personas.rep and row.new_value == proposal.id


def test_move_without_js_redirects_back(personas):
    deal = make_deal(personas)
    won = default_stage(personas.workspace, "Closed Won")
    response = personas.client_for(personas.owner).post(
        url("crm:deal_move", personas, deal.uuid), {"stage": str(won.uuid), "next": url("crm:board", personas)}
    )
    assert response.status_code == 302 and response["Location"] == url("crm:board", personas)
    deal.refresh_from_db()
    assert deal.outcome == "won" and deal.closed_at == NOW


def test_move_to_a_stage_of_another_pipeline_is_refused(personas):
    deal = make_deal(personas)
    other = pipeline_create_default(workspace=personas.workspace, name="Renewals")
    foreign_stage = Stage.objects.get(pipeline=other, name="Proposal")
    response = personas.client_for(personas.owner).post(
        url("crm:deal_move", personas, deal.uuid), {"stage": str(foreign_stage.uuid)}, follow=True
    )
    assert "is not a stage of the Sales pipeline" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"
    assert DealHistory.objects.filter(deal=deal, field=TrackedField.STAGE).count() == 1  # the creation row


def test_move_permissions(personas):
    deal = make_deal(personas)
    stage = default_stage(personas.workspace, "Proposal")
    data = {"stage": str(stage.uuid)}
    assert personas.client_for(personas.viewer).post(url("crm:deal_move", personas, deal.uuid), data).status_code == 403
    assert (
        personas.client_for(personas.outsider).post(url("crm:deal_move", personas, deal.uuid), data).status_code == 404
    )
    # A rep of another team cannot even see the deal.
    assert (
        personas.client_for(personas.other_rep).post(url("crm:deal_move", personas, deal.uuid), data).status_code == 404
    )
    assert personas.client_for(personas.owner).get(url("crm:deal_move", personas, deal.uuid)).status_code == 405
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_move_with_foreign_stage_uuid_is_a_message_not_a_500(personas):
    deal = make_deal(personas)
    foreign = default_stage(personas.other_workspace, "Proposal")
    response = personas.client_for(personas.owner).post(
        url("crm:deal_move", personas, deal.uuid), {"stage": str(foreign.uuid)}, follow=True
    )
    assert response.status_code == 200
    assert "was not moved" in response.content.decode()


# ---- Deal list --------------------------------------------------------------------------------------


def test_list_filters_search_and_sort(personas):
    acme = CompanyFactory(workspace=personas.workspace, name="Acme Corp")
    make_deal(personas, title="Alpha", amount="5000", company=acme, expected_close_date=date(2026, 3, 1))
    make_deal(personas, title="Beta", amount="9000", stage="Proposal", expected_close_date=date(2026, 5, 1))
    make_deal(personas, personas.manager, title="Gamma", amount="100", stage="Closed Lost")
    client = personas.client_for(personas.owner)

    def titles(**params):
        response = client.get(url("crm:deal_list", personas), params)
        assert response.status_code == 200
        return [d.title for d in response.context["page"]]

    assert titles() == ["Beta", "Alpha"]  # open deals, largest first by default
    assert titles(outcome="all") == ["Beta", "Alpha", "Gamma"]
    assert titles(outcome="all", sort="amount") == ["Gamma", "Alpha", "Beta"]
    assert titles(q="acme corp") == ["Alpha"]
    # Search covers owners too: their names and emails.
    assert titles(q=personas.manager.display_name, outcome="all") == ["Gamma"]
    assert titles(q="manager@acme", outcome="all") == ["Gamma"]
    assert titles(owner=str(personas.manager.uuid), outcome="all") == ["Gamma"]
    assert titles(team=str(personas.rep.team.uuid), outcome="all") == ["Beta", "Alpha", "Gamma"]
    assert titles(stage=str(default_stage(personas.workspace, "Proposal").uuid)) == ["Beta"]
    assert titles(outcome="lost") == ["Gamma"]
    assert titles(close="this_quarter") == ["Alpha"]  # Q1 2026 (calendar fiscal year)
    assert titles(close="next_quarter") == ["Beta"]
    assert titles(close="custom", close_from="2026-04-01", close_to="2026-12-31") == ["Beta"]


def test_list_bad_filters_are_messages_not_500(personas):
    make_deal(personas)
    foreign_stage = default_stage(personas.other_workspace, "Proposal")
    client = personas.client_for(personas.owner)
    for params in (
        {"stage": str(foreign_stage.uuid)},
        {"owner": "not-a-uuid"},
        {"close_from": "2026-13-45"},
        {"close_from": "2026-05-01", "close_to": "2026-04-01"},
        {"sort": "password"},
        {"page": "-3"},
    ):
        response = client.get(url("crm:deal_list", personas), params)
        assert response.status_code == 200, params
        assert 'class="errorlist nonfield"' in response.content.decode(), params


def test_list_pagination(personas):
    for i in range(55):
        make_deal(personas, title=f"D{i:02}", amount=str(1000 + i))
    client = personas.client_for(personas.owner)
    first = client.get(url("crm:deal_list", personas))
    assert len(first.context["page"]) == 50 and first.context["total"] == 55
    second = client.get(url("crm:deal_list", personas), {"page": 2, "sort": "amount"})
    assert [d.title for d in second.context["page"]] == [f"D{i:02}" for i in range(50, 55)]
    assert "sort=amount&amp;outcome=open&amp;page=1" in second.content.decode()


def test_list_visibility_follows_the_sales_hierarchy(personas):
    make_deal(personas, personas.rep, title="Rep's")
    make_deal(personas, personas.manager, title="Manager's")
    make_deal(personas, personas.other_rep, title="West's")
    make_deal(personas, personas.owner, title="Owner's")

    def seen(member):
        return sorted(d.title for d in personas.client_for(member).get(url("crm:deal_list", personas)).context["page"])

    assert seen(personas.rep) == ["Manager's", "Rep's"]
    assert seen(personas.other_rep) == ["West's"]
    assert seen(personas.manager) == ["Manager's", "Rep's"]
    assert seen(personas.viewer) == ["Manager's", "Owner's", "Rep's", "West's"]


def test_list_wrong_method_and_outsider(personas):
    assert personas.client_for(personas.owner).post(url("crm:deal_list", personas)).status_code == 405
    assert personas.client_for(personas.outsider).get(url("crm:deal_list", personas)).status_code == 404


def _count_queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("name", ["crm:board", "crm:deal_list"])
def test_query_count_does_not_grow_with_deals(personas, name):
    client = personas.client_for(personas.manager)
    companies = [CompanyFactory(workspace=personas.workspace) for _ in range(3)]
    owners = [personas.rep, personas.manager]
    stages = ["Prospecting", "Discovery", "Proposal", "Closed Won"]
    for i in range(5):
        make_deal(personas, owners[i % 2], title=f"A{i}", stage=stages[i % 4], company=companies[i % 3])
    client.get(url(name, personas))  # the first visit also stores the last-used workspace in the session
    few = _count_queries(client, url(name, personas))
    for i in range(35):
        make_deal(personas, owners[i % 2], title=f"B{i}", stage=stages[i % 4], company=companies[i % 3])
    many = _count_queries(client, url(name, personas))
    assert few == many, (few, many)


# ---- Create, detail, edit, activity -----------------------------------------------------------------


def test_create_deal(personas):
    acme = CompanyFactory(workspace=personas.workspace, name="Acme Corp")
    stage = default_stage(personas.workspace, "Discovery")
    client = personas.client_for(personas.rep)
    assert client.get(url("crm:deal_create", personas)).status_code == 200
    response = client.post(
        url("crm:deal_create", personas),
        {
            "title": "New logo",
            "company": str(acme.uuid),
            "owner": str(personas.rep.uuid),
            "stage": str(stage.uuid),
            "amount": "12345.67",
            "probability": "40",
            "expected_close_date": "2026-03-31",
        },
    )
    deal = Deal.objects.get(title="New logo")
    assert response.status_code == 302 and response["Location"] == url("crm:deal_detail", personas, deal.uuid)
    assert deal.amount == Decimal("12345.67") and isinstance(deal.amount, Decimal)
    assert deal.company == acme and deal.stage == stage and deal.probability_is_manual
    created = DealHistory.objects.filter(deal=deal, changed_by=personas.rep, old_value__isnull=True)
    assert set(created.values_list("field", flat=True)) == {
        "stage", "amount", "owner", "probability", "expected_close_date", "outcome"
    }  # fmt: skip


def test_create_deal_invalid_input_shows_field_messages(personas):
    client = personas.client_for(personas.owner)
    response = client.post(
        url("crm:deal_create", personas),
        {"title": "", "stage": "nope", "amount": "-5", "probability": "150", "expected_close_date": "31/31/2026"},
    )
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert set(errors) == {"title", "stage", "amount", "probability", "expected_close_date"}
    assert "greater than or equal to 0" in response.content.decode()
    assert not Deal.objects.exists()


def test_create_deal_permissions(personas):
    stage = default_stage(personas.workspace)
    data = {"title": "X", "stage": str(stage.uuid), "amount": "1"}
    assert personas.client_for(personas.viewer).post(url("crm:deal_create", personas), data).status_code == 403
    assert personas.client_for(personas.outsider).post(url("crm:deal_create", personas), data).status_code == 404
    assert personas.client_for(personas.owner).put(url("crm:deal_create", personas), data).status_code == 405
    assert not Deal.objects.exists()


def test_deal_page_shows_details_activities_and_readable_history(personas):
    deal = make_deal(personas)
    client = personas.client_for(personas.owner)
    client.post(
        url("crm:deal_move", personas, deal.uuid), {"stage": str(default_stage(personas.workspace, "Proposal").uuid)}
    )
    Activity.objects.create(workspace=personas.workspace, kind="call", subject="Intro call", deal=deal)
    response = client.get(url("crm:deal_detail", personas, deal.uuid))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Intro call" in html
    row = response.context["history"][0]
    assert (row.field, row.old, row.new, row.who) == ("Stage", "Prospecting", "Proposal", personas.owner.display_name)


def test_deal_page_access(personas):
    deal = make_deal(personas)
    path = url("crm:deal_detail", personas, deal.uuid)
    assert personas.client_for(personas.outsider).get(path).status_code == 404
    assert personas.client_for(personas.other_rep).get(path).status_code == 404
    assert personas.client_for(personas.viewer).get(path).status_code == 200
    assert personas.client_for(personas.owner).post(path).status_code == 405
    # The outsider's own workspace slug with this deal's uuid is a 404 too.
    other = reverse("crm:deal_detail", args=[personas.other_workspace.slug, deal.uuid])
    assert personas.client_for(personas.outsider).get(other).status_code == 404
    assert personas.client_for(personas.owner).get(f"/w/acme/deals/{deal.id}/").status_code == 404


def test_inline_edit_records_history_for_each_tracked_field(personas):
    deal = make_deal(personas, expected_close_date=date(2026, 3, 31))
    creation_rows = list(DealHistory.objects.filter(deal=deal).values_list("id", flat=True))
    client = personas.client_for(personas.owner)
    path = url("crm:deal_edit", personas, deal.uuid)
    form = client.get(path, headers={"HX-Request": "true"})
    assert "<html" not in form.content.decode() and 'name="amount"' in form.content.decode()
    proposal = default_stage(personas.workspace, "Proposal")
    response = client.post(
        path,
        {
            "title": "Acme renewal (3y)",
            "owner": str(personas.manager.uuid),
            "stage": str(proposal.uuid),
            "amount": "15000.50",
            "probability": "60",
            "expected_close_date": "2026-04-30",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="deal-details"' in html and 'hx-swap-oob="true"' in html and "15,000.50" in html
    deal.refresh_from_db()
    assert deal.title == "Acme renewal (3y)" and deal.amount == Decimal("15000.50") and deal.owner == personas.manager
    fields = set(DealHistory.objects.filter(deal=deal).exclude(id__in=creation_rows).values_list("field", flat=True))
    assert fields == {"stage", "amount", "owner", "probability", "expected_close_date"}
    assert set(DealHistory.objects.filter(deal=deal).values_list("changed_by", flat=True)) == {personas.owner.id}


def test_inline_edit_invalid_and_foreign_pipeline(personas):
    deal = make_deal(personas)
    other = pipeline_create_default(workspace=personas.workspace, name="Renewals")
    client = personas.client_for(personas.owner)
    path = url("crm:deal_edit", personas, deal.uuid)
    base = {"title": deal.title, "stage": str(deal.stage.uuid), "amount": "12000"}
    bad = client.post(path, {**base, "amount": "twelve"})
    assert bad.status_code == 422 and "Enter a number." in bad.content.decode()
    foreign = Stage.objects.get(pipeline=other, name="Proposal")
    refused = client.post(path, {**base, "stage": str(foreign.uuid)}, headers={"HX-Request": "true"})
    assert refused.status_code == 200 and "is not a stage of the Sales pipeline" in refused.content.decode()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting" and deal.amount == Decimal("12000")
    # The creation rows only (the deal has no close date and no probability): the refused edits left nothing.
    fields = sorted(DealHistory.objects.filter(deal=deal).values_list("field", flat=True))
    assert fields == ["amount", "outcome", "owner", "stage"]


def test_edit_permissions(personas):
    deal = make_deal(personas)
    path = url("crm:deal_edit", personas, deal.uuid)
    data = {"title": "Hacked", "stage": str(deal.stage.uuid), "amount": "1"}
    assert personas.client_for(personas.viewer).post(path, data).status_code == 403
    assert personas.client_for(personas.outsider).post(path, data).status_code == 404
    assert personas.client_for(personas.other_rep).post(path, data).status_code == 404
    assert personas.client_for(personas.owner).delete(path).status_code == 405
    deal.refresh_from_db()
    assert deal.title == "Acme renewal"


def test_log_activity(personas):
    deal = make_deal(personas)
    client = personas.client_for(personas.rep)
    path = url("crm:activity_create", personas, deal.uuid)
    response = client.post(path, {"kind": "meeting", "direction": "outbound", "subject": "Demo", "body": "Went well"})
    assert response.status_code == 302
    activity = Activity.objects.get(deal=deal)
    assert (activity.kind, activity.subject, activity.owner, activity.occurred_at) == (
        "meeting",
        "Demo",
        personas.rep,
        NOW,
    )
    htmx = client.post(
        path, {"kind": "call", "direction": "inbound", "subject": "Follow-up"}, headers={"HX-Request": "true"}
    )
    assert "Follow-up" in htmx.content.decode() and "<html" not in htmx.content.decode()
    bad = client.post(path, {"kind": "telegram", "direction": "outbound", "subject": ""})
    assert bad.status_code == 422 and Activity.objects.filter(deal=deal).count() == 2
    assert personas.client_for(personas.viewer).post(path, {"kind": "note", "subject": "x"}).status_code == 403
    assert personas.client_for(personas.outsider).post(path, {"kind": "note", "subject": "x"}).status_code == 404
    assert client.get(path).status_code == 405
