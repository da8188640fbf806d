"""Gmail API capture against a local server speaking the documented Gmail REST protocol and OAuth token endpoint,
through the real google-api-python-client and google-auth (tests/capture/fake_gmail.py)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from capture.models import CapturedMessage, MailboxConnection
from tests.capture import corpus as world
from tests.capture.fake_gmail import fake_gmail
from tests.test_capture import _crm

CLIENT_ID = "vectoros-test.apps.googleusercontent.com"


@pytest.fixture
def gmail(settings):
    with fake_gmail(world.REP, "refresh-1", CLIENT_ID) as box:
        settings.GMAIL_API_ENDPOINT = box.url
        settings.GOOGLE_TOKEN_URI = box.url + "token"
        settings.GOOGLE_OAUTH_CLIENT_ID = CLIENT_ID
        settings.GOOGLE_OAUTH_CLIENT_SECRET = "test-secret"
        yield box


def _capture() -> dict:
    out = StringIO()
    call_command("capture_activities", "--workspace", "acme", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_gmail_capture_first_pass_then_history_then_a_lost_history(personas, gmail, db):
    deals = _crm(personas)
    mails = world.generate(timezone.now())
    rep_mails = [m for m in mails.mails if world.REP in dict(m.folders)]
    for mail in rep_mails:
        gmail.add(mail.raw, ["SENT"] if dict(mail.folders)[world.REP] == "Sent" else ["INBOX", "UNREAD"])
    gmail.add(rep_mails[0].raw.replace(b"Subject: ", b"Subject: spam "), ["SPAM"])  # never read

    with pytest.raises(CommandError, match="Cannot read the Gmail mailbox"):
        call_command("connect_mailbox", "--workspace", "acme", "--member", world.REP, "--gmail-refresh-token", "bad")
    out = StringIO()
    call_command(
        "connect_mailbox",
        "--workspace",
        "acme",
        "--member",
        world.REP,
        "--gmail-refresh-token",
        "refresh-1",
        stdout=out,
    )
    assert "Connected rep@acme.test (Gmail API)" in out.getvalue()

    first = _capture()["messages"]
    stored = {m.subject: m for m in CapturedMessage.objects.select_related("deal")}
    expected = [m for m in rep_mails if m.expect not in world.NOT_STORED]
    assert set(stored) == {m.subject for m in expected}
    for mail in expected:
        deal = stored[mail.subject].deal
        assert (deal.title if deal else world.UNASSIGNED) == mail.expect
    excluded = [m for m in rep_mails if m.expect in ("internal", "personal", "blocklisted")]
    assert first["new"] == len(expected) and first["excluded"] == len(excluded)
    assert first["seen"] == len([m for m in rep_mails if m.expect != "too_old"])

    assert _capture()["messages"] == dict.fromkeys(first, 0)  # by history: nothing new

    reply = world.build_mail(
        frm="tony@stark.com",
        to=[world.REP],
        subject="Re: Stark upgrade proposal",
        body="Yes, let's go.",
        sent_at=timezone.now(),
        message_id="<g-reply@stark.com>",
    )
    gmail.add(reply, ["INBOX"])
    assert _capture()["messages"]["new"] == 1
    assert CapturedMessage.objects.get(message_id="<g-reply@stark.com>").deal == deals["Stark upgrade"]

    gmail.forget_history()  # the stored historyId is too old now: a full listing, nothing stored twice
    gmail.add(reply.replace(b"g-reply@", b"g-reply-2@"), ["INBOX"])
    again = _capture()["messages"]
    assert again["new"] == 1 and again["duplicates"] == len(expected) + 1
    assert MailboxConnection.objects.get(member=personas.rep).cursor["gmail"]["history_id"] == str(gmail.history_id)
