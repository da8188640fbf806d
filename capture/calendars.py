"""Reading meetings from a CalDAV server (the `caldav` client) and parsing them (`icalendar`).

Plain module (no Django). Incremental by the collection's WebDAV sync token (RFC 6578); a server without
sync-collection falls back, inside `caldav`, to a full listing, and the caller skips events whose ETag it has.
The cursor is `{calendar_url: {"sync_token": str}}`. A recurring event is one object on the server; it is expanded
into its occurrences (`read_meetings`, recurring-ical-events), each a meeting of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast

import recurring_ical_events
from caldav.collection import Calendar as DavCalendar
from caldav.collection import SynchronizableCalendarObjectCollection
from caldav.davclient import DAVClient
from caldav.lib.error import DAVError
from icalendar import Calendar


@dataclass(frozen=True)
class FetchedEvent:
    href: str
    etag: str
    data: str  # empty for a deleted event (and for an API event, which comes parsed)
    deleted: bool = False
    parsed: ParsedEvent | None = None  # an event read from the Google or Microsoft calendar API


@dataclass
class ParsedEvent:
    uid: str
    summary: str
    starts_at: datetime
    ends_at: datetime | None
    status: str  # CONFIRMED, TENTATIVE, CANCELLED or ""
    organizer: str
    attendees: list[tuple[str, str]]  # (address, PARTSTAT)


def _address(value: object) -> str:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower() if "@" in text else ""


def _moment(value: object) -> datetime | None:
    moment = getattr(value, "dt", None)
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(moment, date):
        return datetime.combine(moment, time(0), tzinfo=UTC)
    return None


def _parsed(component: Any, uid: str) -> ParsedEvent | None:
    starts_at = _moment(component.get("DTSTART"))
    if starts_at is None or not uid:
        return None
    raw_attendees = component.get("ATTENDEE") or []
    if not isinstance(raw_attendees, list):
        raw_attendees = [raw_attendees]
    attendees = []
    for attendee in raw_attendees:
        address = _address(attendee)
        if address:
            params = getattr(attendee, "params", {})
            attendees.append((address, str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()))
    return ParsedEvent(
        uid=uid[:500],
        summary=str(component.get("SUMMARY") or "")[:200],
        starts_at=starts_at,
        ends_at=_moment(component.get("DTEND")),
        status=str(component.get("STATUS") or "").upper(),
        organizer=_address(component.get("ORGANIZER")),
        attendees=attendees,
    )


def _calendar(data: str | bytes) -> Calendar | None:
    try:
        return Calendar.from_ical(data)
    except Exception:
        return None


def _master(calendar: Calendar) -> ParsedEvent | None:
    """The first VEVENT that is not an exception of a series (the series master of a recurring one)."""
    for component in calendar.walk("VEVENT"):
        if component.get("RECURRENCE-ID") is None:
            return _parsed(component, str(component.get("UID") or "").strip())
    return None


def parse_event(data: str | bytes) -> ParsedEvent | None:
    """The first VEVENT (the series master of a recurring one); None for anything unreadable or without a start."""
    calendar = _calendar(data)
    return _master(calendar) if calendar is not None else None


def occurrence_uid(uid: str, original_start: datetime) -> str:
    """One occurrence of a series: the series UID and the occurrence's original start (its RECURRENCE-ID)."""
    return f"{uid[:470]}#{original_start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _occurrences(calendar: Calendar, since: datetime, until: datetime) -> list[ParsedEvent]:
    out: list[ParsedEvent] = []
    for component in recurring_ical_events.of(calendar).between(since, until):
        uid = str(component.get("UID") or "").strip()
        original = _moment(component.get("RECURRENCE-ID")) or _moment(component.get("DTSTART"))
        parsed = _parsed(component, occurrence_uid(uid, original)) if uid and original else None
        if parsed is not None:
            out.append(parsed)
    return out


def parse_occurrences(data: str | bytes, since: datetime, until: datetime) -> list[ParsedEvent]:
    """Every occurrence of a recurring event that starts in [since, until), with the series' exceptions (EXDATE,
    moved or cancelled instances) applied, each under its own UID (`occurrence_uid`)."""
    calendar = _calendar(data)
    return _occurrences(calendar, since, until) if calendar is not None else []


def read_meetings(data: str | bytes, since: datetime, until: datetime) -> tuple[list[ParsedEvent], bool]:
    """The meetings in one calendar object, read once, and whether it is a recurring series: a series'
    occurrences in [since, until) (`parse_occurrences`), else its one event (none when unreadable)."""
    calendar = _calendar(data)
    if calendar is None:
        return [], False
    if any(c.get("RRULE") is not None or c.get("RDATE") is not None for c in calendar.walk("VEVENT")):
        return _occurrences(calendar, since, until), True
    event = _master(calendar)
    return ([event] if event is not None else []), False


def _client(url: str, username: str, password: str) -> DAVClient:
    return DAVClient(url=url, username=username or None, password=password or None, timeout=30)


def _calendars(client: DAVClient, url: str) -> list[DavCalendar]:
    """The calendars at or under `url`; all of the principal's when `url` is the server or the principal."""
    found = client.principal().calendars()
    wanted = url.rstrip("/")
    inside = [c for c in found if str(c.url).rstrip("/").startswith(wanted)]
    return inside or found


def check(url: str, username: str, password: str) -> list[str]:
    """Log in and list the calendars that will be read (raises the client's error when it cannot)."""
    return [str(c.url) for c in _calendars(_client(url, username, password), url)]


def _sync(calendar: DavCalendar, token: str | None) -> SynchronizableCalendarObjectCollection:
    # The synchronous client returns the collection itself (the coroutine in the union is the async client's).
    return cast(
        SynchronizableCalendarObjectCollection, calendar.objects_by_sync_token(sync_token=token, load_objects=True)
    )


def fetch_changes(
    url: str, username: str, password: str, cursor: dict[str, dict[str, str]]
) -> Iterator[tuple[str, dict[str, str], list[FetchedEvent]]]:
    """Yield (calendar url, its new cursor, the events changed or deleted since the cursor) per calendar."""
    client = _client(url, username, password)
    for calendar in _calendars(client, url):
        key = str(calendar.url)
        token = (cursor.get(key) or {}).get("sync_token") or None
        try:
            changes = _sync(calendar, token)
        except DAVError:
            if token is None:
                raise
            changes = _sync(calendar, None)  # the server forgot the token: start over (ETags skip the unchanged)
        deleted = {str(u) for u in changes.deleted_urls}
        events: list[FetchedEvent] = []
        for obj in changes:
            href = str(obj.url)
            etag = str((getattr(obj, "props", None) or {}).get("{DAV:}getetag", "") or "")
            if href in deleted or str(obj.url.canonical()) in deleted:
                events.append(FetchedEvent(href=href, etag="", data="", deleted=True))
            elif obj.data:
                events.append(FetchedEvent(href=href, etag=etag, data=str(obj.data)))
        yield key, {"sync_token": str(changes.sync_token or "")}, events
