"""Email and calendar capture end to end (issue 15): a real IMAP server (pymap) and a real CalDAV server
(Radicale) on 127.0.0.1, the commands a user runs, and what lands on the deals.

The Done-when test is the first one: connect_mailbox, connect_calendar, capture_activities --json (every expected
message and meeting on the right deal, none of the excluded), a second run storing nothing, and run_monitors
clearing the stale alert once a captured reply arrives, all through the management commands."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import caldav
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertKind
from capture.models import CapturedEvent, CapturedMessage, CapturePolicy, ContactSuggestion, MailboxConnection
from capture.services import capture_assign, connection_disconnect
from crm.models import Activity, ActivityKind, Company, Deal
from crm.services import company_save, contact_save
from tests.capture import corpus as world
from tests.capture.servers import caldav_server, imap_server
from tests.conftest import Personas
from tests.factories import make_deal

pytestmark = pytest.mark.slow


def _crm(personas: Personas) -> dict[str, Deal]:
    ws, created = personas.workspace, timezone.now() - timedelta(days=60)
    deals: dict[str, Deal] = {}
    for name, domain, contacts, titles in world.COMPANIES:
        company = company_save(workspace=ws, name=name, domain=domain)
        for address in contacts:
            title = "VP Engineering" if address.startswith("bruce@") else ""
            contact_save(
                workspace=ws, last_name=address.split("@")[0].title(), email=address, company=company, title=title
            )
        for title in titles:
            deals[title] = make_deal(ws, title=title, company=company, owner=personas.rep, at=created)
    umbrella = Company.objects.get(workspace=ws, name="Umbrella")
    make_deal(ws, title="Umbrella 2025", company=umbrella, stage="Closed Won", at=created)  # closed: never chosen
    CapturePolicy.objects.create(workspace=ws, blocklist=world.BLOCKLIST)
    return deals


def _capture(*extra: str) -> dict:
    out = StringIO()
    call_command("capture_activities", "--workspace", "acme", "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def servers(tmp_path: Path):
    rep_dir, west_dir, cal_dir = (tmp_path / n for n in ("rep", "west", "cal"))
    for d in (rep_dir, west_dir, cal_dir):
        d.mkdir()
    with (
        imap_server(rep_dir, world.REP) as rep_imap,
        imap_server(west_dir, world.WEST) as west_imap,
        caldav_server(cal_dir, "rep") as dav,
    ):
        yield rep_imap, west_imap, dav


def _load(servers, now):
    rep_imap, west_imap, dav = servers
    mails = world.generate(now)
    rep_imap.append_many(mails.copies(world.REP))
    west_imap.append_many(mails.copies(world.WEST))
    calendar = (
        caldav.DAVClient(url=dav.url, username=dav.user, password=dav.password).principal().make_calendar(name="Work")
    )
    events = world.meetings(now)
    for ical, _ in events:
        calendar.save_event(ical)
    return mails, events


def connect_calendar(dav) -> None:
    """`connect_calendar` for the rep, as a user runs it."""
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


def _connect(servers) -> None:
    rep_imap, west_imap, dav = servers
    out = StringIO()
    call_command(
        "connect_mailbox", "--workspace", "acme", "--member", world.REP, "--imap-url", rep_imap.url(), stdout=out
    )
    assert "INBOX, Sent" in out.getvalue()  # sent and received folders found by themselves
    call_command(
        "connect_mailbox",
        "--workspace",
        "acme",
        "--member",
        world.WEST,
        "--imap-url",
        west_imap.url("INBOX"),
        stdout=out,
    )
    connect_calendar(dav)


def test_capture_attaches_every_expected_message_and_meeting_and_nothing_excluded(personas, servers, db):
    now = timezone.now()
    deals = _crm(personas)
    mails, _ = _load(servers, now)
    _connect(servers)

    first = _capture()
    print("capture pass 1:", first)  # the figures of the report (pytest -s)

    stored = {
        m.subject: m
        for m in CapturedMessage.objects.filter(workspace=personas.workspace).select_related("deal", "activity")
    }
    expected_stored = [m for m in mails.mails if m.expect not in world.NOT_STORED]
    for mail in expected_stored:
        assert mail.subject in stored, mail.subject
        captured = stored[mail.subject]
        want = None if mail.expect == world.UNASSIGNED else mail.expect
        assert (captured.deal.title if captured.deal else None) == want, mail.subject
        assert captured.activity is not None and captured.activity.deal_id == (captured.deal.id if want else None)
        assert captured.activity.kind == ActivityKind.EMAIL
    never = {m.subject for m in mails.by_expect(*world.NOT_STORED)}
    assert not never & set(stored)
    assert not Activity.objects.filter(workspace=personas.workspace, subject__in=never).exists()
    assert len(stored) == len(expected_stored)

    copies = sum(len(m.folders) for m in mails.mails if m.expect != "too_old")
    duplicates = sum(len(m.folders) - 1 for m in expected_stored)  # a message not stored is judged in every copy
    assert first["messages"] == {
        "seen": copies,
        "new": len(expected_stored),
        "matched": len([m for m in expected_stored if m.expect != world.UNASSIGNED]),
        "unmatched": sum(len(m.folders) for m in mails.by_expect("unrelated")) + len(mails.by_expect(world.UNASSIGNED)),
        "duplicates": duplicates,
        "excluded": sum(len(m.folders) for m in mails.by_expect("internal", "personal", "blocklisted")),
    }
    assert duplicates >= 40 and copies >= 300
    assert first["events"] == {"seen": 5, "new": 3, "matched": 3}
    assert set(first) == {"messages", "events", "seconds"}

    # Meetings: the held and the booked one are meeting activities on their deals; the cancelled one has none.
    meetings = {e.ical_uid: e for e in CapturedEvent.objects.filter(workspace=personas.workspace)}
    assert set(meetings) == {"held-wayne", "booked-umbrella", "cancelled-hooli"}
    assert meetings["held-wayne"].activity.deal == deals["Wayne platform"]
    assert meetings["booked-umbrella"].activity.kind == ActivityKind.MEETING
    assert meetings["booked-umbrella"].activity.occurred_at > now
    assert meetings["cancelled-hooli"].activity is None and meetings["cancelled-hooli"].outcome() == "cancelled"

    # MIME: HTML-only read as text without script or style; the attachment is never stored; bodies off by policy.
    html = stored["HTML only from Wayne"]
    assert html.snippet == "Ready to sign & start. Regards"
    big = stored["Big attachment from Wayne"].activity
    assert len(big.body) < 1000
    assert "Caf" in stored["Malformed unknown charset"].snippet
    # Signals: direction, sentiment and cues of inbound replies, response time and thread length.
    replies = [m for m in stored.values() if m.subject.startswith("Re: Wayne") and m.direction == "inbound"]
    assert replies and all(m.sentiment is not None and m.response_seconds is not None for m in replies)
    assert any("pricing" in m.cues for m in replies) and any("not_now" in m.cues for m in replies)
    assert max(m.thread_length for m in stored.values()) >= 3
    # An unknown address at a known company's domain is suggested, not created.
    assert list(ContactSuggestion.objects.filter(workspace=personas.workspace).values_list("email", flat=True)) == [
        "gavin@hooli.xyz"
    ]

    # The deal page's panel: the held meeting with a senior attendee, the replies' signals.
    panel = personas.client_for(personas.rep).get(
        reverse("capture:deal_panel", args=["acme", deals["Wayne platform"].uuid])
    )
    assert b"meeting <em>held</em>" in panel.content and b"Bruce (VP Engineering)" in panel.content

    # A second run stores nothing new.
    activities = Activity.objects.filter(workspace=personas.workspace).count()
    second = _capture()
    assert second["messages"] == dict.fromkeys(first["messages"], 0)
    assert second["events"] == {"seen": 0, "new": 0, "matched": 0}
    assert Activity.objects.filter(workspace=personas.workspace).count() == activities

    # Alerts: the quiet Stark deal is stale; Umbrella (quiet for a month, a meeting booked) is not.
    call_command("run_monitors", "--workspace", "acme", stdout=StringIO())  # as the worker does
    stale = set(
        Alert.objects.for_workspace(personas.workspace)
        .active()
        .filter(kind=AlertKind.STALE)
        .values_list("deal__title", flat=True)
    )
    assert "Stark upgrade" in stale and "Umbrella renewal" not in stale

    # The rep picks the deal for an ambiguous Initech thread; a later reply in it follows on its own.
    initech = stored["Initech question 0 [1]"]
    capture_assign(item=initech, deal=deals["Initech rollout"], actor=personas.rep)
    assert CapturedMessage.objects.filter(thread_key=initech.thread_key, deal=deals["Initech rollout"]).count() == 3
    rep_imap = servers[0]
    last = stored["Re: Initech question 0 [3]"]
    rep_imap.append(
        "INBOX",
        world.build_mail(
            frm="peter@initech.io",
            to=[world.REP],
            subject="Re: Initech question 0 [4]",
            body="Sounds good.",
            sent_at=now,
            message_id="<late-initech@initech.io>",
            in_reply_to=last.message_id,
            references=[initech.message_id, last.message_id],
        ),
    )
    # Tony answers: the Stark deal is no longer stale.
    rep_imap.append(
        "INBOX",
        world.build_mail(
            frm="tony@stark.com",
            to=[world.REP],
            subject="Re: Stark upgrade proposal",
            body="Let's talk pricing.",
            sent_at=now,
            message_id="<tony-reply@stark.com>",
            in_reply_to=stored["Stark upgrade proposal"].message_id,
        ),
    )
    third = _capture()
    assert third["messages"]["new"] == 2 and third["messages"]["matched"] == 2
    assert CapturedMessage.objects.get(message_id="<late-initech@initech.io>").deal == deals["Initech rollout"]
    call_command("run_monitors", "--workspace", "acme", stdout=StringIO())  # as the worker does
    stale_alert = Alert.objects.for_workspace(personas.workspace).get(kind=AlertKind.STALE, deal=deals["Stark upgrade"])
    assert stale_alert.resolved_at is not None


def test_disconnecting_deletes_only_what_no_other_mailbox_saw(personas, servers, db):
    now = timezone.now()
    _crm(personas)
    mails, _ = _load(servers, now)
    _connect(servers)
    _capture()
    # A crash that lost the cursor (or a rebuilt folder, a new UIDVALIDITY): the re-read stores nothing twice.
    MailboxConnection.objects.filter(member=personas.rep).update(cursor={})
    again = _capture()["messages"]
    rep_stored = [m for m in mails.mails if m.expect not in world.NOT_STORED and world.REP in dict(m.folders)]
    assert again["new"] == 0 and again["duplicates"] == len(rep_stored)
    west = MailboxConnection.objects.get(member=personas.other_rep)
    only_west = {m.subject for m in mails.mails if [w for w, _ in m.folders] == [world.WEST]}
    shared = {m.subject for m in mails.mails if len(m.folders) == 2 and m.expect not in world.NOT_STORED}

    assert connection_disconnect(connection=west, delete_captured=True) == len(only_west)
    subjects = set(CapturedMessage.objects.values_list("subject", flat=True))
    assert not only_west & subjects and shared <= subjects
    assert not Activity.objects.filter(subject__in=only_west).exists()
    west.refresh_from_db()
    assert west.status == "disconnected" and west.secret == ""
    # A disconnected mailbox is not read again: new mail there stays out.
    servers[1].append(
        "INBOX",
        world.build_mail(
            frm="bruce@wayne.com",
            to=[world.WEST],
            subject="After disconnect",
            body="hello",
            sent_at=now,
            message_id="<after@wayne.com>",
        ),
    )
    assert _capture()["messages"]["seen"] == 0
    assert not CapturedMessage.objects.filter(subject="After disconnect").exists()
