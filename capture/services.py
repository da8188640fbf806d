"""Every write of capture: connecting and disconnecting mailboxes and calendars, one capture pass, assignment.

A capture pass reads each active connection past its cursor and, per batch, in one transaction: stores the new
messages once per workspace (Message-ID), writes their activities through `crm.services.activity_log` (which
fires `deals_changed`, so alerts, forecasts and scores refresh), and moves the cursor. A run killed halfway
resumes after the last committed batch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from capture import calendars, gmail, graph, imap, mime
from capture.models import (
    CalendarConnection,
    CapturedEvent,
    CapturedMessage,
    CapturePolicy,
    CaptureState,
    ConnectionStatus,
    ContactSuggestion,
    EventSource,
    MailboxConnection,
    MailboxKind,
    MessageSource,
)
from capture.rules import Policy, domain_of
from capture.signals import read_signals
from crm import services as crm_services
from crm.models import ActivityKind, Company, Contact, Deal, Direction
from tenancy.models import Membership, Workspace

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- policy


def policy_get(*, workspace: Workspace) -> CapturePolicy:
    """The workspace's policy (the defaults, unsaved, when it never set one)."""
    return CapturePolicy.objects.filter(workspace=workspace).first() or CapturePolicy(workspace=workspace)


def policy_save(*, workspace: Workspace, **fields: Any) -> CapturePolicy:
    policy = policy_get(workspace=workspace)
    for attr, value in fields.items():
        setattr(policy, attr, value)
    policy.full_clean()
    policy.save()
    return policy


def _member_addresses(workspace: Workspace) -> list[str]:
    rows = Membership.objects.for_workspace(workspace).values_list("email", "user__email")
    return [a for pair in rows for a in pair if a]


# ---------------------------------------------------------------- connections


def _check_member(workspace: Workspace, member: Membership) -> None:
    if member.workspace_id != workspace.id:
        raise ValidationError("That member belongs to another workspace.")


def mailbox_connect(*, workspace: Workspace, member: Membership, imap_url: str) -> MailboxConnection:
    """Check the IMAP login and folders, then store the connection (password encrypted). Raises ValidationError
    with the server's reason when it cannot log in."""
    _check_member(workspace, member)
    try:
        settings, password = imap.parse_imap_url(imap_url)
        settings["folders"] = imap.check_and_resolve(settings, password)
    except imap.ImapUrlError as exc:
        raise ValidationError(str(exc)) from None
    except Exception as exc:  # the server's refusal (login, TLS, network) is the user's to read
        raise ValidationError(f"Cannot log in to {settings['host']}:{settings['port']}: {exc}") from None
    address = member.email or (member.user.email if member.user else "") or str(settings["username"])
    with transaction.atomic():
        MailboxConnection.objects.filter(member=member, kind="imap", address=address).exclude(
            status=ConnectionStatus.DISCONNECTED
        ).update(status=ConnectionStatus.DISCONNECTED)
        return MailboxConnection.objects.create(
            workspace=workspace, member=member, kind="imap", address=address, settings=settings, secret=password
        )


def _gmail_settings() -> dict[str, Any]:
    return {
        "api_endpoint": django_settings.GMAIL_API_ENDPOINT,
        "token_uri": django_settings.GOOGLE_TOKEN_URI,
        "client_id": django_settings.GOOGLE_OAUTH_CLIENT_ID,
        "client_secret": django_settings.GOOGLE_OAUTH_CLIENT_SECRET,
    }


def mailbox_connect_gmail(*, workspace: Workspace, member: Membership, refresh_token: str) -> MailboxConnection:
    """Connect a Gmail mailbox by an OAuth refresh token (scope gmail.readonly) issued to GOOGLE_OAUTH_CLIENT_ID."""
    _check_member(workspace, member)
    if not django_settings.GOOGLE_OAUTH_CLIENT_ID:
        raise ValidationError("Gmail capture needs GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET.")
    try:
        address = gmail.profile_address(_gmail_settings(), refresh_token)
    except Exception as exc:  # the token endpoint's or the API's refusal is the user's to read
        raise ValidationError(f"Cannot read the Gmail mailbox: {exc}") from None
    with transaction.atomic():
        MailboxConnection.objects.filter(member=member, kind=MailboxKind.GMAIL, address=address).exclude(
            status=ConnectionStatus.DISCONNECTED
        ).update(status=ConnectionStatus.DISCONNECTED)
        return MailboxConnection.objects.create(
            workspace=workspace, member=member, kind=MailboxKind.GMAIL, address=address, secret=refresh_token
        )


def _graph_settings() -> dict[str, Any]:
    return {
        "api_base": django_settings.MS_GRAPH_API_BASE,
        "token_uri": django_settings.MS_TOKEN_URI,
        "client_id": django_settings.MS_GRAPH_CLIENT_ID,
        "client_secret": django_settings.MS_GRAPH_CLIENT_SECRET,
    }


def mailbox_connect_graph(*, workspace: Workspace, member: Membership, refresh_token: str) -> MailboxConnection:
    """Connect a Microsoft 365 mailbox by a delegated refresh token (Mail.Read offline_access)."""
    _check_member(workspace, member)
    if not django_settings.MS_GRAPH_CLIENT_ID:
        raise ValidationError("Microsoft 365 capture needs MS_GRAPH_CLIENT_ID and MS_GRAPH_CLIENT_SECRET.")
    try:
        address, refresh_token = graph.profile_address(_graph_settings(), refresh_token)
    except Exception as exc:  # the token endpoint's or Graph's refusal is the user's to read
        raise ValidationError(f"Cannot read the Microsoft 365 mailbox: {exc}") from None
    with transaction.atomic():
        MailboxConnection.objects.filter(member=member, kind=MailboxKind.GRAPH, address=address).exclude(
            status=ConnectionStatus.DISCONNECTED
        ).update(status=ConnectionStatus.DISCONNECTED)
        return MailboxConnection.objects.create(
            workspace=workspace, member=member, kind=MailboxKind.GRAPH, address=address, secret=refresh_token
        )


def calendar_connect(
    *, workspace: Workspace, member: Membership, url: str, username: str, password: str
) -> CalendarConnection:
    _check_member(workspace, member)
    if not url.startswith(("http://", "https://")):
        raise ValidationError("The CalDAV URL must start with http:// or https://.")
    try:
        found = calendars.check(url, username, password)
    except Exception as exc:
        raise ValidationError(f"Cannot read calendars at {url}: {exc}") from None
    if not found:
        raise ValidationError(f"No calendar found at {url}.")
    return CalendarConnection.objects.create(
        workspace=workspace,
        member=member,
        settings={"url": url, "username": username, "calendars": found},
        secret=password,
    )


@transaction.atomic
def connection_disconnect(*, connection: MailboxConnection | CalendarConnection, delete_captured: bool) -> int:
    """Stop capturing from a connection (its password is wiped); with `delete_captured`, delete what it captured
    that no other live connection also saw, activities included. Returns how many items were deleted."""
    connection.status = ConnectionStatus.DISCONNECTED
    connection.secret = ""
    connection.save(update_fields=["status", "secret"])
    if not delete_captured:
        return 0
    items: list[CapturedMessage] | list[CapturedEvent]
    if isinstance(connection, MailboxConnection):
        items = list(
            CapturedMessage.objects.filter(sources__connection=connection).exclude(
                sources__connection__in=MailboxConnection.objects.exclude(pk=connection.pk).exclude(
                    status=ConnectionStatus.DISCONNECTED
                )
            )
        )
    else:
        items = list(
            CapturedEvent.objects.filter(sources__connection=connection).exclude(
                sources__connection__in=CalendarConnection.objects.exclude(pk=connection.pk).exclude(
                    status=ConnectionStatus.DISCONNECTED
                )
            )
        )
    for item in items:
        if item.activity is not None:
            crm_services.activity_delete(activity=item.activity)
        item.delete()
    return len(items)


# ---------------------------------------------------------------- matching


@dataclass
class _Directory:
    """The workspace's contacts, company domains and open deals, loaded once per pass."""

    policy: Policy
    store_bodies: bool
    contacts: dict[str, Contact]  # by lower-cased address
    companies_by_domain: dict[str, Company]
    open_deals: dict[int, list[Deal]]  # company id → open deals, oldest first
    touched_threads: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, workspace: Workspace) -> _Directory:
        policy_row = policy_get(workspace=workspace)
        policy = Policy.build(
            member_addresses=_member_addresses(workspace),
            personal_domains=policy_row.personal_domains,
            blocklist=policy_row.blocklist,
        )
        contacts = {
            c.email.lower(): c
            for c in Contact.objects.for_workspace(workspace).exclude(email="").select_related("company")
        }
        by_domain: dict[str, Company] = {}
        for company in Company.objects.for_workspace(workspace).exclude(domain=""):
            domain = company.domain.strip().lower().removeprefix("www.").split("/")[0]
            by_domain.setdefault(domain, company)
        for contact in contacts.values():  # a contact's address also tells its company's domain
            domain = domain_of(contact.email)
            if contact.company is not None and domain not in policy.personal_domains:
                by_domain.setdefault(domain, contact.company)
        deals: dict[int, list[Deal]] = {}
        for deal in Deal.objects.for_workspace(workspace).open().filter(company__isnull=False).order_by("created_at"):
            deals.setdefault(deal.company_id, []).append(deal)  # type: ignore[arg-type]  # filtered non-null
        return cls(policy, policy_row.store_bodies, contacts, by_domain, deals)

    def match(self, outside: list[str]) -> tuple[list[Contact], list[Company], list[str]]:
        """(known contacts, their companies and those of known domains, unknown addresses at known domains)."""
        contacts = [self.contacts[a] for a in outside if a in self.contacts]
        companies: dict[int, Company] = {c.company.id: c.company for c in contacts if c.company is not None}
        unknown_known_domain = []
        for address in outside:
            company = self.companies_by_domain.get(domain_of(address))
            if address not in self.contacts and company is not None:
                companies.setdefault(company.id, company)
                unknown_known_domain.append(address)
        return contacts, list(companies.values()), unknown_known_domain

    def choose_deal(self, companies: list[Company], thread_deal: Deal | None) -> Deal | None:
        """The thread's deal when it is still open; else the single open deal of the companies; else None."""
        candidates = [d for c in companies for d in self.open_deals.get(c.id, [])]
        if thread_deal is not None and thread_deal.is_open and thread_deal.deleted_at is None:
            return thread_deal
        return candidates[0] if len(candidates) == 1 else None


def _suggest(workspace: Workspace, directory: _Directory, addresses: list[str], names: dict[str, str]) -> None:
    for address in addresses:
        company = directory.companies_by_domain[domain_of(address)]
        suggestion, created = ContactSuggestion.objects.get_or_create(
            workspace=workspace, email=address, defaults={"company": company, "name": names.get(address, "")[:200]}
        )
        if not created:
            ContactSuggestion.objects.filter(pk=suggestion.pk).update(seen_count=suggestion.seen_count + 1)


def _external_id(prefix: str, key: str) -> str:
    return f"capture:{prefix}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


# ---------------------------------------------------------------- messages


def _ingest_message(
    workspace: Workspace, connection: MailboxConnection, directory: _Directory, fetched: imap.FetchedMail
) -> str:
    """Store one fetched message. Returns matched (stored, on a deal) | unassigned (stored, the rep chooses the
    deal) | unrelated (no contact or company the CRM knows: not stored) | duplicate | excluded."""
    parsed = mime.parse(fetched.raw)
    existing = CapturedMessage.objects.filter(workspace=workspace, message_id=parsed.message_id).first()
    if existing is not None:
        MessageSource.objects.get_or_create(
            message=existing, connection=connection, defaults={"folder": fetched.folder, "uid": fetched.uid}
        )
        return "duplicate"
    excluded, outside = directory.policy.screen(parsed.participants)
    if excluded:
        return "excluded"
    contacts, companies, unknown = directory.match(outside)
    if not companies:
        return "unrelated"  # nobody the CRM knows: not stored
    _suggest(workspace, directory, unknown, parsed.names)
    thread_deal = (
        Deal.objects.filter(
            pk__in=CapturedMessage.objects.filter(workspace=workspace, deal__isnull=False)
            .filter(thread_key__in=[parsed.thread_key, *parsed.references, parsed.in_reply_to])
            .values("deal_id")
        )
        .order_by("-updated_at")
        .first()
    )
    deal = directory.choose_deal(companies, thread_deal)
    company = deal.company if deal is not None else companies[0]
    outbound = directory.policy.is_ours(parsed.from_address) or parsed.from_address == connection.address
    direction = Direction.OUTBOUND if outbound else Direction.INBOUND
    # A missing or impossible date (in the future) is read as "now": it must not pose as a meeting ahead or
    # keep a deal looking fresh for months.
    sent_at = min(parsed.sent_at or timezone.now(), timezone.now())
    signals = read_signals(parsed.subject, parsed.fresh_text()) if not outbound else None
    snippet = parsed.snippet()
    body = parsed.text if directory.store_bodies else snippet
    member = connection.member
    activity = crm_services.activity_log(
        workspace=workspace,
        actor=member,
        kind=ActivityKind.EMAIL,
        subject=(parsed.subject or "(no subject)")[:200],
        deal=deal,
        company=company,
        contacts=contacts,
        occurred_at=sent_at,
        direction=direction,
        body=body,
        external_id=_external_id("mail", parsed.message_id),
    )
    message = CapturedMessage.objects.create(
        workspace=workspace,
        message_id=parsed.message_id,
        thread_key=parsed.thread_key,
        in_reply_to=parsed.in_reply_to,
        subject=parsed.subject,
        from_address=parsed.from_address[:254],
        to_addresses=[a for a in parsed.to if a in outside or directory.policy.is_ours(a)],
        cc_addresses=[a for a in parsed.cc if a in outside or directory.policy.is_ours(a)],
        sent_at=sent_at,
        direction=direction,
        snippet=snippet[:300],
        member=member,
        company=company,
        deal=deal,
        activity=activity,
        state=CaptureState.MATCHED if deal is not None else CaptureState.UNASSIGNED,
        sentiment=signals.sentiment if signals else None,
        cues=signals.cues if signals else [],
    )
    if contacts:
        message.contacts.set(contacts)
    MessageSource.objects.create(message=message, connection=connection, folder=fetched.folder, uid=fetched.uid)
    directory.touched_threads.add(parsed.thread_key)
    return "matched" if deal is not None else "unassigned"


def thread_signals_refresh(*, workspace: Workspace, thread_keys: set[str]) -> None:
    """Thread length, response time and who replied, recomputed over each whole thread in date order (messages of
    one thread arrive from different folders and mailboxes in any order)."""
    for key in thread_keys:
        thread = list(CapturedMessage.objects.filter(workspace=workspace, thread_key=key).order_by("sent_at", "id"))
        previous: CapturedMessage | None = None
        for position, message in enumerate(thread, start=1):
            response, replied_by = None, ""
            if previous is not None and previous.direction != message.direction:
                response = max(0, int((message.sent_at - previous.sent_at).total_seconds()))
                replied_by = message.from_address
            if (message.thread_length, message.response_seconds, message.replied_by) != (
                position,
                response,
                replied_by,
            ):
                message.thread_length, message.response_seconds, message.replied_by = position, response, replied_by
                message.save(update_fields=["thread_length", "response_seconds", "replied_by"])
            previous = message


def _capture_mailbox(workspace: Workspace, connection: MailboxConnection, directory: _Directory) -> Counter[str]:
    counts: Counter[str] = Counter()
    cursor: dict[str, dict[str, Any]] = dict(connection.cursor or {})
    since = (timezone.now() - timedelta(days=django_settings.CAPTURE_LOOKBACK_DAYS)).date()
    batches: Iterator[tuple[str, dict[str, Any], list[imap.FetchedMail]]]
    if connection.kind == MailboxKind.GMAIL:
        gmail_cursor = cursor.get(gmail.FOLDER) or {}
        batches = gmail.fetch_new(_gmail_settings(), connection.secret, gmail_cursor, since=since)
    elif connection.kind == MailboxKind.GRAPH:

        def keep_rotated(token: str) -> None:
            MailboxConnection.objects.filter(pk=connection.pk).update(secret=token)  # the field encrypts it

        batches = graph.fetch_new(
            _graph_settings(), connection.secret, cursor, since=since, on_refresh_token=keep_rotated
        )
    else:
        batches = imap.fetch_new(connection.settings, connection.secret, cursor, since=since)
    for folder, folder_cursor, batch in batches:
        with transaction.atomic():
            for fetched in batch:
                counts["seen"] += 1
                try:
                    with transaction.atomic():
                        counts[_ingest_message(workspace, connection, directory, fetched)] += 1
                except Exception:  # one unreadable message never stops the rest
                    logger.exception("capture: message %s/%s of %s skipped", folder, fetched.uid, connection.uuid)
                    counts["failed"] += 1
            cursor[folder] = folder_cursor
            MailboxConnection.objects.filter(pk=connection.pk).update(cursor=cursor)
    connection.cursor = cursor
    return counts


# ---------------------------------------------------------------- meetings


def _ingest_event(
    workspace: Workspace, connection: CalendarConnection, directory: _Directory, fetched: calendars.FetchedEvent
) -> str:
    """Store or update one meeting: matched | unassigned | unrelated | excluded | unchanged | updated | deleted."""
    if fetched.deleted:
        source = EventSource.objects.filter(connection=connection, href=fetched.href).select_related("event").first()
        if source is None:
            return "unchanged"
        event = source.event
        event.status = "CANCELLED"
        event.save(update_fields=["status"])
        _event_activity_sync(workspace, event)
        return "deleted"
    parsed = calendars.parse_event(fetched.data)
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
        existing.save(update_fields=["etag", "summary", "status", "starts_at", "ends_at"])
        _event_activity_sync(workspace, existing)
        return "updated"
    participants = [parsed.organizer, *(a for a, _ in parsed.attendees)]
    excluded, outside = directory.policy.screen(participants)
    if excluded:
        return "excluded"
    contacts, companies, unknown = directory.match(outside)
    if not companies:
        return "unrelated"
    _suggest(workspace, directory, unknown, {})
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
    _event_activity_sync(workspace, event, contacts=contacts)
    return "matched" if deal is not None else "unassigned"


def _meeting_direction(event: CapturedEvent) -> str:
    """Inbound when an outside party organised or accepted it (they engaged), else outbound (an invitation)."""
    accepted = any(a.get("status") == "ACCEPTED" for a in event.attendees)
    return (
        Direction.INBOUND
        if accepted or (event.organizer and event.organizer in {a.get("email") for a in event.attendees})
        else Direction.OUTBOUND
    )


def _event_activity_sync(workspace: Workspace, event: CapturedEvent, contacts: list[Contact] | None = None) -> None:
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
        "direction": _meeting_direction(event),
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
            external_id=_external_id("event", event.ical_uid),
            **fields,
        )
        event.activity = activity
        event.save(update_fields=["activity"])
    else:
        crm_services.activity_update(activity=activity, **fields)


def _capture_calendar(workspace: Workspace, connection: CalendarConnection, directory: _Directory) -> Counter[str]:
    counts: Counter[str] = Counter()
    cursor: dict[str, dict[str, str]] = dict(connection.cursor or {})
    settings = connection.settings
    for key, new_cursor, events in calendars.fetch_changes(
        str(settings["url"]), str(settings.get("username", "")), connection.secret, cursor
    ):
        with transaction.atomic():
            for fetched in events:
                counts["seen"] += 1
                try:
                    with transaction.atomic():
                        counts[_ingest_event(workspace, connection, directory, fetched)] += 1
                except Exception:
                    logger.exception("capture: event %s of %s skipped", fetched.href, connection.uuid)
                    counts["failed"] += 1
            cursor[key] = new_cursor
            CalendarConnection.objects.filter(pk=connection.pk).update(cursor=cursor)
    return counts


# ---------------------------------------------------------------- a pass


def _run_connection(connection: MailboxConnection | CalendarConnection, run: Any) -> Counter[str]:
    try:
        counts = run()
    except Exception as exc:
        logger.warning("capture: %s failed: %s", connection.uuid, exc)
        type(connection).objects.filter(pk=connection.pk).update(
            status=ConnectionStatus.ERROR, last_error=str(exc)[:2000], last_run_at=timezone.now()
        )
        return Counter()
    type(connection).objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.ACTIVE, last_error="", last_run_at=timezone.now()
    )
    return counts


# First half of the advisory lock that keeps two passes over one workspace apart ("CAP").
_LOCK_CLASS = 0x434150


@contextmanager
def _workspace_lock(workspace_id: int) -> Iterator[None]:
    """One pass per workspace at a time: a manual run waits for the scheduled one (and then finds nothing new)."""
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, workspace_id])
    try:
        yield
    finally:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, workspace_id])


def capture_run(*, workspace: Workspace, member: Membership | None = None) -> dict[str, Any]:
    """One capture pass over the workspace's live connections (one member's with `member`)."""
    with _workspace_lock(workspace.id):
        return _capture_pass(workspace, member)


def _capture_pass(workspace: Workspace, member: Membership | None) -> dict[str, Any]:
    started = time.perf_counter()
    directory = _Directory.load(workspace)
    mailboxes = MailboxConnection.objects.for_workspace(workspace).exclude(status=ConnectionStatus.DISCONNECTED)
    calendars_ = CalendarConnection.objects.for_workspace(workspace).exclude(status=ConnectionStatus.DISCONNECTED)
    if member is not None:
        mailboxes, calendars_ = mailboxes.filter(member=member), calendars_.filter(member=member)
    mail: Counter[str] = Counter()
    for mailbox in mailboxes.select_related("member").order_by("id"):
        mail += _run_connection(mailbox, lambda m=mailbox: _capture_mailbox(workspace, m, directory))
    with transaction.atomic():
        thread_signals_refresh(workspace=workspace, thread_keys=directory.touched_threads)
    meetings: Counter[str] = Counter()
    for calendar in calendars_.select_related("member").order_by("id"):
        meetings += _run_connection(calendar, lambda c=calendar: _capture_calendar(workspace, c, directory))
    return {
        "messages": {
            "seen": mail["seen"],
            "new": mail["matched"] + mail["unassigned"],
            "matched": mail["matched"],
            "unmatched": mail["unassigned"] + mail["unrelated"],
            "duplicates": mail["duplicate"],
            "excluded": mail["excluded"],
        },
        "events": {
            "seen": meetings["seen"],
            "new": meetings["matched"] + meetings["unassigned"],
            "matched": meetings["matched"],
        },
        "seconds": round(time.perf_counter() - started, 3),
    }


# ---------------------------------------------------------------- the rep's choices


@transaction.atomic
def capture_assign(*, item: CapturedMessage | CapturedEvent, deal: Deal, actor: Membership) -> None:
    """Attach an unassigned message (and the rest of its thread) or meeting to the deal the rep chose."""
    if deal.workspace_id != item.workspace_id or not deal.is_open:
        raise ValidationError("Choose an open deal of this workspace.")
    items: list[CapturedMessage] | list[CapturedEvent]
    if isinstance(item, CapturedMessage):
        items = list(
            CapturedMessage.objects.filter(
                workspace_id=item.workspace_id, thread_key=item.thread_key, deal__isnull=True
            )
        )
    else:
        items = [item]
    for one in items:
        one.deal, one.company, one.state = deal, deal.company, CaptureState.MATCHED
        one.save(update_fields=["deal", "company", "state"])
        if one.activity is not None:
            crm_services.activity_update(activity=one.activity, deal=deal, company=deal.company)


def suggestion_accept(*, suggestion: ContactSuggestion, actor: Membership) -> Contact:
    """Create the suggested contact at its company (through crm) and attach it to the mail it appeared in."""
    local = suggestion.name or suggestion.email.split("@")[0]
    first, _, last = local.partition(" ")
    with transaction.atomic():
        contact = crm_services.contact_save(
            workspace=suggestion.workspace,
            first_name=first[:100] if last else "",
            last_name=(last or first)[:100],
            email=suggestion.email,
            company=suggestion.company,
        )
        for message in CapturedMessage.objects.filter(workspace_id=suggestion.workspace_id).filter(
            _mentions(suggestion.email)
        ):
            message.contacts.add(contact)
            if message.activity is not None:
                message.activity.contacts.add(contact)
        suggestion.delete()
    return contact


def _mentions(address: str) -> Q:
    return Q(from_address=address) | Q(to_addresses__contains=[address]) | Q(cc_addresses__contains=[address])


def suggestion_dismiss(*, suggestion: ContactSuggestion, actor: Membership) -> None:
    suggestion.dismissed = True
    suggestion.save(update_fields=["dismissed"])
