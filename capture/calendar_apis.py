"""Meetings from Google Calendar (google-api-python-client, `events.list` with a sync token) and Microsoft 365
(the msgraph-sdk client, `calendarView/delta`), read into the same `FetchedEvent`s as CalDAV.

Plain module (no Django). Both authenticate with the stored OAuth token set (see `oauth`); the access token is
refreshed when it expired or the API answered 401, and the new token set is handed to `on_tokens`.

Google: the first pass lists the primary calendar (events that start from the look-back day on), later passes
send the `nextSyncToken` of the last one and get what changed, cancelled events included; a sync token Google no
longer accepts (HTTP 410) starts over with a full listing. Cursor `{"primary": {"sync_token"}}`.
Microsoft: `GET /me/calendarView/delta?startDateTime&endDateTime` over the look-back day to a year ahead, pages by
`@odata.nextLink`, then the `@odata.deltaLink` is the cursor `{"calendarView": {"delta_link"}}`; removed events
come as `@removed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.graph_service_client import GraphServiceClient

from capture import gmail, graph, oauth
from capture.calendars import FetchedEvent, ParsedEvent, occurrence_uid

GOOGLE_SCOPES = oauth.SCOPES[(oauth.GOOGLE, oauth.CALENDAR)]
GRAPH_SCOPES = oauth.SCOPES[(oauth.MICROSOFT, oauth.CALENDAR)]
GOOGLE_CALENDAR = "primary"
GRAPH_VIEW = "calendarView"
AHEAD_DAYS = 365
_GOOGLE_STATUS = {"accepted": "ACCEPTED", "declined": "DECLINED", "tentative": "TENTATIVE"}
_GRAPH_STATUS = {"accepted": "ACCEPTED", "declined": "DECLINED", "tentativelyAccepted": "TENTATIVE"}


def _start_of(day: date | None) -> datetime | None:
    return datetime.combine(day, time(0), tzinfo=UTC) if day else None


# ---------------------------------------------------------------- Google Calendar


def google_service(settings: dict[str, Any], credentials: Any) -> Any:
    return build(
        "calendar",
        "v3",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": settings["api_endpoint"]},
        num_retries=2,
    )


def _google_moment(value: dict[str, Any] | None) -> datetime | None:
    if not value:
        return None
    if value.get("dateTime"):
        moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if value.get("date"):
        return datetime.combine(date.fromisoformat(str(value["date"])), time(0), tzinfo=UTC)
    return None


def google_event(item: dict[str, Any]) -> ParsedEvent | None:
    """An events resource as a ParsedEvent; None without an iCalUID or a start (a bare cancelled instance)."""
    starts_at = _google_moment(item.get("start"))
    uid = str(item.get("iCalUID") or "").strip()
    if starts_at is None or not uid:
        return None
    original = _google_moment(item.get("originalStartTime")) if item.get("recurringEventId") else None
    if original is not None:  # one occurrence of a recurring meeting (singleEvents): they all share the iCalUID
        uid = occurrence_uid(uid, original)
    attendees = [
        (str(a["email"]).lower(), _GOOGLE_STATUS.get(str(a.get("responseStatus")), "NEEDS-ACTION"))
        for a in item.get("attendees") or []
        if "@" in str(a.get("email", "")) and not a.get("resource")
    ]
    return ParsedEvent(
        uid=uid[:500],
        summary=str(item.get("summary") or "")[:200],
        starts_at=starts_at,
        ends_at=_google_moment(item.get("end")),
        status=str(item.get("status") or "").upper(),
        organizer=str((item.get("organizer") or {}).get("email") or "").lower(),
        attendees=attendees,
    )


def google_account(settings: dict[str, Any], secret: str) -> tuple[str, str]:
    """(the primary calendar's id, which is the account's address; the token set to store)."""
    credentials = gmail.credentials_for(settings, secret, GOOGLE_SCOPES)
    found = google_service(settings, credentials).calendars().get(calendarId=GOOGLE_CALENDAR).execute()
    return str(found["id"]).lower(), gmail.secret_of(credentials)


def google_fetch_changes(
    settings: dict[str, Any],
    secret: str,
    cursor: dict[str, dict[str, str]],
    *,
    since: date | None = None,
    on_tokens: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, dict[str, str], list[FetchedEvent]]]:
    credentials = gmail.credentials_for(settings, secret, GOOGLE_SCOPES)
    try:
        yield from _google_changes(google_service(settings, credentials), cursor, since)
    finally:
        if on_tokens is not None and credentials.token and gmail.secret_of(credentials) != secret:
            on_tokens(gmail.secret_of(credentials))


def _google_changes(
    api: Any, cursor: dict[str, dict[str, str]], since: date | None
) -> Iterator[tuple[str, dict[str, str], list[FetchedEvent]]]:
    token = (cursor.get(GOOGLE_CALENDAR) or {}).get("sync_token") or None
    try:
        items, next_token = _google_list(api, token)
    except HttpError as exc:
        if exc.resp.status != 410 or token is None:
            raise
        token = None
        items, next_token = _google_list(api, None)  # the sync token expired: list again (ETags skip the known)
    after = _start_of(since) if token is None else None
    events: list[FetchedEvent] = []
    for item in items:
        parsed = google_event(item)
        href, etag = str(item.get("id", "")), str(item.get("etag", ""))
        if parsed is None:
            if item.get("status") == "cancelled" and href:
                events.append(FetchedEvent(href=href, etag="", data="", deleted=True))
            continue
        if after is not None and parsed.starts_at < after:
            continue
        events.append(FetchedEvent(href=href, etag=etag, data="", parsed=parsed))
    yield GOOGLE_CALENDAR, {"sync_token": next_token}, events


def _google_list(api: Any, sync_token: str | None) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    page_token = None
    while True:
        # singleEvents: a recurring meeting comes as its occurrences, each a meeting of its own.
        params: dict[str, Any] = {"calendarId": GOOGLE_CALENDAR, "maxResults": 250, "singleEvents": True}
        if page_token:
            params["pageToken"] = page_token
        if sync_token:
            params["syncToken"] = sync_token
        page = api.events().list(**params).execute()
        items.extend(page.get("items", []))
        page_token = page.get("nextPageToken")
        if not page_token:
            return items, str(page.get("nextSyncToken") or "")


# ---------------------------------------------------------------- Microsoft 365


def _graph_moment(value: Any) -> datetime | None:
    if value is None or not value.date_time:
        return None
    moment = datetime.fromisoformat(str(value.date_time)[:26].rstrip("Z"))
    try:
        zone = ZoneInfo(str(value.time_zone or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")  # a Windows zone name: Graph answers in UTC unless asked otherwise
    return moment.replace(tzinfo=zone).astimezone(UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def graph_event(event: Any) -> ParsedEvent | None:
    starts_at = _graph_moment(event.start)
    uid = str(event.i_cal_u_id or "").strip()
    if starts_at is None or not uid:
        return None
    attendees = []
    for attendee in event.attendees or []:
        address = str((attendee.email_address.address if attendee.email_address else "") or "").lower()
        response = attendee.status.response if attendee.status else None
        value = response.value if response is not None and hasattr(response, "value") else str(response or "")
        if "@" in address:
            attendees.append((address, _GRAPH_STATUS.get(value, "NEEDS-ACTION")))
    organizer = event.organizer.email_address.address if event.organizer and event.organizer.email_address else ""
    return ParsedEvent(
        uid=uid[:500],
        summary=str(event.subject or "")[:200],
        starts_at=starts_at,
        ends_at=_graph_moment(event.end),
        status="CANCELLED" if event.is_cancelled else "CONFIRMED",
        organizer=str(organizer or "").lower(),
        attendees=attendees,
    )


def graph_account(settings: dict[str, Any], secret: str) -> tuple[str, str]:
    return graph.profile_address(settings, secret, GRAPH_SCOPES)


async def _graph_delta(
    client: GraphServiceClient, link: str | None, since: date | None
) -> tuple[list[FetchedEvent], str]:
    builder = client.me.calendar_view.delta
    if link:
        page = await builder.with_url(link).get()
    else:
        start = _start_of(since) or datetime.now(UTC) - timedelta(days=180)
        end = datetime.now(UTC) + timedelta(days=AHEAD_DAYS)
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"), end_date_time=end.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        page = await builder.get(request_configuration=RequestConfiguration(query_parameters=query))
    events: list[FetchedEvent] = []
    while page is not None:
        for event in page.value or []:
            extra = event.additional_data or {}
            if not event.id:
                continue
            if "@removed" in extra:
                events.append(FetchedEvent(href=event.id, etag="", data="", deleted=True))
                continue
            parsed = graph_event(event)
            if parsed is not None:
                etag = str(extra.get("@odata.etag") or event.change_key or "")
                events.append(FetchedEvent(href=event.id, etag=etag, data="", parsed=parsed))
        if page.odata_next_link:
            page = await builder.with_url(page.odata_next_link).get()
            continue
        return events, str(page.odata_delta_link or "")
    return events, link or ""


def graph_fetch_changes(
    settings: dict[str, Any],
    secret: str,
    cursor: dict[str, dict[str, str]],
    *,
    since: date | None = None,
    on_tokens: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, dict[str, str], list[FetchedEvent]]]:
    credential = graph.RefreshTokenCredential(settings, secret, GRAPH_SCOPES)
    try:
        link = (cursor.get(GRAPH_VIEW) or {}).get("delta_link") or None
        client = graph.client_for(settings, credential)
        events, new_link = graph.call(credential, lambda: _graph_delta(client, link, since))
        yield GRAPH_VIEW, {"delta_link": new_link}, events
    finally:
        if on_tokens is not None and credential.secret != secret:
            on_tokens(credential.secret)
