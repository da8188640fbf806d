"""Alert screens as owner, rep, other rep, viewer and outsider: list, badge, deal panel, responses."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from alerts.models import Alert, AlertStatus, NotificationPreference, Priority
from alerts.services import monitors_run
from tests.alerts_helpers import NOW, log_activity, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def alert(personas) -> Alert:
    deal = make_deal(personas.workspace, personas.rep, title="Quiet big deal", amount=400_000)
    other = make_deal(personas.workspace, personas.other_rep, title="West quiet deal", amount=9_000)
    log_activity(other, days_ago=40)
    monitors_run(workspace=personas.workspace, as_of=NOW)
    return Alert.objects.get(deal=deal)


def url(name, *args):
    return reverse(f"alerts:{name}", args=["acme", *args])


def test_rep_sees_their_alerts_not_the_other_teams(personas, alert):
    response = personas.client_for(personas.rep).get(url("list"))
    assert response.status_code == 200
    assert b"Quiet big deal" in response.content and b"West quiet deal" not in response.content
    owner_page = personas.client_for(personas.owner).get(url("list")).content
    assert b"West quiet deal" in owner_page and b"Quiet big deal" in owner_page


def test_list_under_htmx_is_the_results_partial_and_filters_validate(personas, alert):
    client = personas.client_for(personas.owner)
    partial = client.get(url("list"), {"kind": "stale"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and b'id="results"' in partial.content and b"<html" not in partial.content
    assert client.get(url("list"), {"priority": "9"}).status_code == 400


def test_outsider_gets_404_everywhere(personas, alert):
    client = personas.client_for(personas.outsider)
    assert client.get(url("list")).status_code == 404
    assert client.post(url("acknowledge", alert.uuid)).status_code == 404
    assert client.get(url("deal_panel", alert.deal.uuid)).status_code == 404


def test_other_rep_cannot_touch_or_see_an_alert_on_a_deal_they_cannot_see(personas, alert):
    client = personas.client_for(personas.other_rep)
    assert client.post(url("acknowledge", alert.uuid)).status_code == 404
    assert client.get(url("deal_panel", alert.deal.uuid)).status_code == 404
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_viewer_reads_but_cannot_respond(personas, alert):
    client = personas.client_for(personas.viewer)
    assert client.get(url("list")).status_code == 200
    assert client.post(url("dismiss", alert.uuid), {"not_useful": "on"}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_acknowledge_snooze_dismiss(personas, alert):
    client = personas.client_for(personas.rep)
    assert client.get(url("acknowledge", alert.uuid)).status_code == 405
    response = client.post(url("acknowledge", alert.uuid), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"Acknowledged" in response.content
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == personas.rep

    assert client.post(url("snooze", alert.uuid), {"until": NOW.date().isoformat()}).status_code == 400
    assert client.post(url("snooze", alert.uuid), {}).status_code == 400
    until = (NOW + timedelta(days=7)).date()
    assert client.post(url("snooze", alert.uuid), {"until": until.isoformat()}).status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.SNOOZED and alert.snoozed_until == until
    # A snoozed alert leaves the badge until its date comes.
    badge = client.get(url("badge"))
    assert b">1<" not in badge.content

    client.post(url("dismiss", alert.uuid), {"not_useful": "on", "feedback": "Already known"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.DISMISSED and alert.not_useful and alert.feedback == "Already known"


def test_badge_counts_alerts_needing_attention_and_turns_red_for_urgent_ones(personas, alert):
    # The badge's number is the default list's count; an urgent (High or Critical) alert among them makes it red.
    assert b">1<" in personas.client_for(personas.rep).get(url("badge")).content
    owner_badge = personas.client_for(personas.owner).get(url("badge")).content
    assert b">2<" in owner_badge and b"(1 High or Critical)" in owner_badge and b"badge-quiet" not in owner_badge
    # Once every alert is Low, the badge still counts them but no longer in the urgent colour.
    Alert.objects.update(priority=Priority.LOW)
    quiet = personas.client_for(personas.owner).get(url("badge")).content
    assert b"badge-quiet" in quiet and b">2<" in quiet


def test_deal_panel_lists_the_deals_alerts(personas, alert):
    response = personas.client_for(personas.manager).get(url("deal_panel", alert.deal.uuid))
    assert response.status_code == 200 and alert.seen.encode() in response.content


def test_relevance_counts_action_and_not_useful(personas, alert):
    log_activity(alert.deal, days_ago=-2)  # a call two days after the alert
    Alert.objects.filter(id=alert.id).update(not_useful=True, status=AlertStatus.DISMISSED)
    response = personas.client_for(personas.owner).get(url("relevance"))
    rows = {r.kind: r for r in response.context["rows"]}
    assert rows["stale"].raised == 2 and rows["stale"].acted_on == 1 and rows["stale"].not_useful == 1


def test_preferences_saved_per_member(personas):
    client = personas.client_for(personas.rep)
    assert client.post(url("preferences"), {"digest": "hourly", "min_priority": 3}).status_code == 400
    assert client.post(url("preferences"), {"digest": "daily", "min_priority": 3}).status_code == 302
    pref = NotificationPreference.objects.get(membership=personas.rep)
    assert pref.digest == "daily" and pref.min_priority == 3


def test_settings_and_webhooks_are_for_admins(personas):
    assert personas.client_for(personas.rep).get(url("settings")).status_code == 403
    assert personas.client_for(personas.rep).get(url("webhooks")).status_code == 403
    client = personas.client_for(personas.owner)
    plain = {"url": "http://example.com/hook", "send_alert_events": "on"}
    assert client.post(url("webhooks"), plain).status_code == 400
    assert client.post(url("webhooks"), {**plain, "url": "https://example.com/hook"}).status_code == 201
    assert personas.workspace.webhook_endpoints.get().url == "https://example.com/hook"
