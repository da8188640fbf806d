"""Meetings follow their calendar: a moved meeting moves its activity, a cancelled one loses it (Radicale)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import caldav
from django.core.management import call_command
from django.utils import timezone

from capture.models import CapturedEvent
from crm.models import Activity, ActivityKind
from tests.capture import corpus as world
from tests.capture.servers import caldav_server
from tests.test_capture import _crm


def _events() -> dict:
    out = StringIO()
    call_command("capture_activities", "--workspace", "acme", "--json", stdout=out)
    return json.loads(out.getvalue())["events"]


def test_a_moved_then_cancelled_meeting_is_followed(personas, tmp_path, db):
    deals = _crm(personas)
    now = timezone.now()
    with caldav_server(tmp_path, "rep") as dav:
        calendar = (
            caldav.DAVClient(url=dav.url, username=dav.user, password=dav.password).principal().make_calendar(name="W")
        )
        attendees = [("alice@umbrella.org", "ACCEPTED")]
        calendar.save_event(world.event("mtg-1", "Umbrella pricing", now + timedelta(days=3), world.REP, attendees))
        call_command(
            "connect_calendar",
            "--workspace",
            "acme",
            "--member",
            world.REP,
            "--caldav-url",
            dav.url,
            "--username",
            dav.user,
            "--password",
            dav.password,
            stdout=StringIO(),
        )

        assert _events() == {"seen": 1, "new": 1, "matched": 1}
        activity = Activity.objects.get(kind=ActivityKind.MEETING)
        assert activity.deal == deals["Umbrella renewal"] and activity.direction == "inbound"

        moved = now + timedelta(days=10)
        calendar.save_event(world.event("mtg-1", "Umbrella pricing", moved, world.REP, attendees))
        assert _events() == {"seen": 1, "new": 0, "matched": 0}
        activity.refresh_from_db()
        assert abs((activity.occurred_at - moved).total_seconds()) < 1

        calendar.save_event(world.event("mtg-1", "Umbrella pricing", moved, world.REP, attendees, status="CANCELLED"))
        _events()
        event = CapturedEvent.objects.get(ical_uid="mtg-1")
        assert event.activity is None and event.outcome() == "cancelled"
        assert not Activity.objects.filter(kind=ActivityKind.MEETING).exists()

        calendar.event_by_uid("mtg-1").delete()
        assert _events()["new"] == 0  # a deletion is read without error and stores nothing
        assert _events() == {"seen": 0, "new": 0, "matched": 0}
