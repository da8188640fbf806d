"""The alerts list as people use it: every page reachable, filters, bulk actions, resolve and reopen, snooze
refusals said out loud, actions offered by status, and a nav badge that counts what the list shows."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from alerts.models import Alert, AlertKind, AlertStatus, Priority
from alerts.views import PAGE_SIZE
from tests.alerts_helpers import NOW, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def url(name, *args):
    return reverse(f"alerts:{name}", args=["acme", *args])


def _raise(deal, kind, *, priority=Priority.MEDIUM, score=1.0, status=AlertStatus.OPEN, **extra) -> Alert:
    return Alert.objects.create(
        workspace_id=deal.workspace_id,
        deal=deal,
        kind=kind,
        priority=priority,
        score=score,
        status=status,
        revenue_at_risk=deal.amount,
        seen=f"Seen on {deal.title}",
        why="Why",
        next_step="Next",
        first_seen_at=NOW - timedelta(days=3),
        last_seen_at=NOW,
        **extra,
    )


@pytest.fixture
def many(personas) -> list[Alert]:
    """61 open alerts on the rep's deals, scored so the list order is known: the last one scores lowest."""
    alerts = []
    for i in range(61):
        deal = make_deal(personas.workspace, personas.rep, title=f"Rep deal {i:02d}", amount=1000 + i)
        alerts.append(_raise(deal, AlertKind.STALE, score=1000 - i))
    return alerts


def _badge_number(client) -> int:
    html = client.get(url("badge")).content.decode()
    found = re.search(r">(\d+)<", html)
    return int(found.group(1)) if found else 0


def test_every_alert_is_reachable_page_by_page(personas, many):
    client = personas.client_for(personas.owner)
    first = client.get(url("list"))
    assert first.status_code == 200
    html = first.content.decode()
    assert "61 alerts" in html and "Rep deal 00" in html and "Rep deal 60" not in html
    assert len(first.context["rows"]) == PAGE_SIZE
    assert 'rel="next"' in html and "Page 1 of 3" in html
    last = client.get(url("list"), {"page": 3}).content.decode()
    assert "Rep deal 60" in last and 'rel="next"' not in last and "Page 3 of 3" in last
    # Every alert appears on exactly one page.
    seen = [row["alert"].id for page in (1, 2, 3) for row in client.get(url("list"), {"page": page}).context["rows"]]
    assert sorted(seen) == sorted(a.id for a in many)
    # A page past the end shows the last page rather than an error.
    assert "Rep deal 60" in client.get(url("list"), {"page": 99}).content.decode()


def test_pagination_keeps_the_filters(personas, many):
    for alert in many[:30]:
        Alert.objects.filter(pk=alert.pk).update(priority=Priority.HIGH)
    html = personas.client_for(personas.owner).get(url("list"), {"priority": Priority.HIGH}).content.decode()
    assert "30 alerts" in html
    assert f"priority={Priority.HIGH}&amp;page=2" in html


def test_badge_counts_exactly_what_the_default_list_shows(personas):
    rep, other = personas.rep, personas.other_rep
    deals = [make_deal(personas.workspace, rep, title=f"East {i}") for i in range(6)]
    west = make_deal(personas.workspace, other, title="West deal")
    _raise(deals[0], AlertKind.STALE, priority=Priority.CRITICAL)
    _raise(deals[1], AlertKind.STALE, priority=Priority.LOW)
    _raise(deals[2], AlertKind.STALE, status=AlertStatus.SNOOZED, snoozed_until=(NOW + timedelta(days=3)).date())
    _raise(deals[3], AlertKind.STALE, status=AlertStatus.SNOOZED, snoozed_until=(NOW - timedelta(days=1)).date())
    _raise(deals[4], AlertKind.STALE, status=AlertStatus.DISMISSED)
    _raise(deals[5], AlertKind.STALE, status=AlertStatus.RESOLVED)
    _raise(deals[5], AlertKind.STALLED, status=AlertStatus.ACKNOWLEDGED)
    _raise(west, AlertKind.STALE, priority=Priority.LOW)
    for member, expected in ((personas.owner, 4), (personas.rep, 3), (personas.other_rep, 1)):
        client = personas.client_for(member)
        listed = client.get(url("list")).context["total"]
        assert listed == expected
        assert _badge_number(client) == listed, member


def test_filters_by_owner_deal_and_name(personas):
    east = make_deal(personas.workspace, personas.rep, title="Harbour expansion")
    west = make_deal(personas.workspace, personas.other_rep, title="Harbour renewal")
    _raise(east, AlertKind.STALE)
    _raise(east, AlertKind.STALLED)
    _raise(west, AlertKind.STALE)
    client = personas.client_for(personas.owner)
    by_owner = client.get(url("list"), {"owner": personas.other_rep.uuid})
    assert by_owner.context["total"] == 1 and "Harbour renewal" in by_owner.content.decode()
    by_deal = client.get(url("list"), {"deal": east.uuid, "status": "all"})
    assert by_deal.context["total"] == 2 and "Harbour renewal" not in by_deal.content.decode()
    assert client.get(url("list"), {"q": "renewal"}).context["total"] == 1
    assert client.get(url("list"), {"kind": "stalled"}).context["total"] == 1
    # A rep cannot filter on (or learn of) another team's deal or member: a field error, not a leak.
    rep = personas.client_for(personas.rep)
    assert rep.get(url("list"), {"deal": west.uuid}).status_code == 400
    assert rep.get(url("list"), {"owner": personas.other_rep.uuid}).status_code == 400


def test_dates_carry_the_year_and_money_the_workspace_currency(personas):
    deal = make_deal(personas.workspace, personas.rep, title="Big one", amount=423_000)
    _raise(deal, AlertKind.STALE)
    html = personas.client_for(personas.rep).get(url("list")).content.decode()
    assert f"{personas.workspace.currency} 423,000" in html
    assert "First seen May 11, 2026" in html


def test_bulk_snooze_needs_a_date_and_says_so(personas, many):
    client = personas.client_for(personas.rep)
    picked = [str(a.uuid) for a in many[:3]]
    refused = client.post(url("bulk"), {"alert": picked, "action": "snooze"}, follow=True)
    assert "Choose the date to snooze until" in refused.content.decode()
    assert not Alert.objects.filter(status=AlertStatus.SNOOZED).exists()
    until = (NOW + timedelta(days=7)).date()
    done = client.post(url("bulk"), {"alert": picked, "action": "snooze", "until": until.isoformat()}, follow=True)
    assert "3 alerts snoozed until May 21, 2026" in done.content.decode()
    assert set(Alert.objects.filter(status=AlertStatus.SNOOZED).values_list("uuid", flat=True)) == {
        a.uuid for a in many[:3]
    }
    # Snoozed alerts leave the default list and the badge together.
    assert client.get(url("list")).context["total"] == 58 == _badge_number(client)


def test_bulk_resolve_skips_what_its_status_does_not_allow(personas, many):
    Alert.objects.filter(pk=many[0].pk).update(status=AlertStatus.DISMISSED)
    client = personas.client_for(personas.rep)
    picked = [str(a.uuid) for a in many[:4]]
    response = client.post(url("bulk"), {"alert": picked, "action": "resolve", "next": url("list") + "?page=2"})
    assert response.status_code == 302 and response["Location"] == url("list") + "?page=2"
    message = client.get(url("list")).content.decode()
    assert "3 alerts resolved; 1 skipped" in message and "reopen it first" in message
    assert Alert.objects.filter(status=AlertStatus.RESOLVED).count() == 3
    assert Alert.objects.get(pk=many[0].pk).status == AlertStatus.DISMISSED


def test_bulk_only_touches_alerts_the_member_sees_and_not_for_viewers(personas, many):
    west = make_deal(personas.workspace, personas.other_rep, title="West")
    hidden = _raise(west, AlertKind.STALE)
    picked = [str(hidden.uuid), str(many[0].uuid)]
    personas.client_for(personas.other_rep).post(url("bulk"), {"alert": picked, "action": "acknowledge"})
    assert Alert.objects.get(pk=many[0].pk).status == AlertStatus.OPEN  # the rep's deal: out of their sight
    assert Alert.objects.get(pk=hidden.pk).status == AlertStatus.ACKNOWLEDGED
    assert (
        personas.client_for(personas.viewer).post(url("bulk"), {"alert": picked, "action": "resolve"}).status_code
        == 403
    )
    assert personas.client_for(personas.rep).get(url("bulk")).status_code == 405
    assert (
        personas.client_for(personas.outsider).post(url("bulk"), {"alert": picked, "action": "resolve"}).status_code
        == 404
    )
    assert not Alert.objects.filter(status=AlertStatus.RESOLVED).exists()


def test_snooze_without_a_date_is_refused_in_the_row_never_silently(personas, many):
    client = personas.client_for(personas.rep)
    alert = many[0]
    under_htmx = client.post(url("snooze", alert.uuid), {"until": ""}, HTTP_HX_REQUEST="true")
    html = under_htmx.content.decode()
    # HTMX swaps only successful answers: the row comes back, with the reason in it.
    assert under_htmx.status_code == 200 and f'id="alert-{alert.uuid}"' in html
    assert "Not snoozed: Choose the date to snooze until." in html and 'role="alert"' in html
    plain = client.post(url("snooze", alert.uuid), {})
    assert plain.status_code == 400 and "Choose the date to snooze until" in plain.content.decode()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.snoozed_until is None


def test_manual_resolve_and_a_resolved_alert_offers_nothing(personas, many):
    client = personas.client_for(personas.rep)
    alert = many[0]
    response = client.post(url("resolve", alert.uuid), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_at is not None
    row = response.content.decode()
    assert "Resolved" in row and "<button" not in row and 'name="alert"' not in row
    again = client.post(url("resolve", alert.uuid))
    assert again.status_code == 400 and "already resolved" in again.content.decode()
    # Gone from the default list and the badge.
    assert client.get(url("list")).context["total"] == 60 == _badge_number(client)
    assert personas.client_for(personas.viewer).post(url("resolve", many[1].uuid)).status_code == 403


def test_a_dismissed_alert_offers_only_reopen(personas, many):
    client = personas.client_for(personas.rep)
    alert = many[0]
    row = client.post(url("dismiss", alert.uuid), {"not_useful": "on"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Dismissed" in row and "Reopen" in row
    for action in ("Acknowledge", "Snooze", "Resolve", ">Dismiss<"):
        assert action not in row
    refused = client.post(url("acknowledge", alert.uuid))
    assert refused.status_code == 400 and "reopen it first" in refused.content.decode()
    client.post(url("reopen", alert.uuid))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and not alert.not_useful
    reopened = client.get(url("list")).content.decode()
    assert f'value="{alert.uuid}"' in reopened  # selectable again


def test_the_list_page_answers_within_a_fixed_number_of_queries(personas, many, django_assert_max_num_queries):
    client = personas.client_for(personas.owner)
    client.get(url("list"))  # warm the session
    with django_assert_max_num_queries(14):
        assert client.get(url("list"), {"page": 2}).status_code == 200


def test_revenue_at_risk_uses_whole_units(personas):
    deal = make_deal(personas.workspace, personas.rep, title="Cents", amount=10)
    alert = _raise(deal, AlertKind.STALE)
    Alert.objects.filter(pk=alert.pk).update(revenue_at_risk=Decimal("1234.56"))
    assert f"{personas.workspace.currency} 1,235" in personas.client_for(personas.rep).get(url("list")).content.decode()
