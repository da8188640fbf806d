"""The plain cores of capture (no database, no server): MIME parsing, the policy screen, URLs, signals, schedule."""

from __future__ import annotations

import pytest

from capture import imap, mime
from capture.rules import Policy
from capture.selectors import seniority
from capture.signals import read_signals
from tenancy.jobs import queue_for
from tenancy.management.commands.sync_schedules import declared_schedules

POLICY = Policy.build(
    member_addresses=["rep@acme.test", "ceo@gmail.com"],
    personal_domains="gmail.com\nyahoo.com",
    blocklist="law.com\nx@y.com",
)


@pytest.mark.parametrize(
    ("participants", "reason", "kept"),
    [
        (["rep@acme.test", "ann@customer.com"], None, ["ann@customer.com"]),
        (["rep@acme.test", "other@acme.test"], "internal", []),  # the members' domain, even for a non-member
        (["rep@acme.test", "ceo@gmail.com"], "internal", []),  # a member's personal address is still ours
        (["rep@acme.test", "pal@gmail.com"], "personal", []),
        (["rep@acme.test", "pal@gmail.com", "ann@customer.com"], None, ["ann@customer.com"]),  # never stored
        (["rep@acme.test", "ann@customer.com", "counsel@law.com"], "blocklisted", []),
        (["rep@acme.test", "x@y.com"], "blocklisted", []),
    ],
)
def test_policy_screen(participants, reason, kept):
    assert POLICY.screen(participants) == (reason, kept)
    assert "gmail.com" not in POLICY.internal_domains


def test_html_only_mail_reads_as_text_and_attachments_are_skipped():
    raw = (
        b"From: Ann <ann@customer.com>\r\nTo: rep@acme.test\r\nSubject: =?utf-8?q?Pr=C3=A9vu?=\r\n"
        b"Message-ID: <a1@customer.com>\r\nIn-Reply-To: <r0@acme.test>\r\n"
        b"References: <r-1@acme.test> <r0@acme.test>\r\n"
        b'Date: Tue, 01 Dec 2026 10:00:00 +0100\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello&nbsp;there</p><style>x{}</style>"
        b"<div>Second</div>\r\n--b\r\nContent-Type: text/plain\r\n"
        b"Content-Disposition: attachment; filename=a.txt\r\n\r\n"
        b"SECRET ATTACHMENT\r\n--b--\r\n"
    )
    parsed = mime.parse(raw)
    assert parsed.subject == "Prévu" and parsed.from_address == "ann@customer.com" and parsed.names
    assert parsed.thread_key == "<r-1@acme.test>" and parsed.in_reply_to == "<r0@acme.test>"
    assert parsed.text == "Hello\xa0there\nSecond" and "SECRET" not in parsed.text
    assert parsed.sent_at is not None and parsed.sent_at.utcoffset().total_seconds() == 3600


def test_garbage_never_raises_and_still_gets_an_id():
    for raw in (b"", b"\xff\xfe\x00garbage", b"From: <<<>>>\r\nSubject: x\r\n\r\n\x00"):
        parsed = mime.parse(raw)
        assert parsed.message_id.startswith("<sha256-") and parsed.participants == []
    assert mime.parse(b"Subject: a\r\n\r\nx").message_id == mime.parse(b"Subject: a\r\n\r\ny").message_id


def test_quoted_replies_are_not_read_for_signals():
    text = "Sounds good, thanks!\n\nOn Mon, Ann wrote:\n> we have no budget, not now\n"
    assert mime.parse(b"Subject: s\r\n\r\n" + text.encode()).fresh_text() == "Sounds good, thanks!"
    assert read_signals("Re: x", "Sounds good, thanks!").cues == []
    negative = read_signals("Re: proposal", "Not now: no budget, and legal hates the contract.")
    assert negative.label == "negative" and {"not_now", "legal"} <= set(negative.cues)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://u:p@h/", "imap:// or imaps://"),
        ("imaps://h:993/", "needs a user"),
        ("imaps://u:p@h:port/", "port"),
    ],
)
def test_imap_url_errors_say_what_is_wrong(url, error):
    with pytest.raises(imap.ImapUrlError, match=error):
        imap.parse_imap_url(url)


def test_imap_url():
    settings, password = imap.parse_imap_url("imaps://me%40x.com:p%2Fw@mail.x.com/INBOX,Sent%20Items")
    assert password == "p/w"
    assert settings == {
        "host": "mail.x.com",
        "port": 993,
        "tls": True,
        "username": "me@x.com",
        "folders": ["INBOX", "Sent Items"],
    }


def test_capture_runs_every_few_minutes_on_the_bulk_queue(settings):
    schedule = next(s for s in declared_schedules() if s["name"] == "capture.capture_all")
    assert schedule["minutes"] == 5
    assert queue_for("capture.tasks.capture_workspace") == settings.Q_BULK_CLUSTER


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("Chief Revenue Officer", "executive"),
        ("SVP Sales", "vp"),
        ("Head of IT", "vp"),
        ("Director, Procurement", "director"),
        ("Engineering Manager", "manager"),
        ("Analyst", ""),
        ("", ""),
    ],
)
def test_seniority_of_a_title(title, level):
    assert seniority(title) == level


def test_occurrences_of_a_recurring_google_meeting_are_meetings_of_their_own() -> None:
    from capture.calendar_apis import google_event

    def instance(day: str) -> dict:
        return {
            "id": f"abc_{day.replace('-', '')}",
            "iCalUID": "abc@google.com",  # every instance of a series shares it
            "recurringEventId": "abc",
            "originalStartTime": {"dateTime": f"{day}T15:00:00Z"},
            "start": {"dateTime": f"{day}T15:00:00Z"},
            "attendees": [{"email": "alice@umbrella.org", "responseStatus": "accepted"}],
        }

    first, second = google_event(instance("2026-11-02")), google_event(instance("2026-11-09"))
    assert first and second and first.uid != second.uid
    assert first.uid.startswith("abc@google.com#")
    single = google_event({"id": "x", "iCalUID": "x@google.com", "start": {"dateTime": "2026-11-02T15:00:00Z"}})
    assert single and single.uid == "x@google.com"  # a one-off meeting keeps its UID
