"""Notifications: the bell and its page, each member's choice of channels, and the hooks that raise them
(High/Critical alerts on your deals, deals assigned to you)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.urls import reverse

from alerts.delivery import outbox
from alerts.models import AlertKind, Priority
from alerts.services import alert_raise_for_deal, alert_settings_get
from collab import tasks as collab_tasks
from collab.models import DeliveryState, Notification, NotificationKind
from collab.services import notify
from crm.services import deal_update
from tests.factories import MembershipFactory, make_deal


@pytest.fixture
def deal(personas):
    return make_deal(personas.workspace, title="Initech expansion", owner=personas.rep, actor=personas.rep)


def raise_alert(personas, deal, priority):
    fields = {"priority": priority, "seen": "No reply in 30 days", "why": "Quiet deals slip", "next_step": "Call"}
    now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    return alert_raise_for_deal(workspace=personas.workspace, deal=deal, kind=AlertKind.STALE, now=now, fields=fields)


def test_a_critical_alert_on_my_deal_notifies_me_once_and_goes_to_push(personas, deal):
    personas.rep.push_subscriptions.create(
        workspace=personas.workspace, endpoint="https://push.example.com/x", p256dh="k", auth="a"
    )
    alert = raise_alert(personas, deal, Priority.CRITICAL)
    notification = Notification.objects.get()
    assert notification.recipient == personas.rep and notification.kind == NotificationKind.ALERT
    assert notification.title.startswith("Critical alert on Initech expansion")
    assert notification.push_state == DeliveryState.PENDING  # mentions and Critical alerts push by default
    # A re-run of the same pass (a worker killed after commit) tells nobody again.
    settings_row = alert_settings_get(workspace=personas.workspace)
    outbox.alerts_changed(
        workspace=personas.workspace, settings_row=settings_row, created=[alert.id], resolved=[], escalated=[]
    )
    assert Notification.objects.count() == 1


def test_high_alerts_notify_without_push_and_lower_ones_not_at_all(personas, deal):
    raise_alert(personas, deal, Priority.MEDIUM)
    assert not Notification.objects.exists()
    raise_alert(personas, deal, Priority.HIGH)
    notification = Notification.objects.get()
    assert notification.push_state == DeliveryState.NONE and notification.recipient == personas.rep


def test_a_deal_given_to_me_by_someone_else_notifies_me_once(personas, deal):
    assert "collab.tasks.on_deals_changed" in settings.DEAL_CHANGE_HANDLERS
    deal_update(deal=deal, actor=personas.manager, changes={"owner": personas.owner})
    assert collab_tasks.on_deals_changed(personas.workspace.id, [deal.id]) == 1
    assert collab_tasks.on_deals_changed(personas.workspace.id, [deal.id]) == 0  # the handler may run twice
    notification = Notification.objects.get()
    assert notification.recipient == personas.owner and notification.kind == NotificationKind.ASSIGNMENT
    assert notification.title == "manager made you the owner of Initech expansion"
    assert notification.email_state == DeliveryState.PENDING  # assignments email by default
    # Taking a deal yourself is no news to you.
    deal_update(deal=deal, actor=personas.manager, changes={"owner": personas.manager})
    assert collab_tasks.on_deals_changed(personas.workspace.id, [deal.id]) == 0


def _notify(member, n):
    return notify(recipient=member, kind=NotificationKind.MENTION, title=f"note {n}", url="/", key=f"test:{n}")


def test_the_bell_counts_unread_and_marking_read_empties_it(personas):
    for n in range(3):
        _notify(personas.viewer, n)
    _notify(personas.rep, 9)
    client = personas.client_for(personas.viewer)
    bell = reverse("collab:bell", args=["acme"])
    html = client.get(bell).content.decode()
    assert 'aria-label="3 unread"' in html and "note 2" in html and "note 9" not in html

    one = Notification.objects.filter(recipient=personas.viewer).first()
    read = reverse("collab:notifications_read", args=["acme"])
    assert client.post(read, {"notification": str(one.uuid)}).status_code == 302  # viewers may read their own
    assert 'aria-label="2 unread"' in client.get(bell).content.decode()
    client.post(read)  # mark all read
    assert "unread" not in client.get(bell).content.decode().split("<ul")[0]
    assert Notification.objects.filter(recipient=personas.rep, read_at__isnull=True).count() == 1  # not theirs

    page = client.get(reverse("collab:notifications", args=["acme"])).content.decode()
    assert "0 unread" in page and "note 0" in page


def test_the_bell_is_on_every_workspace_page_and_outsiders_cannot_reach_it(personas):
    page = personas.client_for(personas.rep).get(reverse("crm:board", args=["acme"])).content.decode()
    assert reverse("collab:bell", args=["acme"]) in page
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    outsider = personas.client_for(personas.outsider)
    assert outsider.get(reverse("collab:bell", args=["acme"])).status_code == 404
    assert outsider.post(reverse("collab:notifications_read", args=["acme"])).status_code == 404
    one = _notify(personas.rep, 1)
    assert outsider.get(reverse("collab:notification_open", args=["acme", one.uuid])).status_code == 404
    # Another member of the workspace cannot open (and so mark read) someone else's notification.
    assert (
        personas.client_for(personas.owner)
        .get(reverse("collab:notification_open", args=["acme", one.uuid]))
        .status_code
        == 404
    )


def test_settings_choose_the_channels(personas):
    client = personas.client_for(personas.viewer)
    url = reverse("collab:notification_settings", args=["acme"])
    page = client.get(url).content.decode()
    assert 'name="mention_email"' in page and 'name="assignment_push"' not in page
    assert client.post(url, {"mention_app": "on"}).status_code == 302  # in the app only
    made = _notify(personas.viewer, 1)
    assert made.in_app and made.email_state == DeliveryState.NONE
    client.post(url, {})  # nothing at all
    assert _notify(personas.viewer, 2) is None


def test_people_without_a_login_are_never_notified(personas, deal):
    imported = MembershipFactory(workspace=personas.workspace, user=None, display_name="Imp", email="imp@acme.test")
    deal_update(deal=deal, actor=personas.manager, changes={"owner": imported})
    raise_alert(personas, deal, Priority.CRITICAL)
    assert collab_tasks.on_deals_changed(personas.workspace.id, [deal.id]) == 0
    assert not Notification.objects.exists()
