"""Every write of capture: connecting and disconnecting mailboxes and calendars, one capture pass, assignment.

A capture pass reads each active connection past its cursor and, per batch, in one transaction: stores the new
messages once per workspace (Message-ID), writes their activities through `crm.services.activity_log` (which
fires `deals_changed`, so alerts, forecasts and scores refresh), and moves the cursor. A run killed halfway
resumes after the last committed batch.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from google.auth.exceptions import RefreshError

from capture import calendar_apis, calendars, gmail, graph, imap, mime, oauth, providers
from capture.matching import Directory, external_id, policy_get, suggest
from capture.meetings import capture_calendar
from capture.models import (
    CalendarConnection,
    CalendarKind,
    CapturedEvent,
    CapturedMessage,
    CapturePolicy,
    CaptureState,
    ConnectionStatus,
    ContactSuggestion,
    MailboxConnection,
    MailboxKind,
    MessageSource,
)
from capture.providers import provider_settings
from capture.signals import CUES, SENTIMENTS, Reading, read_signals
from crm import services as crm_services
from crm.models import ActivityKind, Contact, Deal, Direction
from tenancy.models import Membership, Workspace

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- policy


def policy_save(*, workspace: Workspace, **fields: Any) -> CapturePolicy:
    policy = policy_get(workspace=workspace)
    for attr, value in fields.items():
        setattr(policy, attr, value)
    policy.full_clean()
    policy.save()
    return policy


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


def _replace_mailbox(member: Membership, kind: str, address: str, **fields: Any) -> MailboxConnection:
    with transaction.atomic():
        MailboxConnection.objects.filter(member=member, kind=kind, address=address).exclude(
            status=ConnectionStatus.DISCONNECTED
        ).update(status=ConnectionStatus.DISCONNECTED)
        return MailboxConnection.objects.create(
            workspace=member.workspace, member=member, kind=kind, address=address, **fields
        )


def mailbox_connect_gmail(*, workspace: Workspace, member: Membership, refresh_token: str) -> MailboxConnection:
    """Connect a Gmail mailbox by an OAuth token set (or a bare refresh token; scope gmail.readonly) issued to
    GOOGLE_OAUTH_CLIENT_ID."""
    _check_member(workspace, member)
    if not providers.configured(oauth.GOOGLE):
        raise ValidationError("Gmail capture needs GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET.")
    try:
        address = gmail.profile_address(provider_settings(oauth.GOOGLE, oauth.MAIL), refresh_token)
    except Exception as exc:  # the token endpoint's or the API's refusal is the user's to read
        raise ValidationError(f"Cannot read the Gmail mailbox: {exc}") from None
    return _replace_mailbox(member, MailboxKind.GMAIL, address, secret=refresh_token)


def mailbox_connect_graph(*, workspace: Workspace, member: Membership, refresh_token: str) -> MailboxConnection:
    """Connect a Microsoft 365 mailbox by a delegated token set or refresh token (Mail.Read offline_access)."""
    _check_member(workspace, member)
    if not providers.configured(oauth.MICROSOFT):
        raise ValidationError("Microsoft 365 capture needs MS_GRAPH_CLIENT_ID and MS_GRAPH_CLIENT_SECRET.")
    try:
        address, secret = graph.profile_address(provider_settings(oauth.MICROSOFT, oauth.MAIL), refresh_token)
    except Exception as exc:  # the token endpoint's or Graph's refusal is the user's to read
        raise ValidationError(f"Cannot read the Microsoft 365 mailbox: {exc}") from None
    return _replace_mailbox(member, MailboxKind.GRAPH, address, secret=secret)


def calendar_connect_api(*, workspace: Workspace, member: Membership, provider: str, secret: str) -> CalendarConnection:
    """Connect the member's Google Calendar (primary) or Microsoft 365 calendar by an OAuth token set."""
    _check_member(workspace, member)
    if not providers.configured(provider):
        raise ValidationError(f"The {oauth.LABELS[provider]} app is not configured (client id and secret).")
    kind = CalendarKind.GOOGLE if provider == oauth.GOOGLE else CalendarKind.GRAPH
    try:
        settings = provider_settings(provider, oauth.CALENDAR)
        if provider == oauth.GOOGLE:
            address, secret = calendar_apis.google_account(settings, secret)
        else:
            address, secret = calendar_apis.graph_account(settings, secret)
    except Exception as exc:  # the provider's refusal is the user's to read
        raise ValidationError(f"Cannot read the {oauth.LABELS[provider]} calendar: {exc}") from None
    with transaction.atomic():
        CalendarConnection.objects.filter(member=member, kind=kind, settings__address=address).exclude(
            status=ConnectionStatus.DISCONNECTED
        ).update(status=ConnectionStatus.DISCONNECTED)
        return CalendarConnection.objects.create(
            workspace=workspace,
            member=member,
            kind=kind,
            settings={"url": f"{kind.label} calendar of {address}", "address": address},
            secret=secret,
        )


def oauth_connect(
    *, member: Membership, provider: str, target: str, code: str, verifier: str, redirect_uri: str
) -> MailboxConnection | CalendarConnection:
    """The end of the in-app OAuth flow: the code (with its PKCE verifier) for a token set, then the mailbox or
    calendar connected with it (the token set stored encrypted)."""
    settings = provider_settings(provider, target)
    try:
        tokens = oauth.exchange_code(
            token_uri=settings["token_uri"],
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            code=code,
            redirect_uri=redirect_uri,
            verifier=verifier,
        )
    except oauth.OAuthError as exc:
        raise ValidationError(f"{oauth.LABELS[provider]} refused the sign-in: {exc}") from None
    secret = oauth.dump(tokens)
    if target == oauth.CALENDAR:
        return calendar_connect_api(workspace=member.workspace, member=member, provider=provider, secret=secret)
    if provider == oauth.GOOGLE:
        return mailbox_connect_gmail(workspace=member.workspace, member=member, refresh_token=secret)
    return mailbox_connect_graph(workspace=member.workspace, member=member, refresh_token=secret)


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


# ---------------------------------------------------------------- messages


def _ingest_message(
    workspace: Workspace, connection: MailboxConnection, directory: Directory, fetched: imap.FetchedMail
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
    suggest(workspace, directory, unknown, parsed.names)
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
        external_id=external_id("mail", parsed.message_id),
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
    if signals is not None:
        # What may leave for the model follows the workspace's policy: the new text where bodies are kept, only
        # the stored snippet where the policy is metadata and a snippet.
        shown = parsed.fresh_text() if directory.store_bodies else snippet[:300]
        directory.to_read.append((message.pk, parsed.subject, shown))
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


def intent_read(*, workspace: Workspace, items: list[tuple[int, str, str]]) -> int:
    """Ask each reader of settings.CAPTURE_INTENT_READERS about inbound messages just stored, (id, subject, fresh
    text) each, and keep the first answer per message beside the lexicon's reading. A reader answers a list as long
    as `items` (None for a message it could not read) or None when it is unavailable; anything else it does, an
    exception included, leaves the lexicon's reading. Runs after the messages are committed, so it can lose none.
    Returns how many messages got a reading."""
    pending = dict(enumerate(items))
    for path in django_settings.CAPTURE_INTENT_READERS:
        if not pending:
            break
        asked = list(pending.items())
        try:
            answers = import_string(path)(
                workspace=workspace, texts=[(subject, text) for _, (_, subject, text) in asked]
            )
        except Exception:
            logger.exception("capture: intent reader %s failed; the lexicon's reading stands", path)
            continue
        if not isinstance(answers, list) or len(answers) != len(asked):
            continue
        for (index, (pk, _, _)), reading in zip(asked, answers, strict=True):
            if not isinstance(reading, Reading) or reading.sentiment not in SENTIMENTS:
                continue
            cues = [cue for cue in CUES if cue in reading.cues]
            CapturedMessage.objects.filter(workspace=workspace, pk=pk, direction=Direction.INBOUND).update(
                llm_sentiment=reading.sentiment, llm_cues=cues, read_by=reading.source[:40]
            )
            del pending[index]
    return len(items) - len(pending)


def _capture_mailbox(workspace: Workspace, connection: MailboxConnection, directory: Directory) -> Counter[str]:
    counts: Counter[str] = Counter()
    cursor: dict[str, dict[str, Any]] = dict(connection.cursor or {})
    since = (timezone.now() - timedelta(days=django_settings.CAPTURE_LOOKBACK_DAYS)).date()
    batches: Iterator[tuple[str, dict[str, Any], list[imap.FetchedMail]]]

    def keep_tokens(secret: str) -> None:
        MailboxConnection.objects.filter(pk=connection.pk).update(secret=secret)  # the field encrypts it

    if connection.kind == MailboxKind.GMAIL:
        gmail_cursor = cursor.get(gmail.FOLDER) or {}
        settings = provider_settings(oauth.GOOGLE, oauth.MAIL)
        batches = gmail.fetch_new(settings, connection.secret, gmail_cursor, since=since, on_tokens=keep_tokens)
    elif connection.kind == MailboxKind.GRAPH:
        settings = provider_settings(oauth.MICROSOFT, oauth.MAIL)
        batches = graph.fetch_new(settings, connection.secret, cursor, since=since, on_refresh_token=keep_tokens)
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


# ---------------------------------------------------------------- a pass


def _run_connection(connection: MailboxConnection | CalendarConnection, run: Any) -> Counter[str]:
    try:
        counts = run()
    except (RefreshError, graph.GraphAuthError) as exc:
        # The provider refused to renew access: nothing will work until the member connects again.
        logger.warning("capture: %s lost its authorisation: %s", connection.uuid, exc)
        type(connection).objects.filter(pk=connection.pk).update(
            status=ConnectionStatus.BROKEN,
            last_error=f"The provider refused to renew access ({str(exc)[:500]}); connect it again.",
            last_run_at=timezone.now(),
        )
        return Counter()
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
    directory = Directory.load(workspace)
    idle = [ConnectionStatus.DISCONNECTED, ConnectionStatus.BROKEN]  # a broken one waits for the member
    mailboxes = MailboxConnection.objects.for_workspace(workspace).exclude(status__in=idle)
    calendars_ = CalendarConnection.objects.for_workspace(workspace).exclude(status__in=idle)
    if member is not None:
        mailboxes, calendars_ = mailboxes.filter(member=member), calendars_.filter(member=member)
    mail: Counter[str] = Counter()
    for mailbox in mailboxes.select_related("member").order_by("id"):
        mail += _run_connection(mailbox, lambda m=mailbox: _capture_mailbox(workspace, m, directory))
    with transaction.atomic():
        thread_signals_refresh(workspace=workspace, thread_keys=directory.touched_threads)
    intent_read(workspace=workspace, items=directory.to_read)  # the new inbound mail only: a re-run asks nothing
    meetings: Counter[str] = Counter()
    for calendar in calendars_.select_related("member").order_by("id"):
        meetings += _run_connection(calendar, lambda c=calendar: capture_calendar(workspace, c, directory))
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
