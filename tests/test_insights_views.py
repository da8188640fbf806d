"""The insights page, its focus panel, the `insights` command and the digest's section, for every persona."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from alerts.delivery import email
from alerts.models import Alert, AlertKind, Delivery
from forecasting.services import forecast_run
from tests.insights_deals import days_ago, deal_through


@pytest.fixture
def stored(personas, monkeypatch):
    """A short won/lost record, an open deal per team, and a stored forecast run with its simulations."""
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", 1000)
    ws, now = personas.workspace, timezone.now()
    for i in range(12):
        owner = personas.rep if i % 2 else personas.other_rep
        start = 200 - 12 * i
        end = "Closed Won" if i % 3 else "Closed Lost"
        deal_through(ws, owner, [("Proposal", days_ago(now, start)), (end, days_ago(now, start - 20 - i))], amount=9000)
    east = deal_through(ws, personas.rep, [("Proposal", days_ago(now, 5))], amount=300_000, title="East big")
    west = deal_through(ws, personas.other_rep, [("Proposal", days_ago(now, 5))], amount=300_000, title="West secret")
    forecast_run(workspace=ws)
    return {"east": east, "west": west}


def _page(client, slug: str, **params):
    return client.get(reverse("insights:page", args=[slug]), params)


def test_the_page_renders_for_every_role_and_is_a_404_for_outsiders(personas, stored, django_assert_max_num_queries):
    slug = personas.workspace.slug
    owner = personas.client_for(personas.owner)
    with django_assert_max_num_queries(40):  # a fixed number: no query per deal, rep or stage
        assert _page(owner, slug).status_code == 200
    for member in (personas.owner, personas.manager, personas.rep, personas.viewer):
        response = _page(personas.client_for(member), slug)
        body = response.content.decode()
        assert response.status_code == 200, member.role
        assert "The deals that decide the period" in body and "Reps against their team" in body
        assert "East big" in body
        assert ("West secret" in body) == (member in (personas.owner, personas.viewer)), member.role
    assert _page(personas.client_for(personas.outsider), slug).status_code == 404
    assert owner.post(reverse("insights:page", args=[slug])).status_code == 405
    # A rep out of the manager's sight is a field error, and the page shows the manager's own view.
    hidden = _page(personas.client_for(personas.manager), slug, rep=str(personas.other_rep.uuid))
    assert hidden.status_code == 200 and "West secret" not in hidden.content.decode()
    assert "Insights</a>" in owner.get(reverse("crm:board", args=[slug])).content.decode()  # the nav link


def test_the_focus_panel_is_in_the_members_scope(personas, stored):
    slug = personas.workspace.slug
    url = reverse("insights:focus", args=[slug])
    rep = personas.client_for(personas.rep)
    mine = rep.get(url, {"owner": str(personas.rep.uuid)})
    assert mine.status_code == 200 and "East big" in mine.content.decode()
    assert "<html" not in mine.content.decode()  # a partial
    assert rep.get(url, {"owner": str(personas.other_rep.uuid)}).status_code == 404
    assert rep.get(url, {"owner": "not-a-uuid"}).status_code == 404
    assert rep.get(url, {"owner": str(uuid.uuid4())}).status_code == 404
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    west = personas.client_for(personas.owner).get(url, {"owner": str(personas.other_rep.uuid)})
    assert "West secret" in west.content.decode() and "East big" not in west.content.decode()
    # Included by htmx on the forecast page and on a rep's home (the board).
    assert url in rep.get(reverse("forecasting:dashboard", args=[slug])).content.decode()
    assert f"{url}?owner={personas.rep.uuid}" in rep.get(reverse("crm:board", args=[slug])).content.decode()


def test_the_command_prints_the_three_lists(personas, stored):
    out = io.StringIO()
    call_command("insights", workspace=personas.workspace.slug, json=True, stdout=out)
    result = json.loads(out.getvalue())
    assert list(result) == ["focus_deals", "bottlenecks", "reps"]
    deals = result["focus_deals"]
    assert deals and {"deal", "impact", "reason"} <= set(deals[0])
    assert {d["deal"] for d in deals} <= {str(stored["east"].uuid), str(stored["west"].uuid)}
    assert deals[0]["impact"] >= deals[-1]["impact"] > 0
    out = io.StringIO()
    call_command("insights", workspace=personas.workspace.slug, rep=personas.rep.email, json=True, stdout=out)
    assert [d["deal"] for d in json.loads(out.getvalue())["focus_deals"]] == [str(stored["east"].uuid)]
    with pytest.raises(CommandError, match=r"nobody@acme\.test"):
        call_command("insights", workspace=personas.workspace.slug, rep="nobody@acme.test", json=True)
    with pytest.raises(CommandError, match="nope"):
        call_command("insights", workspace="nope", json=True)


def test_the_weekly_digest_lists_the_members_focus_deals(personas, stored):
    Alert.objects.create(
        workspace=personas.workspace, deal=stored["east"], kind=AlertKind.STALE, seen="Quiet", why="Risk", priority=3
    )
    assert email.digests_enqueue(frequency="weekly", now=timezone.now()) >= 1
    text = Delivery.objects.get(membership=personas.rep).payload["text"]
    assert "The deals that decide the period" in text and "East big" in text and "West secret" not in text
    assert "open alert: Stale deal" in text  # the alert counts in the reason
