"""The board people like: filters by owner, team and close period; cards with the model's win chance, the owner,
an overdue flag and dates with their year; closing asks for the date and amount (or reason); a move can be undone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm.models import Deal, DealHistory, TrackedField
from scoring.models import DealScore, ScoringModel
from tests import factories
from tests.factories import default_stage

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def deal(personas, owner=None, **fields):
    fields.setdefault("amount", "12000")
    return factories.make_deal(personas.workspace, actor=personas.owner, owner=owner or personas.rep, **fields)


def url(name, personas, *args):
    return reverse(name, args=[personas.workspace.slug, *args])


def card_titles(response, stage):
    column = next(v for v in response.context["columns"] if v.column.stage.name == stage)
    return [card.deal.title for card in column.cards]


def test_cards_show_win_chance_owner_overdue_flag_and_year(personas):
    late = deal(personas, title="Late one", stage="Proposal", expected_close_date=date(2026, 1, 20))
    deal(personas, title="On time", stage="Proposal", expected_close_date=date(2026, 3, 5))
    model = ScoringModel.objects.create(workspace=personas.workspace, version=1, kind="logistic", status="active")
    DealScore.objects.create(
        workspace=personas.workspace, deal=late, model=model, probability=0.42, low=0.3, high=0.5, confidence="medium"
    )
    html = personas.client_for(personas.owner).get(url("crm:board", personas)).content.decode()
    late_card = html.split(f'data-deal="{late.uuid}"')[1].split("</li>")[0]
    assert "42% win" in late_card
    assert "Overdue" in late_card and "closes Jan 20, 2026" in late_card
    assert personas.rep.display_name in late_card
    on_time = html.split('data-title="On time"')[1].split("</li>")[0]
    assert "closes Mar 5, 2026" in on_time and "Overdue" not in on_time and "% win" not in on_time


def test_filters_by_owner_team_and_close_period(personas):
    deal(personas, title="Rep Q1", stage="Proposal", expected_close_date=date(2026, 3, 1))
    deal(personas, personas.other_rep, title="West Q2", stage="Proposal", expected_close_date=date(2026, 5, 1))
    client = personas.client_for(personas.owner)
    board_url = url("crm:board", personas)
    assert card_titles(client.get(board_url), "Proposal") == ["Rep Q1", "West Q2"]
    assert card_titles(client.get(board_url, {"owner": personas.other_rep.uuid}), "Proposal") == ["West Q2"]
    assert card_titles(client.get(board_url, {"team": personas.rep.team.uuid}), "Proposal") == ["Rep Q1"]
    response = client.get(board_url, {"close": "next_quarter"})
    assert card_titles(response, "Proposal") == ["West Q2"]
    assert response.context["board"].open_count == 1
    assert "Next quarter (Q2 FY2026)" in response.content.decode()  # fiscal periods named the usual way
    # A foreign id filters nothing and says so instead of failing.
    foreign = client.get(board_url, {"owner": personas.outsider.uuid})
    assert foreign.status_code == 200 and card_titles(foreign, "Proposal") == ["Rep Q1", "West Q2"]


def test_a_move_keeps_the_board_filters(personas):
    moved = deal(personas, title="Rep Q1", stage="Proposal", expected_close_date=date(2026, 3, 1))
    deal(personas, personas.other_rep, title="West", stage="Proposal")
    query = f"owner={personas.rep.uuid}"
    response = personas.client_for(personas.owner).post(
        url("crm:deal_move", personas, moved.uuid),
        {"stage": default_stage(personas.workspace, "Negotiation").uuid, "from": "board", "board_query": query},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert card_titles(response, "Negotiation") == ["Rep Q1"] and card_titles(response, "Proposal") == []


def close(personas, client, target, stage, **answers):
    return client.post(
        url("crm:deal_move", personas, target.uuid),
        {"stage": default_stage(personas.workspace, stage).uuid, "from": "board", **answers},
        headers={"HX-Request": "true"},
    )


def test_closing_as_won_takes_the_date_and_amount_and_can_be_undone(personas):
    target = deal(personas, title="Rocket", stage="Negotiation", amount="40000", expected_close_date=date(2026, 4, 1))
    client = personas.client_for(personas.rep)
    response = close(personas, client, target, "Closed Won", close_date="2026-02-09", amount="38500")
    assert response.status_code == 200
    target.refresh_from_db()
    assert (target.outcome, target.amount, target.expected_close_date) == ("won", Decimal("38500"), date(2026, 2, 9))
    assert target.closed_on == date(2026, 2, 9)
    undo = response.context["undo"]
    assert "Rocket moved to Closed Won" in response.content.decode() and undo["deal"] == str(target.uuid)

    back = client.post(
        url("crm:deal_move_undo", personas, target.uuid), {"token": undo["token"]}, headers={"HX-Request": "true"}
    )
    assert back.status_code == 200 and "back where it was" in back.content.decode()
    target.refresh_from_db()
    assert target.stage.name == "Negotiation" and target.outcome == "open" and target.closed_at is None
    assert (target.amount, target.expected_close_date) == (Decimal("40000"), date(2026, 4, 1))
    stages = DealHistory.objects.filter(deal=target, field=TrackedField.STAGE, old_value__isnull=False)
    assert stages.count() == 2 and all(row.changed_by == personas.rep for row in stages)  # both in the history


def test_closing_as_lost_needs_a_reason_and_no_future_date(personas):
    target = deal(personas, title="Rocket", stage="Negotiation")
    client = personas.client_for(personas.rep)
    no_reason = close(personas, client, target, "Closed Lost", close_date="2026-02-10", lost_reason="  ")
    assert no_reason.status_code == 422 and "Say why the deal was lost" in no_reason.content.decode()
    future = close(personas, client, target, "Closed Lost", close_date="2026-03-01", lost_reason="Budget")
    assert future.status_code == 422 and "cannot close in the future" in future.content.decode()
    target.refresh_from_db()
    assert target.outcome == "open"
    done = close(personas, client, target, "Closed Lost", close_date="2026-02-10", lost_reason="Budget cut")
    assert done.status_code == 200
    target.refresh_from_db()
    assert (target.outcome, target.lost_reason) == ("lost", "Budget cut")


def test_closing_without_javascript_asks_on_a_page_then_offers_undo(personas):
    target = deal(personas, title="Rocket", stage="Negotiation", amount="40000")
    client = personas.client_for(personas.rep)
    won = default_stage(personas.workspace, "Closed Won")
    asked = client.post(url("crm:deal_move", personas, target.uuid), {"stage": won.uuid, "from": "board"})
    assert asked.status_code == 200 and "Close Rocket" in asked.content.decode()
    assert asked.context["form"].initial["close_date"] == date(2026, 2, 10)
    target.refresh_from_db()
    assert target.outcome == "open"  # nothing changed before the answers
    answered = client.post(
        url("crm:deal_move", personas, target.uuid),
        {"stage": won.uuid, "from": "board", "close_date": "2026-02-10", "amount": "40000"},
    )
    assert answered.status_code == 302 and "undo=" in answered["Location"]
    page = client.get(answered["Location"])
    assert page.context["undo"] is not None and "Undo" in page.content.decode()


def test_undo_expires_and_belongs_to_who_moved(personas, frozen_time):
    target = deal(personas, title="Rocket", stage="Negotiation")
    rep = personas.client_for(personas.rep)
    moved = rep.post(
        url("crm:deal_move", personas, target.uuid),
        {"stage": default_stage(personas.workspace, "Proposal").uuid, "from": "board"},
        headers={"HX-Request": "true"},
    )
    token = moved.context["undo"]["token"]
    other = personas.client_for(personas.manager).post(
        url("crm:deal_move_undo", personas, target.uuid), {"token": token}, headers={"HX-Request": "true"}
    )
    assert other.status_code == 422 and "Only who moved the deal" in other.content.decode()
    frozen_time.shift(timedelta(seconds=61))
    late = rep.post(url("crm:deal_move_undo", personas, target.uuid), {"token": token}, headers={"HX-Request": "true"})
    assert late.status_code == 422 and "Too late to undo" in late.content.decode()
    assert Deal.objects.get(pk=target.pk).stage.name == "Proposal"


def test_undo_refused_after_a_later_move(personas):
    target = deal(personas, title="Rocket", stage="Negotiation")
    rep = personas.client_for(personas.rep)
    moved = rep.post(
        url("crm:deal_move", personas, target.uuid),
        {"stage": default_stage(personas.workspace, "Proposal").uuid, "from": "board"},
        headers={"HX-Request": "true"},
    )
    rep.post(
        url("crm:deal_move", personas, target.uuid),
        {"stage": default_stage(personas.workspace, "Discovery").uuid, "from": "board"},
        headers={"HX-Request": "true"},
    )
    stale = rep.post(
        url("crm:deal_move_undo", personas, target.uuid),
        {"token": moved.context["undo"]["token"]},
        headers={"HX-Request": "true"},
    )
    assert stale.status_code == 422 and "changed since" in stale.content.decode()
    assert Deal.objects.get(pk=target.pk).stage.name == "Discovery"


def test_undo_permissions(personas):
    target = deal(personas, title="Rocket", stage="Negotiation")
    undo_url = url("crm:deal_move_undo", personas, target.uuid)
    assert personas.client_for(personas.viewer).post(undo_url, {"token": "x"}).status_code == 403
    assert personas.client_for(personas.outsider).post(undo_url, {"token": "x"}).status_code == 404
    assert personas.client_for(personas.other_rep).post(undo_url, {"token": "x"}).status_code == 404
    assert personas.client_for(personas.rep).get(undo_url).status_code == 405


def test_the_board_reads_a_fixed_number_of_queries(personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = personas.client_for(personas.owner)
    board_url = url("crm:board", personas)
    filters = {"team": personas.rep.team.uuid, "close": "this_quarter"}

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(board_url, filters).status_code == 200
        return len(ctx.captured_queries)

    deal(personas, title="First", stage="Proposal", expected_close_date=date(2026, 3, 1))
    queries()  # the first visit also writes the session (the workspace used last)
    few = queries()
    for i in range(30):
        deal(
            personas,
            title=f"D{i}",
            stage=("Proposal", "Discovery", "Negotiation")[i % 3],
            expected_close_date=date(2026, 3, 1),
        )
    assert queries() == few <= 20
