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
from tests.test_capture import _crm, connect_calendar


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
        connect_calendar(dav)

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


def _weekly(uid: str, start, exdates: list) -> str:
    """A weekly customer call as one CalDAV object: RRULE, and EXDATEs for the weeks it did not happen."""
    fmt = "%Y%m%dT%H%M%SZ"
    lines = world.event(uid, "Umbrella weekly", start, world.REP, [("alice@umbrella.org", "ACCEPTED")]).split("\r\n")
    extra = ["RRULE:FREQ=WEEKLY", *(f"EXDATE:{d.strftime(fmt)}" for d in exdates)]
    at = lines.index("BEGIN:VEVENT") + 1
    return "\r\n".join(lines[:at] + extra + lines[at:])


def test_a_recurring_meeting_is_captured_as_its_occurrences(personas, tmp_path, db, settings):
    import time_machine

    settings.CAPTURE_MEETINGS_AHEAD_DAYS = 30
    deals = _crm(personas)
    now = timezone.now().replace(microsecond=0)
    first = now - timedelta(days=21) + timedelta(hours=1)  # three weeks ago (less an hour), then weekly
    weeks = [first + timedelta(weeks=k) for k in range(12)]
    expected = [w for w in weeks if w < now + timedelta(days=30)]  # three past weeks and four to come
    skipped = expected[1]  # two weeks ago it did not happen (EXDATE)
    with caldav_server(tmp_path, "rep") as dav:
        calendar = (
            caldav.DAVClient(url=dav.url, username=dav.user, password=dav.password).principal().make_calendar(name="W")
        )
        calendar.save_event(_weekly("weekly-1", first, [skipped]))
        connect_calendar(dav)

        held = len(expected) - 1
        assert _events() == {"seen": held, "new": held, "matched": held}
        meetings = Activity.objects.filter(kind=ActivityKind.MEETING, deal=deals["Umbrella renewal"])
        assert sorted(meetings.values_list("occurred_at", flat=True)) == [w for w in expected if w != skipped]
        outcomes = sorted(e.outcome() for e in CapturedEvent.objects.all())
        assert outcomes.count("held") == 2 and outcomes.count("booked") == held - 2  # past ones held, future booked
        assert _events() == {"seen": 0, "new": 0, "matched": 0}  # a second run stores nothing

        # Next week's call is called off (a new EXDATE): that occurrence is cancelled, the others stay.
        called_off = expected[4]
        calendar.save_event(_weekly("weekly-1", first, [skipped, called_off]))
        assert _events()["new"] == 0
        assert called_off not in set(meetings.values_list("occurred_at", flat=True))
        assert meetings.count() == held - 1

        # Ten days later the window has moved on: the weeks that came into it are added without the server
        # sending the series again.
        with time_machine.travel(now + timedelta(days=10)):
            later = _events()
        assert later["new"] == len([w for w in weeks if now + timedelta(days=30) <= w < now + timedelta(days=40)])
        assert later["new"] >= 1 and meetings.count() == held - 1 + later["new"]

        calendar.event_by_uid("weekly-1").delete()
        _events()
        assert not meetings.exists()  # a deleted series takes every occurrence's activity with it
