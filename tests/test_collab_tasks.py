"""Tasks and the next step on a deal, and the rep's day: tasks due, deals needing attention, meetings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alerts.models import AlertKind, Priority
from alerts.services import alert_raise_for_deal
from collab.models import Task
from collab.services import comment_create, task_create
from crm.models import Activity, ActivityKind
from tests.factories import make_deal

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def deal(personas):
    return make_deal(
        personas.workspace,
        title="Umbrella pilot",
        owner=personas.rep,
        actor=personas.rep,
        next_step="Send the proposal",
        expected_close_date=date(2026, 5, 1),
    )


def test_a_task_added_on_the_deal_page_shows_there_and_can_be_done(personas, deal):
    client = personas.client_for(personas.rep)
    url = reverse("collab:task_create", args=["acme", deal.uuid])
    assert client.post(url, {"title": "Book the security review", "due_date": "2026-03-12"}).status_code == 302
    task = Task.objects.get()
    assert (task.deal, task.assignee, task.due_date) == (deal, personas.rep, date(2026, 3, 12))
    panel = client.get(reverse("collab:panel", args=["acme", "deals", deal.uuid])).content.decode()
    assert "Book the security review" in panel and "due Mar 12, 2026" in panel

    client.post(reverse("collab:task_done", args=["acme", task.uuid]), {"done": "on"})
    task.refresh_from_db()
    assert task.done and task.done_at is not None
    client.post(reverse("collab:task_done", args=["acme", task.uuid]), {})
    task.refresh_from_db()
    assert not task.done

    # Someone who cannot see the deal cannot be given its task.
    bad = client.post(url, {"title": "x", "assignee": str(personas.other_rep.uuid)})
    assert bad.status_code == 422 and Task.objects.count() == 1


def test_viewers_cannot_write_tasks_or_next_steps_and_outsiders_cannot_find_them(personas, deal):
    task = task_create(actor=personas.rep, deal=deal, title="Call", due_date=date(2026, 3, 10))
    viewer, outsider = personas.client_for(personas.viewer), personas.client_for(personas.outsider)
    for client, status in ((viewer, 403), (outsider, 404)):
        assert (
            client.post(reverse("collab:task_create", args=["acme", deal.uuid]), {"title": "x"}).status_code == status
        )
        assert client.post(reverse("collab:task_done", args=["acme", task.uuid]), {"done": "on"}).status_code == status
        assert client.post(reverse("collab:task_delete", args=["acme", task.uuid])).status_code == status
        assert (
            client.post(reverse("collab:next_step", args=["acme", deal.uuid]), {"next_step": "x"}).status_code == status
        )
    west = personas.client_for(personas.other_rep)
    assert west.post(reverse("collab:task_done", args=["acme", task.uuid]), {"done": "on"}).status_code == 404
    task.refresh_from_db()
    deal.refresh_from_db()
    assert not task.done and deal.next_step == "Send the proposal" and Task.objects.count() == 1


def test_the_next_step_is_edited_with_the_tasks(personas, deal):
    client = personas.client_for(personas.rep)
    response = client.post(reverse("collab:next_step", args=["acme", deal.uuid]), {"next_step": "Demo to the CFO"})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.next_step == "Demo to the CFO"
    assert "Demo to the CFO" in client.get(reverse("collab:panel", args=["acme", "deals", deal.uuid])).content.decode()
    detail = client.get(reverse("crm:deal_detail", args=["acme", deal.uuid])).content.decode()
    assert reverse("collab:panel", args=["acme", "deals", deal.uuid]) in detail


@time_machine.travel(NOW, tick=False)
def test_my_day_lists_my_tasks_deals_needing_attention_and_meetings(personas, deal):
    ws = personas.workspace
    make_deal(ws, title="Quiet one", owner=personas.rep, actor=personas.rep, next_step="")
    make_deal(
        ws,
        title="Late one",
        owner=personas.rep,
        actor=personas.rep,
        next_step="Chase",
        expected_close_date=date(2026, 3, 1),
    )
    hot = make_deal(ws, title="Hot one", owner=personas.rep, actor=personas.rep, next_step="Call")
    fields = {"priority": Priority.CRITICAL, "seen": "x", "why": "y", "next_step": "z"}
    alert_raise_for_deal(workspace=ws, deal=hot, kind=AlertKind.STALE, now=NOW, fields=fields)
    theirs = make_deal(ws, title="West deal", owner=personas.other_rep, actor=personas.other_rep, next_step="")

    task_create(actor=personas.rep, deal=deal, title="Send pricing today", due_date=date(2026, 3, 10))
    task_create(actor=personas.rep, deal=deal, title="Overdue follow-up", due_date=date(2026, 3, 2))
    task_create(actor=personas.rep, deal=deal, title="Friday check-in", due_date=date(2026, 3, 13))
    task_create(actor=personas.rep, deal=deal, title="Next month", due_date=date(2026, 4, 20))
    task_create(actor=personas.other_rep, deal=theirs, title="West task", due_date=date(2026, 3, 10))
    Activity.objects.create(
        workspace=ws, kind=ActivityKind.MEETING, subject="Umbrella kickoff", deal=deal, owner=personas.rep,
        occurred_at=datetime(2026, 3, 10, 15, tzinfo=UTC),
    )  # fmt: skip
    Activity.objects.create(
        workspace=ws, kind=ActivityKind.MEETING, subject="Last week's demo", deal=deal, owner=personas.rep,
        occurred_at=datetime(2026, 3, 3, 15, tzinfo=UTC),
    )  # fmt: skip

    page = personas.client_for(personas.rep).get(reverse("collab:my_day", args=["acme"]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Send pricing today" in html and "Overdue follow-up" in html and "Friday check-in" in html
    assert html.index("Overdue follow-up") < html.index("Send pricing today") < html.index("Friday check-in")
    assert "Next month" not in html and "West task" not in html and "West deal" not in html
    assert "No next step" in html and "Quiet one" in html
    assert "Close date passed (Mar 1, 2026)" in html and "Late one" in html
    assert "High or Critical alert open" in html and "Hot one" in html
    assert "Umbrella pilot</a>" not in html.split("Deals needing attention")[1].split("Meetings")[0]
    assert "Umbrella kickoff" in html and "Last week&#x27;s demo" not in html and "Last week's demo" not in html
    assert "INSIGHTS FOCUS DEALS" not in html  # the marked block is a template comment
    nav = personas.client_for(personas.rep).get(reverse("crm:board", args=["acme"])).content.decode()
    assert reverse("collab:my_day", args=["acme"]) in nav


def test_my_day_is_404_for_outsiders(personas):
    assert personas.client_for(personas.outsider).get(reverse("collab:my_day", args=["acme"])).status_code == 404


def test_my_day_and_the_deal_panel_do_not_grow_queries_with_rows(personas, deal):
    client = personas.client_for(personas.rep)
    client.get(reverse("collab:my_day", args=["acme"]))  # session and caches warm

    def counts() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as day:
            assert client.get(reverse("collab:my_day", args=["acme"])).status_code == 200
        with CaptureQueriesContext(connection) as panel:
            assert client.get(reverse("collab:panel", args=["acme", "deals", deal.uuid])).status_code == 200
        return len(day), len(panel)

    for n in range(2):
        other = make_deal(personas.workspace, title=f"D{n}", owner=personas.rep, actor=personas.rep, next_step="")
        task_create(actor=personas.rep, deal=other, title=f"T{n}", due_date=date.today())
        task_create(actor=personas.rep, deal=deal, title=f"P{n}", due_date=date.today())
        comment_create(author=personas.rep, body=f"note {n} @manager", deal=deal)
    few = counts()
    for n in range(2, 12):
        other = make_deal(personas.workspace, title=f"D{n}", owner=personas.rep, actor=personas.rep, next_step="")
        task_create(actor=personas.rep, deal=other, title=f"T{n}", due_date=date.today())
        task_create(actor=personas.rep, deal=deal, title=f"P{n}", due_date=date.today())
        comment_create(author=personas.rep, body=f"note {n} @manager", deal=deal)
    many = counts()
    assert many == few, (few, many)
