"""Microsoft 365 capture against a local server speaking the documented Graph v1.0 delta and MIME endpoints and the
v2.0 token endpoint, through the real msgraph-sdk (tests/capture/fake_graph.py)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from capture import oauth
from capture.models import CapturedMessage, MailboxConnection
from tests.capture import corpus as world
from tests.capture.fake_graph import fake_graph
from tests.test_capture import _crm

CLIENT_ID = "00000000-0000-0000-0000-00000000beef"


@pytest.fixture
def graph(settings):
    with fake_graph(world.REP, "refresh-1", CLIENT_ID) as box:
        settings.MS_GRAPH_API_BASE = box.url + "v1.0"
        settings.MS_TOKEN_URI = box.url + "token"
        settings.MS_GRAPH_CLIENT_ID = CLIENT_ID
        settings.MS_GRAPH_CLIENT_SECRET = "test-secret"
        yield box


def _capture() -> dict:
    out = StringIO()
    call_command("capture_activities", "--workspace", "acme", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_graph_capture_by_delta_queries(personas, graph, db):
    deals = _crm(personas)
    mails = world.generate(timezone.now())
    rep_mails = [m for m in mails.mails if world.REP in dict(m.folders)]
    for mail in rep_mails:
        graph.add(mail.raw, "sentitems" if dict(mail.folders)[world.REP] == "Sent" else "inbox")

    with pytest.raises(CommandError, match="Cannot read the Microsoft 365 mailbox"):
        call_command("connect_mailbox", "--workspace", "acme", "--member", world.REP, "--graph-refresh-token", "bad")
    out = StringIO()
    call_command(
        "connect_mailbox",
        "--workspace",
        "acme",
        "--member",
        world.REP,
        "--graph-refresh-token",
        "refresh-1",
        stdout=out,
    )
    assert "Connected rep@acme.test (Microsoft Graph)" in out.getvalue()
    connection = MailboxConnection.objects.get(member=personas.rep)
    stored_tokens = oauth.load(connection.secret)
    # Microsoft rotated the refresh token on first use: the new one is kept (with the live access token).
    assert stored_tokens.refresh_token == graph.auth.refresh_token != "refresh-1" and stored_tokens.live

    first = _capture()["messages"]
    stored = {m.subject: m for m in CapturedMessage.objects.select_related("deal")}
    expected = [m for m in rep_mails if m.expect not in world.NOT_STORED]
    assert set(stored) == {m.subject for m in expected}
    for mail in expected:
        deal = stored[mail.subject].deal
        assert (deal.title if deal else world.UNASSIGNED) == mail.expect
    assert first["new"] == len(expected)
    assert first["seen"] == len([m for m in rep_mails if m.expect != "too_old"])  # older than the look-back: dropped
    connection.refresh_from_db()
    assert oauth.load(connection.secret).refresh_token == graph.auth.refresh_token
    assert set(connection.cursor) == {"inbox", "sentitems"}

    assert _capture()["messages"] == dict.fromkeys(first, 0)  # the delta links: nothing new

    reply = world.build_mail(
        frm="tony@stark.com",
        to=[world.REP],
        subject="Re: Stark upgrade proposal",
        body="Send the contract.",
        sent_at=timezone.now(),
        message_id="<m-reply@stark.com>",
    )
    graph.add(reply, "inbox")
    again = _capture()["messages"]
    assert again["seen"] == 1 and again["new"] == 1
    captured = CapturedMessage.objects.get(message_id="<m-reply@stark.com>")
    assert captured.deal == deals["Stark upgrade"] and "legal" in captured.cues
