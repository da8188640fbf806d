"""In-app OAuth for Gmail and Microsoft 365 from the member's settings page: the authorization-code web flow with
state and PKCE against local authorization and token endpoints (tests/capture/fake_oauth.py), tokens stored
encrypted, a refresh when the API answers 401, and a refused refresh shown as a broken connection."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from capture import oauth
from capture.models import CalendarConnection, CapturedMessage, MailboxConnection
from tests.capture import corpus as world
from tests.capture.fake_gmail import fake_gmail
from tests.capture.fake_graph import fake_graph
from tests.test_capture import _crm

pytestmark = pytest.mark.slow
GOOGLE_ID, MS_ID = "vectoros-test.apps.googleusercontent.com", "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def google(settings):
    with fake_gmail(world.REP, "unused", GOOGLE_ID) as box:
        settings.GMAIL_API_ENDPOINT, settings.GOOGLE_CALENDAR_API_ENDPOINT = box.url, box.url + "calendar/v3/"
        settings.GOOGLE_AUTHORIZE_URL, settings.GOOGLE_TOKEN_URI = box.url + "authorize", box.url + "token"
        settings.GOOGLE_OAUTH_CLIENT_ID, settings.GOOGLE_OAUTH_CLIENT_SECRET = GOOGLE_ID, "test-secret"
        yield box


@pytest.fixture
def microsoft(settings):
    with fake_graph(world.REP, "unused", MS_ID) as box:
        settings.MS_GRAPH_API_BASE = box.url + "v1.0"
        settings.MS_AUTHORIZE_URL, settings.MS_TOKEN_URI = box.url + "authorize", box.url + "token"
        settings.MS_GRAPH_CLIENT_ID, settings.MS_GRAPH_CLIENT_SECRET = MS_ID, "test-secret"
        yield box


def _capture() -> dict:
    out = StringIO()
    call_command("capture_activities", "--workspace", "acme", "--json", stdout=out)
    return json.loads(out.getvalue())


def _consent(client, provider: str, target: str) -> tuple[str, dict]:
    """Press the button on the settings page, let the provider's consent page answer: (callback path, its query)."""
    start = client.post(reverse("capture:oauth_start", args=["acme", provider, target]))
    assert start.status_code == 302
    asked = {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}
    back = httpx.get(start["Location"]).headers["location"]  # the provider redirects to our one callback URL
    assert back.startswith("http://") and urlsplit(back).path == reverse("capture_oauth_callback")
    return f"{urlsplit(back).path}?{urlsplit(back).query}", asked


def _reply(message_id: str, body: str = "Yes, pricing looks fine.") -> bytes:
    return world.build_mail(
        frm="tony@stark.com",
        to=[world.REP],
        subject="Re: Stark upgrade proposal",
        body=body,
        sent_at=timezone.now(),
        message_id=message_id,
    )


def test_gmail_connected_from_the_settings_page_then_refreshed_on_401_then_broken_when_revoked(personas, google, db):
    deals = _crm(personas)
    client = personas.client_for(personas.rep)
    page = client.get(reverse("capture:connections", args=["acme"]))
    assert b"Connect Gmail" in page.content and b"Connect Microsoft 365 mail" not in page.content  # not configured

    callback, asked = _consent(client, "google", "mail")
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["access_type"] == "offline" and "gmail.readonly" in asked["scope"]
    assert asked["redirect_uri"].endswith("/capture/oauth/callback/")
    done = client.get(callback, follow=True)
    assert b"Google mailbox rep@acme.test connected" in done.content
    mailbox = MailboxConnection.objects.get(member=personas.rep, kind="gmail")
    assert oauth.load(mailbox.secret).refresh_token == google.auth.refresh_token
    with db_connection.cursor() as cursor:  # encrypted at rest: neither token readable in the table
        cursor.execute("SELECT secret FROM capture_mailboxconnection WHERE id = %s", [mailbox.pk])
        stored = cursor.fetchone()[0]
    assert google.auth.refresh_token not in stored and "at-" not in stored
    assert client.get(callback).status_code == 400  # the state was good once

    google.add(_reply("<o-1@stark.com>"), ["INBOX"])
    refreshes = google.auth.refreshes
    assert _capture()["messages"]["new"] == 1
    assert google.auth.refreshes == refreshes  # the access token from the code exchange was still good: reused
    assert CapturedMessage.objects.get(message_id="<o-1@stark.com>").deal == deals["Stark upgrade"]

    google.auth.expire_access_tokens()  # the API now answers 401 to it: refreshed, and the new one stored
    google.add(_reply("<o-2@stark.com>"), ["INBOX"])
    assert _capture()["messages"]["new"] == 1 and google.auth.refreshes == refreshes + 1
    mailbox.refresh_from_db()
    assert google.auth.authorized(f"Bearer {oauth.load(mailbox.secret).access_token}")

    google.auth.revoke()  # the user withdrew access: the refresh is refused
    google.add(_reply("<o-3@stark.com>"), ["INBOX"])
    assert _capture()["messages"]["new"] == 0
    mailbox.refresh_from_db()
    assert mailbox.status == "broken" and "refused to renew" in mailbox.last_error
    page = client.get(reverse("capture:connections", args=["acme"]))
    assert b"Needs reconnecting" in page.content
    asked_before = google.auth.refreshes
    _capture()  # a broken connection is not tried again until the member reconnects
    assert google.auth.refreshes == asked_before

    callback, _ = _consent(client, "google", "mail")  # reconnecting replaces it
    client.get(callback)
    live = MailboxConnection.objects.filter(member=personas.rep).exclude(status="disconnected")
    assert [c.status for c in live] == ["active"]
    mailbox.refresh_from_db()
    assert mailbox.status == "disconnected"


def test_oauth_callback_refuses_a_foreign_state_and_a_wrong_pkce_verifier(personas, google, db):
    client = personas.client_for(personas.rep)
    callback, _ = _consent(client, "google", "mail")
    forged = callback.split("state=")[0] + "state=forged"
    assert client.get(forged).status_code == 400
    assert not MailboxConnection.objects.exists()

    callback, _ = _consent(client, "google", "mail")
    session = client.session
    pending = session["capture_oauth"]
    pending["verifier"] = "x" * 64  # not the verifier the challenge was made from
    session["capture_oauth"] = pending
    session.save()
    page = client.get(callback, follow=True)
    assert b"Google refused the sign-in: PKCE verification failed" in page.content
    assert not MailboxConnection.objects.exists()
    # A viewer cannot start it; an unknown provider is a 404.
    assert (
        personas.client_for(personas.viewer)
        .post(reverse("capture:oauth_start", args=["acme", "google", "mail"]))
        .status_code
        == 403
    )
    assert client.post(reverse("capture:oauth_start", args=["acme", "yahoo", "mail"])).status_code == 404


def test_microsoft_calendar_connected_in_app_and_read(personas, microsoft, db):
    deals = _crm(personas)
    microsoft.put_event(
        {
            "id": "AAMkEv1",
            "iCalUId": "ms-held-wayne",
            "subject": "Wayne architecture review",
            "start": {
                "dateTime": (timezone.now() - timezone.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                "timeZone": "UTC",
            },
            "end": {
                "dateTime": (timezone.now() - timezone.timedelta(days=2, hours=-1)).strftime(
                    "%Y-%m-%dT%H:%M:%S.0000000"
                ),
                "timeZone": "UTC",
            },
            "isCancelled": False,
            "organizer": {"emailAddress": {"address": world.REP}},
            "attendees": [{"emailAddress": {"address": "bruce@wayne.com"}, "status": {"response": "accepted"}}],
        }
    )
    client = personas.client_for(personas.rep)
    callback, asked = _consent(client, "microsoft", "calendar")
    assert "Calendars.Read" in asked["scope"] and "offline_access" in asked["scope"]
    done = client.get(callback, follow=True)
    assert b"Microsoft 365 calendar rep@acme.test connected" in done.content
    calendar = CalendarConnection.objects.get(member=personas.rep, kind="graph")
    assert oauth.load(calendar.secret).refresh_token == microsoft.auth.refresh_token  # the rotated one, kept
    first = _capture()["events"]
    assert first == {"seen": 1, "new": 1, "matched": 1}
    assert calendar.refresh_from_db() is None and calendar.status == "active"
    assert deals["Wayne platform"].activities.filter(kind="meeting").count() == 1
