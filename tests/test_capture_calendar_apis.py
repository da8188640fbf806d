"""Meetings through the Google Calendar API (events.list with a sync token) and Microsoft Graph (calendarView/delta),
each against a local server speaking the documented protocol, through the real google-api-python-client and
msgraph-sdk: attendees' meetings become activities (future ones too), held / no-show / cancelled, increments only."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from alerts.models import Alert, AlertKind
from alerts.services import monitors_run
from capture.models import CalendarConnection, CapturedEvent
from crm.models import Activity, ActivityKind
from tests.capture import corpus as world
from tests.capture.fake_gmail import fake_gmail
from tests.capture.fake_graph import fake_graph
from tests.test_capture import _crm

pytestmark = pytest.mark.slow
CLIENT_ID = "vectoros-test"


def _capture() -> dict:
    out = StringIO()
    call_command("capture_activities", "--workspace", "acme", "--json", stdout=out)
    return json.loads(out.getvalue())


def _connect(flag: str, token: str) -> str:
    out = StringIO()
    call_command("connect_calendar", "--workspace", "acme", "--member", world.REP, flag, token, stdout=out)
    return out.getvalue()


def _google(uid: str, summary: str, start, attendees: list[tuple[str, str]], **extra) -> dict:
    return {
        "id": f"ev-{uid}",
        "iCalUID": f"{uid}@google.com",
        "summary": summary,
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        "organizer": {"email": world.REP, "self": True},
        "attendees": [{"email": world.REP, "responseStatus": "accepted"}]
        + [{"email": a, "responseStatus": s} for a, s in attendees],
        **extra,
    }


@pytest.fixture
def google(settings):
    with fake_gmail(world.REP, "cal-refresh", CLIENT_ID) as box:
        settings.GOOGLE_CALENDAR_API_ENDPOINT = box.url + "calendar/v3/"
        settings.GOOGLE_TOKEN_URI = box.url + "token"
        settings.GOOGLE_OAUTH_CLIENT_ID, settings.GOOGLE_OAUTH_CLIENT_SECRET = CLIENT_ID, "test-secret"
        yield box


def test_google_calendar_meetings_by_sync_token(personas, google, db):
    now = timezone.now()
    deals = _crm(personas)
    google.put_event(_google("held", "Wayne design review", now - timedelta(days=3), [("bruce@wayne.com", "accepted")]))
    google.put_event(_google("noshow", "Stark demo", now - timedelta(days=1), [("tony@stark.com", "declined")]))
    google.put_event(
        _google("booked", "Umbrella QBR", now + timedelta(days=6), [("alice@umbrella.org", "needsAction")])
    )
    google.put_event(_google("internal", "Pipeline review", now - timedelta(days=2), [(world.WEST, "accepted")]))
    google.put_event(_google("personal", "Dentist", now + timedelta(days=2), [("me@gmail.com", "accepted")]))
    google.put_event(
        _google("off", "Hooli kickoff", now + timedelta(days=9), [("gavin@hooli.xyz", "accepted")], status="cancelled")
    )
    for i in range(25):  # more than a page of an unrelated calendar
        google.put_event(_google(f"other-{i}", "Gym", now - timedelta(days=i), []))

    with pytest.raises(CommandError, match="Cannot read the Google calendar"):
        _connect("--google-refresh-token", "wrong")
    assert "Connected Google Calendar calendar rep@acme.test" in _connect("--google-refresh-token", "cal-refresh")

    first = _capture()["events"]
    # A full listing leaves cancelled events out (as Google's does without showDeleted); the internal, personal and
    # unrelated ones are read and not stored.
    assert first == {"seen": 30, "new": 3, "matched": 3}
    events = {e.ical_uid.split("@")[0]: e for e in CapturedEvent.objects.select_related("deal", "activity")}
    assert set(events) == {"held", "noshow", "booked"}
    assert events["held"].deal == deals["Wayne platform"] and events["held"].outcome() == "held"
    assert events["noshow"].outcome() == "no_show" and events["noshow"].activity.kind == ActivityKind.MEETING
    assert events["booked"].outcome() == "booked" and events["booked"].activity.occurred_at > now

    assert _capture()["events"] == {"seen": 0, "new": 0, "matched": 0}  # by sync token: nothing changed

    # The booked meeting moves and Tony accepts a new one; the held one is deleted from the calendar.
    google.put_event(_google("booked", "Umbrella QBR", now + timedelta(days=8), [("alice@umbrella.org", "accepted")]))
    google.put_event(_google("stark-2", "Stark pricing", now + timedelta(days=3), [("tony@stark.com", "accepted")]))
    google.delete_event("ev-held")
    second = _capture()["events"]
    assert second == {"seen": 3, "new": 1, "matched": 1}
    events["booked"].refresh_from_db()
    assert events["booked"].activity.occurred_at.date() == (now + timedelta(days=8)).date()
    assert events["booked"].attendees == [{"email": "alice@umbrella.org", "status": "ACCEPTED"}]
    events["held"].refresh_from_db()
    assert events["held"].outcome() == "cancelled" and events["held"].activity is None
    assert not Activity.objects.filter(subject="Wayne design review").exists()

    google.forget_sync_tokens()  # 410 Gone: a full listing again, nothing stored twice
    assert _capture()["events"]["new"] == 0
    connection = CalendarConnection.objects.get(member=personas.rep)
    assert connection.status == "active" and connection.cursor["primary"]["sync_token"] == f"sync-{google.event_seq}"

    # A meeting booked ahead keeps the quiet Stark deal from going stale.
    monitors_run(workspace=personas.workspace)
    stale = set(
        Alert.objects.for_workspace(personas.workspace)
        .active()
        .filter(kind=AlertKind.STALE)
        .values_list("deal__title", flat=True)
    )
    assert "Stark upgrade" not in stale and "Initech pilot" in stale


def _graph(uid: str, subject: str, start, attendees: list[tuple[str, str]], cancelled: bool = False) -> dict:
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    return {
        "id": f"AAMk-{uid}",
        "iCalUId": f"040000008200E0-{uid}",
        "subject": subject,
        "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=30)).strftime(fmt), "timeZone": "UTC"},
        "isCancelled": cancelled,
        "organizer": {"emailAddress": {"address": world.REP}},
        "attendees": [
            {"emailAddress": {"address": a}, "status": {"response": s}, "type": "required"} for a, s in attendees
        ],
    }


def test_microsoft_365_meetings_by_calendar_view_delta(personas, settings, db):
    now = timezone.now()
    deals = _crm(personas)
    with fake_graph(world.REP, "ms-refresh", CLIENT_ID) as box:
        settings.MS_GRAPH_API_BASE, settings.MS_TOKEN_URI = box.url + "v1.0", box.url + "token"
        settings.MS_GRAPH_CLIENT_ID, settings.MS_GRAPH_CLIENT_SECRET = CLIENT_ID, "test-secret"
        box.put_event(_graph("held", "Wayne sync", now - timedelta(days=4), [("lucius@wayne.com", "accepted")]))
        box.put_event(_graph("noshow", "Stark call", now - timedelta(days=2), [("tony@stark.com", "declined")]))
        box.put_event(_graph("ahead", "Umbrella plan", now + timedelta(days=5), [("alice@umbrella.org", "none")]))
        box.put_event(_graph("off", "Wayne dinner", now + timedelta(days=1), [("bruce@wayne.com", "accepted")], True))
        box.put_event(_graph("ancient", "Wayne 2019", now - timedelta(days=900), [("bruce@wayne.com", "accepted")]))
        for i in range(45):  # more than a page (40)
            box.put_event(_graph(f"solo-{i}", "Focus time", now + timedelta(hours=i), []))

        assert "Connected Microsoft 365 calendar rep@acme.test" in _connect("--graph-refresh-token", "ms-refresh")
        first = _capture()["events"]
        assert first == {"seen": 49, "new": 4, "matched": 4}  # the 900-day-old one is outside the calendar view
        events = {e.ical_uid.split("-")[-1]: e for e in CapturedEvent.objects.select_related("deal")}
        assert {k: e.outcome() for k, e in events.items()} == {
            "held": "held",
            "noshow": "no_show",
            "ahead": "booked",
            "off": "cancelled",
        }
        assert events["held"].deal == deals["Wayne platform"] and events["held"].activity.kind == ActivityKind.MEETING

        assert _capture()["events"] == {"seen": 0, "new": 0, "matched": 0}  # by the delta link
        box.delete_event("AAMk-ahead")
        box.put_event(_graph("new", "Stark follow-up", now + timedelta(days=2), [("tony@stark.com", "accepted")]))
        again = _capture()["events"]
        assert again == {"seen": 2, "new": 1, "matched": 1}
        events["ahead"].refresh_from_db()
        assert events["ahead"].activity is None and events["ahead"].outcome() == "cancelled"
        box.auth.revoke()
        _capture()
        assert CalendarConnection.objects.get(member=personas.rep).status == "broken"
