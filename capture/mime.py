"""Raw RFC 5322 bytes → the few facts capture keeps. Plain module (no Django): never raises on bad input.

Malformed headers, unknown charsets and HTML-only bodies degrade to what can be read; attachments are skipped
without being decoded (their size never matters).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

SNIPPET_CHARS = 280
BODY_MAX_CHARS = 20_000
_ID = re.compile(r"<[^<>\s]+>")
_TAGS = re.compile(r"<[^>]*>")
_DROP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAKS = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_QUOTED = re.compile(r"^\s*>.*$", re.MULTILINE)
_ON_WROTE = re.compile(r"\n\s*On .{0,200}wrote:\s*\n.*", re.DOTALL)


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    names: dict[str, str] = field(default_factory=dict)  # address → display name
    sent_at: datetime | None = None
    text: str = ""  # the body as plain text (HTML converted), quoted replies kept

    @property
    def thread_key(self) -> str:
        return (self.references[0] if self.references else self.in_reply_to) or self.message_id

    @property
    def participants(self) -> list[str]:
        seen: dict[str, None] = {}
        for address in [self.from_address, *self.to, *self.cc]:
            if address:
                seen.setdefault(address, None)
        return list(seen)

    def fresh_text(self) -> str:
        """The body without quoted earlier messages: what sentiment and cues are read from."""
        return _QUOTED.sub("", _ON_WROTE.sub("", self.text)).strip()

    def snippet(self) -> str:
        return _SPACES.sub(" ", self.fresh_text().replace("\n", " "))[:SNIPPET_CHARS].strip()


def html_to_text(markup: str) -> str:
    text = _BREAKS.sub("\n", _DROP.sub("", markup))
    text = html.unescape(_TAGS.sub("", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse at all
        value = None
    if value is None:
        raw = msg.get_all(name, failobj=[]) if hasattr(msg, "get_all") else []
        value = raw[0] if raw else ""
    try:
        return str(value).strip()
    except Exception:
        return ""


def _ids(value: str) -> list[str]:
    return _ID.findall(value or "")


def _addresses(msg: Message, *names: str) -> tuple[list[str], dict[str, str]]:
    raw: list[str] = []
    for name in names:
        try:
            raw.extend(str(v) for v in msg.get_all(name, failobj=[]))
        except Exception:  # noqa: S112 - an unparseable address header counts as absent, the rest is read
            continue
    found: list[str] = []
    display: dict[str, str] = {}
    for real_name, address in getaddresses(raw):
        address = address.strip().strip("<>").lower()
        if "@" not in address or " " in address:
            continue
        if address not in found:
            found.append(address)
            if real_name:
                display[address] = real_name.strip()
    return found, display


def _decode_part(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset: read what is ASCII-compatible
        return payload.decode("utf-8", errors="replace")


def _body(msg: Message) -> str:
    plain: list[str] = []
    markup: list[str] = []
    parts = msg.walk() if msg.is_multipart() else [msg]
    for part in parts:
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").lower()
        if "attachment" in disposition or part.get_filename():
            continue  # never decoded, never stored
        ctype = part.get_content_type()
        if ctype == "text/plain":
            plain.append(_decode_part(part))
        elif ctype == "text/html":
            markup.append(_decode_part(part))
    has_plain = any(p.strip() for p in plain)
    text = "\n".join(plain) if has_plain else "\n".join(html_to_text(m) for m in markup)
    return text.replace("\r\n", "\n").replace("\x00", "")[:BODY_MAX_CHARS]


def _date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(raw: bytes) -> ParsedMail:
    """Parse one message; fields that cannot be read come back empty. The Message-ID falls back to a hash of the
    raw bytes' headers (a message without one is still stored once)."""
    try:
        msg: Message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    try:
        text = _body(msg)
    except Exception:  # a broken MIME tree: fall back to the legacy parser's view
        legacy = BytesParser(policy=policy.compat32).parsebytes(raw)
        try:
            text = _body(legacy)
        except Exception:
            text = ""
    message_ids = _ids(_header(msg, "Message-ID"))
    senders, sender_names = _addresses(msg, "From")
    to, to_names = _addresses(msg, "To")
    cc, cc_names = _addresses(msg, "Cc")
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    message_id = message_ids[0] if message_ids else f"<sha256-{hashlib.sha256(head).hexdigest()}@vectoros.capture>"
    subject = _SPACES.sub(" ", _header(msg, "Subject").replace("\n", " ")).strip()
    return ParsedMail(
        message_id=message_id[:500],
        in_reply_to=(_ids(_header(msg, "In-Reply-To")) or [""])[0][:500],
        references=[r[:500] for r in _ids(_header(msg, "References"))],
        subject=subject[:200],
        from_address=senders[0] if senders else "",
        from_name=sender_names.get(senders[0], "") if senders else "",
        to=to,
        cc=cc,
        names={**cc_names, **to_names, **sender_names},
        sent_at=_date(_header(msg, "Date")),
        text=text,
    )
