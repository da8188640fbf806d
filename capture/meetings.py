"""Meetings: CalDAV events stored once per workspace by UID, kept in step with their calendar (moved, cancelled,
deleted), each live one a meeting activity on its deal (future ones too).

A recurring meeting is stored as its occurrences, from `CAPTURE_LOOKBACK_DAYS` back to `CAPTURE_MEETINGS_AHEAD_DAYS`
ahead, each under its own UID (the series' UID and the occurrence's original start). The series is kept
(`CalendarSeries`) so later passes add the occurrences that come into that window; a changed series updates its
occurrences and cancels the ones it no longer has (an EXDATE, a shortened series)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from capture import calendar_apis, calendars, oauth
from capture.matching import Directory, external_id, suggest
from capture.models import (
    CalendarConnection,
    CalendarKind,
    CalendarSeries,
    CapturedEvent,
    CaptureState,
    EventSource,
)
from capture.providers import provider_settings
from crm import services as crm_services
from crm.models import ActivityKind, Contact, Direction
from tenancy.models import Workspace

logger = logging.getLogger(__name__)


def _ingest_event(
    workspace: Workspace, connection: CalendarConnection, directory: Directory, fetched: calendars.FetchedEvent
) -> str:
    """Store or update one meeting: matched | unassigned | unrelated | excluded | unchanged | updated | deleted."""
    if fetched.deleted:
        sources = EventSource.objects.filter(connection=connection, href=fetched.href).select_related("event")
        if not sources:
            return "unchanged"
        for source in sources:  # a recurring meeting: every occurrence
            _cancel(workspace, source.event, directory)
        CalendarSeries.objects.filter(connection=connection, href=fetched.href).delete()
        return "deleted"
    parsed = fetched.parsed or calendars.parse_event(fetched.data)
    if parsed is None:
        return "failed"
    existing = CapturedEvent.objects.filter(workspace=workspace, ical_uid=parsed.uid).first()
    if existing is not None:
        EventSource.objects.get_or_create(event=existing, connection=connection, defaults={"href": fetched.href})
        if fetched.etag and existing.etag == fetched.etag:
            return "unchanged"
        existing.etag = fetched.etag
        existing.summary, existing.status = parsed.summary, parsed.status
        existing.starts_at, existing.ends_at = parsed.starts_at, parsed.ends_at
        # Answers change (an attendee declines): outside parties only, as when it was first stored.
        known = {a["email"] for a in existing.attendees}
        answers = [{"email": a, "status": s} for a, s in parsed.attendees if a in known]
        existing.attendees = answers or existing.attendees
        existing.save(update_fields=["etag", "summary", "status", "starts_at", "ends_at", "attendees"])
        _event_activity_sync(workspace, existing, directory)
        return "updated"
    participants = [parsed.organizer, *(a for a, _ in parsed.attendees)]
    excluded, outside = directory.policy.screen(participants)
    if excluded:
        return "excluded"
    contacts, companies, unknown = directory.match(outside)
    if not companies:
        return "unrelated"
    suggest(workspace, directory, unknown, {})
    deal = directory.choose_deal(companies, None)
    event = CapturedEvent.objects.create(
        workspace=workspace,
        ical_uid=parsed.uid,
        etag=fetched.etag,
        summary=parsed.summary,
        starts_at=parsed.starts_at,
        ends_at=parsed.ends_at,
        organizer=parsed.organizer if parsed.organizer in outside or directory.policy.is_ours(parsed.organizer) else "",
        attendees=[{"email": a, "status": s} for a, s in parsed.attendees if a in outside],
        status=parsed.status,
        member=connection.member,
        company=deal.company if deal is not None else companies[0],
        deal=deal,
        state=CaptureState.MATCHED if deal is not None else CaptureState.UNASSIGNED,
    )
    if contacts:
        event.contacts.set(contacts)
    EventSource.objects.create(event=event, connection=connection, href=fetched.href)
    _event_activity_sync(workspace, event, directory, contacts=contacts)
    return "matched" if deal is not None else "unassigned"


def _cancel(workspace: Workspace, event: CapturedEvent, directory: Directory) -> None:
    event.status = "CANCELLED"
    event.save(update_fields=["status"])
    _event_activity_sync(workspace, event, directory)


def _window() -> tuple[datetime, datetime]:
    now = timezone.now()
    return (
        now - timedelta(days=django_settings.CAPTURE_LOOKBACK_DAYS),
        now + timedelta(days=django_settings.CAPTURE_MEETINGS_AHEAD_DAYS),
    )


def _meetings_in(
    connection: CalendarConnection, fetched: calendars.FetchedEvent
) -> tuple[list[calendars.FetchedEvent], bool]:
    """The items to store for one fetched calendar object, and whether it is a recurring series (then one item per
    occurrence in the window, and the series kept). The object is parsed once here."""
    if fetched.deleted or fetched.parsed is not None:
        return [fetched], False
    since, until = _window()
    meetings, series = calendars.read_meetings(fetched.data, since, until)
    if not series:
        # Unreadable: passed on as it came, so it is counted as failed.
        return [replace(fetched, parsed=meetings[0]) if meetings else fetched], False
    CalendarSeries.objects.update_or_create(
        connection=connection,
        href=fetched.href,
        defaults={"etag": fetched.etag, "data": fetched.data, "expanded_until": until},
    )
    return [replace(fetched, data="", parsed=parsed) for parsed in meetings], True


def _cancel_vanished(
    workspace: Workspace,
    connection: CalendarConnection,
    directory: Directory,
    href: str,
    kept: list[calendars.FetchedEvent],
) -> None:
    """Occurrences of a changed series that it no longer has (inside the window) are cancelled."""
    since, _ = _window()
    uids = {item.parsed.uid for item in kept if item.parsed is not None}
    gone = (
        CapturedEvent.objects.filter(
            workspace=workspace, sources__connection=connection, sources__href=href, starts_at__gte=since
        )
        .exclude(ical_uid__in=uids)
        .exclude(status="CANCELLED")
    )
    for event in gone:
        _cancel(workspace, event, directory)


def _roll_series_forward(
    workspace: Workspace, connection: CalendarConnection, directory: Directory, counts: Counter[str]
) -> None:
    """Store the occurrences that came into the window since a series was last expanded (once a day at most)."""
    _, until = _window()
    for series in CalendarSeries.objects.filter(connection=connection, expanded_until__lt=until - timedelta(days=1)):
        try:
            with transaction.atomic():
                for parsed in calendars.parse_occurrences(series.data, series.expanded_until, until):
                    item = calendars.FetchedEvent(href=series.href, etag=series.etag, data="", parsed=parsed)
                    counts["seen"] += 1
                    counts[_ingest_event(workspace, connection, directory, item)] += 1
                series.expanded_until = until
                series.save(update_fields=["expanded_until"])
        except Exception:
            logger.exception("capture: series %s of %s not rolled forward", series.href, connection.uuid)
            counts["failed"] += 1


def _meeting_direction(event: CapturedEvent, directory: Directory) -> str:
    """Inbound when an outside party organised or accepted it (they engaged), else outbound (an invitation)."""
    accepted = any(a.get("status") == "ACCEPTED" for a in event.attendees)
    organised_outside = bool(event.organizer) and not directory.policy.is_ours(event.organizer)
    return Direction.INBOUND if accepted or organised_outside else Direction.OUTBOUND


def _event_activity_sync(
    workspace: Workspace, event: CapturedEvent, directory: Directory, contacts: list[Contact] | None = None
) -> None:
    """A live meeting has one activity (future ones too: a booked meeting keeps a deal from going stale);
    a cancelled one has none."""
    cancelled = event.status == "CANCELLED"
    activity = event.activity
    if cancelled:
        if activity is not None:
            event.activity = None
            event.save(update_fields=["activity"])
            crm_services.activity_delete(activity=activity)
        return
    fields: dict[str, Any] = {
        "occurred_at": event.starts_at,
        "direction": _meeting_direction(event, directory),
        "subject": (event.summary or "(meeting)")[:200],
    }
    if activity is None:
        activity = crm_services.activity_log(
            workspace=workspace,
            actor=event.member,
            kind=ActivityKind.MEETING,
            deal=event.deal,
            company=event.company,
            contacts=contacts if contacts is not None else list(event.contacts.all()),
            external_id=external_id("event", event.ical_uid),
            **fields,
        )
        event.activity = activity
        event.save(update_fields=["activity"])
    else:
        crm_services.activity_update(activity=activity, **fields)


def _changes(
    connection: CalendarConnection, cursor: dict[str, dict[str, str]]
) -> Iterator[tuple[str, dict[str, str], list[calendars.FetchedEvent]]]:
    """The connection's changed events past its cursor, from CalDAV or the provider's calendar API."""
    settings = connection.settings
    if connection.kind == CalendarKind.CALDAV:
        return calendars.fetch_changes(
            str(settings["url"]), str(settings.get("username", "")), connection.secret, cursor
        )
    since = (timezone.now() - timedelta(days=django_settings.CAPTURE_LOOKBACK_DAYS)).date()

    def keep(secret: str) -> None:
        CalendarConnection.objects.filter(pk=connection.pk).update(secret=secret)  # the field encrypts it

    if connection.kind == CalendarKind.GOOGLE:
        return calendar_apis.google_fetch_changes(
            provider_settings(oauth.GOOGLE, oauth.CALENDAR), connection.secret, cursor, since=since, on_tokens=keep
        )
    return calendar_apis.graph_fetch_changes(
        provider_settings(oauth.MICROSOFT, oauth.CALENDAR), connection.secret, cursor, since=since, on_tokens=keep
    )


def capture_calendar(workspace: Workspace, connection: CalendarConnection, directory: Directory) -> Counter[str]:
    counts: Counter[str] = Counter()
    cursor: dict[str, dict[str, str]] = dict(connection.cursor or {})
    for key, new_cursor, events in _changes(connection, cursor):
        with transaction.atomic():
            for fetched in events:
                try:
                    with transaction.atomic():
                        items, series = _meetings_in(connection, fetched)
                        for item in items:
                            counts["seen"] += 1
                            counts[_ingest_event(workspace, connection, directory, item)] += 1
                        if series:
                            _cancel_vanished(workspace, connection, directory, fetched.href, items)
                except Exception:
                    logger.exception("capture: event %s of %s skipped", fetched.href, connection.uuid)
                    counts["failed"] += 1
            cursor[key] = new_cursor
            CalendarConnection.objects.filter(pk=connection.pk).update(cursor=cursor)
    _roll_series_forward(workspace, connection, directory, counts)
    return counts
