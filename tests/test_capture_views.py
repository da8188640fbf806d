"""The capture screens as a rep, a viewer, an admin and an outsider; the IMAP form against a real pymap server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from capture import services
from capture.models import CapturedMessage, CapturePolicy, CaptureState, ContactSuggestion, MailboxConnection
from crm.models import Activity, ActivityKind, Contact
from crm.services import activity_log, company_save
from tests.capture.servers import imap_server
from tests.conftest import Personas
from tests.factories import make_deal


def _url(personas: Personas, name: str, *args: object) -> str:
    return reverse(f"capture:{name}", args=[personas.workspace.slug, *args])


@pytest.fixture
def waiting(personas: Personas):
    """An Initech message captured from the rep's mailbox, waiting for the rep to choose one of two deals."""
    ws = personas.workspace
    company = company_save(workspace=ws, name="Initech", domain="initech.io")
    pilot = make_deal(ws, title="Initech pilot", company=company, owner=personas.rep)
    rollout = make_deal(ws, title="Initech rollout", company=company, owner=personas.rep)
    activity = activity_log(
        workspace=ws,
        actor=personas.rep,
        kind=ActivityKind.EMAIL,
        subject="Question",
        company=company,
        direction="inbound",
    )
    message = CapturedMessage.objects.create(
        workspace=ws,
        message_id="<q1@initech.io>",
        thread_key="<q1@initech.io>",
        subject="Question",
        from_address="peter@initech.io",
        sent_at=timezone.now() - timedelta(hours=2),
        direction="inbound",
        member=personas.rep,
        company=company,
        activity=activity,
        state=CaptureState.UNASSIGNED,
        sentiment=-0.4,
        cues=["pricing"],
    )
    ContactSuggestion.objects.create(workspace=ws, company=company, email="milton@initech.io", name="Milton Waddams")
    return message, pilot, rollout


def test_the_rep_attaches_a_waiting_thread_to_the_deal_they_choose(personas, waiting):
    message, _, rollout = waiting
    client = personas.client_for(personas.rep)
    page = client.get(_url(personas, "inbox"))
    assert page.status_code == 200 and b"Question" in page.content and b"Initech rollout" in page.content

    response = client.post(_url(personas, "assign", "message", message.uuid), {"deal": str(rollout.uuid)})

    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deal == rollout and message.state == CaptureState.MATCHED
    assert Activity.objects.get(pk=message.activity_id).deal == rollout
    panel = client.get(reverse("capture:deal_panel", args=[personas.workspace.slug, rollout.uuid]))
    assert b"Question" in panel.content and b"pricing" in panel.content and b"negative" in panel.content


def test_assigning_is_refused_to_viewers_outsiders_and_other_reps(personas, waiting):
    message, _, rollout = waiting
    url = _url(personas, "assign", "message", message.uuid)
    assert personas.client_for(personas.viewer).post(url, {"deal": str(rollout.uuid)}).status_code == 403
    outsider = personas.client_for(personas.outsider)
    assert outsider.post(url, {"deal": str(rollout.uuid)}).status_code == 404
    assert personas.client_for(personas.other_rep).post(url, {"deal": str(rollout.uuid)}).status_code == 404
    assert personas.client_for(personas.rep).get(url).status_code == 405
    message.refresh_from_db()
    assert message.deal is None


def test_accepting_a_suggestion_creates_the_contact_at_its_company(personas, waiting):
    suggestion = ContactSuggestion.objects.get(email="milton@initech.io")
    client = personas.client_for(personas.rep)
    assert client.post(_url(personas, "suggestion", suggestion.uuid, "accept")).status_code == 302
    contact = Contact.objects.get(workspace=personas.workspace, email="milton@initech.io")
    assert (contact.first_name, contact.last_name, contact.company.name) == ("Milton", "Waddams", "Initech")
    assert not ContactSuggestion.objects.filter(pk=suggestion.pk).exists()


def test_policy_is_for_admins(personas):
    url = _url(personas, "policy")
    assert personas.client_for(personas.rep).get(url).status_code == 403
    owner = personas.client_for(personas.owner)
    response = owner.post(url, {"store_bodies": "on", "blocklist": "lawfirm.com", "personal_domains": "gmail.com"})
    assert response.status_code == 302
    policy = CapturePolicy.objects.get(workspace=personas.workspace)
    assert policy.store_bodies and policy.blocklist == "lawfirm.com"


def test_connecting_a_mailbox_from_the_settings_page(personas, tmp_path: Path):
    client = personas.client_for(personas.rep)
    url = _url(personas, "connections")
    assert client.get(url).status_code == 200
    with imap_server(tmp_path, "rep@acme.test", "pw-1") as server:
        form = {"action": "imap", "imap-host": "127.0.0.1", "imap-port": server.port, "imap-username": server.user}
        wrong = client.post(url, {**form, "imap-password": "nope"})
        assert wrong.status_code == 400 and b"Cannot log in" in wrong.content
        assert not MailboxConnection.objects.exists()

        assert client.post(url, {**form, "imap-password": "pw-1"}).status_code == 302

    connection = MailboxConnection.objects.get(member=personas.rep)
    assert connection.secret == "pw-1" and connection.settings["folders"] == ["INBOX"]
    with db.cursor() as cursor:
        cursor.execute("SELECT secret FROM capture_mailboxconnection WHERE id = %s", [connection.pk])
        assert "pw-1" not in cursor.fetchone()[0]  # encrypted at rest

    # Someone else cannot disconnect it; the rep can.
    disconnect = _url(personas, "disconnect", "mailbox", connection.uuid)
    assert personas.client_for(personas.other_rep).post(disconnect).status_code == 404
    assert personas.client_for(personas.outsider).post(disconnect).status_code == 404
    assert client.post(disconnect, {"delete_captured": "on"}).status_code == 302
    connection.refresh_from_db()
    assert connection.status == "disconnected"


def test_viewer_cannot_connect(personas):
    response = personas.client_for(personas.viewer).post(_url(personas, "connections"), {"action": "imap"})
    assert response.status_code == 403


def test_a_mailbox_that_stops_answering_shows_its_error_and_the_pass_goes_on(personas, tmp_path: Path):
    client = personas.client_for(personas.rep)
    with imap_server(tmp_path, "rep@acme.test", "pw-1") as server:
        services.mailbox_connect(workspace=personas.workspace, member=personas.rep, imap_url=server.url())
    # The server is gone now.
    result = services.capture_run(workspace=personas.workspace)
    assert result["messages"]["seen"] == 0
    connection = MailboxConnection.objects.get(member=personas.rep)
    assert connection.status == "error" and connection.last_error
    page = client.get(_url(personas, "connections"))
    assert b"Error" in page.content and connection.last_error[:20].encode() in page.content
