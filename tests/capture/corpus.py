"""A generated mailbox and calendar between the `acme` workspace's reps and its customers' contacts.

Every message knows what capture should do with it (`expect`): the title of the deal it belongs to, UNASSIGNED
(stored, the rep chooses among several open deals), or one of the reasons it is never stored. Subjects are unique,
so a test finds each message's fate by its subject.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

UNASSIGNED = "unassigned"
NOT_STORED = ("internal", "personal", "blocklisted", "unrelated", "too_old")
REP, WEST, MANAGER = "rep@acme.test", "west@acme.test", "manager@acme.test"

# company name, domain, contacts (known to the CRM), open deal titles
COMPANIES = [
    ("Wayne Enterprises", "wayne.com", ["bruce@wayne.com", "lucius@wayne.com"], ["Wayne platform"]),
    ("Initech", "initech.io", ["peter@initech.io"], ["Initech pilot", "Initech rollout"]),
    ("Umbrella", "umbrella.org", ["alice@umbrella.org"], ["Umbrella renewal"]),
    ("Hooli", "hooli.xyz", [], ["Hooli seats"]),
    ("Stark", "stark.com", ["tony@stark.com"], ["Stark upgrade"]),
]
BLOCKLIST = "lawfirm.com\nspy@wayne.com"


@dataclass
class Mail:
    subject: str
    raw: bytes
    folders: list[tuple[str, str]]  # (mailbox owner, folder)
    expect: str  # a deal title, UNASSIGNED, or a NOT_STORED reason
    message_id: str = ""
    direction: str = ""
    body: str = ""


@dataclass
class Corpus:
    mails: list[Mail] = field(default_factory=list)

    def by_expect(self, *values: str) -> list[Mail]:
        return [m for m in self.mails if m.expect in values]

    def copies(self, owner: str) -> list[tuple[str, bytes]]:
        return [(folder, m.raw) for m in self.mails for who, folder in m.folders if who == owner]


def build_mail(
    *,
    frm: str,
    to: list[str],
    subject: str,
    body: str,
    sent_at: datetime,
    message_id: str,
    cc: list[str] = (),  # type: ignore[assignment]
    in_reply_to: str = "",
    references: list[str] = (),  # type: ignore[assignment]
    html: bool = False,
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, ", ".join(to), subject
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    if html:
        msg.set_content(body, subtype="html")
    else:
        msg.set_content(body)
    return bytes(msg)


def _folders(frm: str, to: list[str], cc: list[str]) -> list[tuple[str, str]]:
    """Where each of the two connected mailboxes (rep's, west's) holds a copy."""
    places = []
    if frm == REP:
        places.append((REP, "Sent"))
    elif REP in to + cc:
        places.append((REP, "INBOX"))
    if frm == WEST:
        places.append((WEST, "Sent"))
    elif WEST in to + cc:
        places.append((WEST, "INBOX"))
    return places


REPLIES_IN = [
    "Thanks, this looks great. Can you send the updated pricing and the quote?",
    "We are evaluating another vendor as well; legal wants to redline the contract.",
    "Not now, I'm afraid: no budget until next quarter. Let's circle back.",
    "Happy with the demo! The team loved it.",
    "Could we move the go-live date? Our timeline slipped.",
]
NOTES_OUT = ["Following up on our call.", "Here is the proposal we discussed.", "Checking in on next steps."]


def generate(now: datetime, seed: int = 15) -> Corpus:
    rng = random.Random(seed)
    corpus = Corpus()
    counter = iter(range(1, 100_000))

    def add(frm: str, to: list[str], subject: str, body: str, sent_at: datetime, expect: str, **kw: object) -> Mail:
        n = next(counter)
        message_id = f"<m{n}.{seed}@{frm.split('@')[1]}>"
        cc = list(kw.pop("cc", []))  # type: ignore[call-overload]
        raw = build_mail(
            frm=frm, to=to, cc=cc, subject=subject, body=body, sent_at=sent_at, message_id=message_id, **kw
        )  # type: ignore[arg-type]
        mail = Mail(
            subject,
            raw,
            _folders(frm, to, cc),
            expect,
            message_id,
            "outbound" if "acme.test" in frm else "inbound",
            body,
        )
        corpus.mails.append(mail)
        return mail

    def thread(contact: str, expect: str, title: str, start: datetime, length: int, cc: list[str] = ()) -> None:  # type: ignore[assignment]
        ids: list[str] = []
        for i in range(length):
            outbound = i % 2 == 0
            frm, to = (REP, [contact]) if outbound else (contact, [REP])
            body = rng.choice(NOTES_OUT) if outbound else rng.choice(REPLIES_IN)
            subject = f"{'Re: ' if i else ''}{title} [{i + 1}]"
            sent_at = start + timedelta(hours=5 * i + rng.randint(0, 3), minutes=rng.randint(0, 59))
            mail = add(
                frm,
                to,
                subject,
                body,
                sent_at,
                expect,
                cc=list(cc),
                in_reply_to=ids[-1] if ids else "",
                references=list(ids),
            )
            ids.append(mail.message_id)

    wayne = ["bruce@wayne.com", "lucius@wayne.com"]
    for t in range(35):
        cc = [WEST] if t < 10 else []  # copies in west's mailbox too: stored once
        thread(
            wayne[t % 2],
            "Wayne platform",
            f"Wayne rollout plan {t}",
            now - timedelta(days=9, hours=-t * 4),
            rng.randint(2, 6),
            cc,
        )
    for t in range(8):
        thread("peter@initech.io", UNASSIGNED, f"Initech question {t}", now - timedelta(days=6, hours=-t), 3)
    for t in range(6):
        thread("alice@umbrella.org", "Umbrella renewal", f"Umbrella terms {t}", now - timedelta(days=45 - t), 3)
    for t in range(4):
        thread("gavin@hooli.xyz", "Hooli seats", f"Hooli sizing {t}", now - timedelta(days=4, hours=-t), 2)
    add(
        REP,
        ["tony@stark.com"],
        "Stark upgrade proposal",
        "Here is the upgrade proposal.",
        now - timedelta(days=30),
        "Stark upgrade",
    )
    # Mail only west received (deleted when west's mailbox is disconnected with --delete-captured).
    for i in range(3):
        add(
            "lucius@wayne.com",
            [WEST],
            f"Wayne question for west {i}",
            "Quick question on seats.",
            now - timedelta(days=2, hours=i),
            "Wayne platform",
        )

    # Never stored
    for i in range(5):  # before the first pass's look-back (CAPTURE_LOOKBACK_DAYS): never even read
        add("bruce@wayne.com", [REP], f"Wayne last year {i}", "Old news.", now - timedelta(days=400 + i), "too_old")
    for i in range(30):
        frm, to = (REP, [WEST]) if i % 2 else (MANAGER, [REP, WEST])
        add(
            frm,
            to,
            f"Internal forecast call {i}",
            "Numbers for the week.",
            now - timedelta(days=3, hours=i),
            "internal",
        )
    for i in range(20):
        add(
            f"friend{i}@gmail.com",
            [REP],
            f"Dinner on Friday {i}",
            "See you there!",
            now - timedelta(days=2, hours=i),
            "personal",
        )
    for i in range(10):
        add(
            "bruce@wayne.com",
            [REP],
            f"Wayne legal review {i}",
            "Our counsel is in copy.",
            now - timedelta(days=1, hours=i),
            "blocklisted",
            cc=["counsel@lawfirm.com"],
        )
    for i in range(20):
        add(
            f"news{i}@randomvendor.net",
            [REP],
            f"Weekly newsletter {i}",
            "Ten tips.",
            now - timedelta(hours=30 + i),
            "unrelated",
        )
    _malformed(corpus, now)
    return corpus


def _malformed(corpus: Corpus, now: datetime) -> None:
    date = format_datetime(now - timedelta(days=1))
    crlf = b"\r\n"

    def raw(subject: str, head: list[str], body: bytes, msgid: bool = True) -> Mail:
        lines = ["From: Bruce <bruce@wayne.com>", f"To: {REP}", f"Subject: {subject}"]
        if msgid:
            lines.append(f"Message-ID: <{subject.replace(' ', '-')}@wayne.com>")
        data = crlf.join(line.encode() for line in lines + head) + crlf + crlf + body
        mail = Mail(
            subject, data, [(REP, "INBOX")], "Wayne platform", f"<{subject.replace(' ', '-')}@wayne.com>", "inbound"
        )
        corpus.mails.append(mail)
        return mail

    raw(
        "Malformed unknown charset",
        [f"Date: {date}", "Content-Type: text/plain; charset=x-no-such-charset", "Content-Transfer-Encoding: 8bit"],
        b"Caf\xe9 pricing r\xe9sum\xe9 \xff\xfe ok",
    )
    raw(
        "Malformed boundary",
        [f"Date: {date}", "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="never-closed"'],
        b"--never-closed\r\nContent-Type: text/plain\r\n\r\nThe part before the missing end",
    )
    raw("Malformed no id no date", ["Content-Type: text/plain"], b"Neither a Message-ID nor a Date.", msgid=False)
    raw(
        "Malformed header soup",
        [
            f"Date: {date}",
            "X-Broken header without colon",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ],
        b"!!not base64!!",
    )
    raw(
        "HTML only from Wayne",
        [f"Date: {date}", "MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8"],
        b"<html><head><style>p{color:red}</style></head><body><p>Ready to sign &amp; start.</p>"
        b"<script>alert(1)</script><div>Regards</div></body></html>",
    )
    blob = base64.encodebytes(random.Random(1).randbytes(6 * 1024 * 1024))
    raw(
        "Big attachment from Wayne",
        [f"Date: {date}", "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"'],
        b"--b1\r\nContent-Type: text/plain\r\n\r\nSpec attached.\r\n--b1\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="spec.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + blob
        + b"\r\n--b1--\r\n",
    )


def event(
    uid: str, summary: str, start: datetime, organizer: str, attendees: list[tuple[str, str]], status: str = "CONFIRMED"
) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//vectoros tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{start.strftime(fmt)}",
        f"DTSTART:{start.strftime(fmt)}",
        f"DTEND:{(start + timedelta(hours=1)).strftime(fmt)}",
        f"SUMMARY:{summary}",
        f"STATUS:{status}",
        f"ORGANIZER:mailto:{organizer}",
    ]
    lines += [f"ATTENDEE;PARTSTAT={state}:mailto:{who}" for who, state in attendees]
    return "\r\n".join([*lines, "END:VEVENT", "END:VCALENDAR", ""])


def meetings(now: datetime) -> list[tuple[str, str]]:
    """(ical text, expected deal title or a NOT_STORED reason / "cancelled")."""
    return [
        (
            event(
                "held-wayne",
                "Wayne architecture review",
                now - timedelta(days=3),
                REP,
                [("bruce@wayne.com", "ACCEPTED"), (REP, "ACCEPTED")],
            ),
            "Wayne platform",
        ),
        (
            event(
                "booked-umbrella",
                "Umbrella renewal call",
                now + timedelta(days=5),
                REP,
                [("alice@umbrella.org", "ACCEPTED")],
            ),
            "Umbrella renewal",
        ),
        (event("internal-1on1", "Pipeline 1:1", now - timedelta(days=1), MANAGER, [(REP, "ACCEPTED")]), "internal"),
        (
            event(
                "cancelled-hooli",
                "Hooli kickoff",
                now - timedelta(days=2),
                REP,
                [("gavin@hooli.xyz", "DECLINED")],
                status="CANCELLED",
            ),
            "cancelled",
        ),
        (
            event("personal-dentist", "Dentist", now + timedelta(days=1), REP, [("drsmile@gmail.com", "ACCEPTED")]),
            "personal",
        ),
    ]
