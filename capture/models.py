"""Email and calendar capture (issue 15): connections per member, their cursors, and what they captured.

A captured message or meeting is stored once per workspace (by Message-ID / iCalendar UID), whatever number of
mailboxes or calendars saw it; `MessageSource` / `EventSource` say which connection saw it, so disconnecting one
mailbox deletes only what no other mailbox also received. The CRM side is an ordinary `crm.Activity` linked 1:1.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q, Value
from django.utils import timezone

from capture.signals import Signals
from crm.models import Activity, Company, Contact, Deal, WorkspaceQuerySet
from tenancy.models import Membership, Workspace
from vectoros.crypto import EncryptedTextField


class CapturePolicy(models.Model):
    """What a workspace lets capture keep. Absent row = the defaults below."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="capture_policy")
    store_bodies = models.BooleanField(default=False)  # False: subject, participants and a snippet only
    # One address (ann@x.com) or domain (x.com) per line: mail or meetings involving them are never stored.
    blocklist = models.TextField(blank=True)
    # Personal mail providers: their addresses are never stored, and mail with no other outside party is dropped.
    personal_domains = models.TextField(
        default="gmail.com\ngooglemail.com\nyahoo.com\nhotmail.com\noutlook.com\nlive.com\nicloud.com\nme.com\n"
        "aol.com\nproton.me\nprotonmail.com\ngmx.com\ngmx.de\nweb.de\nyandex.ru\nmail.ru\nqq.com"
    )

    objects = WorkspaceQuerySet.as_manager()

    def __str__(self) -> str:
        return f"capture policy of {self.workspace_id}"


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ERROR = "error", "Error"
    # The provider refused to refresh the OAuth token (revoked, expired): capture stops until the member reconnects.
    BROKEN = "broken", "Needs reconnecting"
    DISCONNECTED = "disconnected", "Disconnected"


class MailboxKind(models.TextChoices):
    IMAP = "imap", "IMAP"
    GMAIL = "gmail", "Gmail"
    GRAPH = "graph", "Microsoft 365"


class CalendarKind(models.TextChoices):
    CALDAV = "caldav", "CalDAV"
    GOOGLE = "google", "Google Calendar"
    GRAPH = "graph", "Microsoft 365"


class _Connection(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    # imap: host/port/tls/username/folders; caldav: url/username. Secrets live in `secret` (encrypted).
    settings = models.JSONField(default=dict, blank=True)
    secret = EncryptedTextField(blank=True)  # password or OAuth refresh token
    # Provider cursor: imap {folder: {"uidvalidity", "uid"}}; gmail {"history_id"}; graph {"delta_link"};
    # caldav {calendar_url: {"sync_token", "ctag"}}.
    cursor = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE)
    last_error = models.TextField(blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status != ConnectionStatus.DISCONNECTED


class MailboxConnection(_Connection):
    kind = models.CharField(max_length=8, choices=MailboxKind.choices, default=MailboxKind.IMAP)
    address = models.EmailField()  # the mailbox's own address (the member's)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "address"],
                condition=~Q(status="disconnected"),
                name="capture_one_live_mailbox",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.address}"


class CalendarConnection(_Connection):
    kind = models.CharField(max_length=8, choices=CalendarKind.choices, default=CalendarKind.CALDAV)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.settings.get('url', '')}"


class CaptureState(models.TextChoices):
    MATCHED = "matched", "Attached to a deal"
    UNASSIGNED = "unassigned", "Waiting for the rep to choose a deal"


class CapturedMessage(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=500)
    thread_key = models.CharField(max_length=500, db_index=True)  # the thread's root Message-ID
    in_reply_to = models.CharField(max_length=500, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    from_address = models.EmailField(max_length=254, blank=True)
    to_addresses = models.JSONField(default=list, blank=True)
    cc_addresses = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField()
    direction = models.CharField(max_length=8)  # crm.models.Direction
    snippet = models.CharField(max_length=300, blank=True)
    member = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contacts = models.ManyToManyField(Contact, blank=True, related_name="+")
    activity = models.OneToOneField(
        Activity, null=True, blank=True, on_delete=models.SET_NULL, related_name="captured_message"
    )
    state = models.CharField(max_length=12, choices=CaptureState.choices)
    # Signals
    thread_length = models.PositiveIntegerField(default=1)  # messages of the thread stored so far, this one included
    response_seconds = models.PositiveIntegerField(null=True, blank=True)  # since the message it answers
    replied_by = models.EmailField(blank=True)  # who answered the other side (set on replies)
    sentiment = models.FloatField(null=True, blank=True)  # VADER compound, -1..1 (inbound only)
    cues = models.JSONField(default=list, blank=True)  # ["pricing", "legal", "competitor", "timing", "not_now"]
    # A model's reading of the same inbound message (settings.CAPTURE_INTENT_READERS), kept beside the lexicon's;
    # when set it is the one shown and fed to the engagement signals. "" = not read (no key, budget, an error).
    # Database defaults: the version still serving during a deploy inserts rows without these columns.
    llm_sentiment = models.CharField(max_length=8, blank=True, db_default="")  # positive | neutral | negative
    llm_cues = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()))
    read_by = models.CharField(max_length=40, blank=True, db_default="")  # the reader ("Claude"); "" = the lexicon
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "message_id"], name="capture_message_once_per_workspace")
        ]
        indexes = [models.Index(fields=["workspace", "state", "member"])]

    def __str__(self) -> str:
        return self.subject or self.message_id

    @property
    def reading_source(self) -> str:
        return self.read_by if self.llm_sentiment else "lexicon"

    @property
    def sentiment_label(self) -> str | None:
        """positive | neutral | negative: the model's reading when there is one, else the lexicon's."""
        if self.llm_sentiment:
            return self.llm_sentiment
        return Signals(self.sentiment, []).label if self.sentiment is not None else None

    @property
    def shown_cues(self) -> list[str]:
        return list(self.llm_cues) if self.llm_sentiment else list(self.cues)


class MessageSource(models.Model):
    """One mailbox's copy of a captured message (folder + UID)."""

    message = models.ForeignKey(CapturedMessage, on_delete=models.CASCADE, related_name="sources")
    connection = models.ForeignKey(MailboxConnection, on_delete=models.CASCADE, related_name="sources")
    folder = models.CharField(max_length=200)
    uid = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "connection"], name="capture_message_source_once"),
        ]

    def __str__(self) -> str:
        return f"{self.folder}/{self.uid}"


class MeetingOutcome(models.TextChoices):
    BOOKED = "booked", "Booked"
    HELD = "held", "Held"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


class CapturedEvent(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    ical_uid = models.CharField(max_length=500)
    etag = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=200, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    organizer = models.EmailField(blank=True)
    attendees = models.JSONField(default=list, blank=True)  # [{"email", "status"}] (outside parties only)
    status = models.CharField(max_length=12, blank=True)  # iCalendar STATUS (CONFIRMED, TENTATIVE, CANCELLED)
    member = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contacts = models.ManyToManyField(Contact, blank=True, related_name="+")
    activity = models.OneToOneField(
        Activity, null=True, blank=True, on_delete=models.SET_NULL, related_name="captured_event"
    )
    state = models.CharField(max_length=12, choices=CaptureState.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "ical_uid"], name="capture_event_once_per_workspace")
        ]

    def __str__(self) -> str:
        return self.summary or self.ical_uid

    @property
    def outcome_label(self) -> str:
        return str(MeetingOutcome(self.outcome()).label).lower()

    def outcome(self, now: datetime | None = None) -> str:
        if self.status.upper() == "CANCELLED":
            return MeetingOutcome.CANCELLED
        if self.starts_at > (now or timezone.now()):
            return MeetingOutcome.BOOKED
        # Every outside attendee declined (or the provider marked them absent): nobody from their side came.
        answers = [str(a.get("status", "")).upper() for a in self.attendees]
        if answers and all(a in {"DECLINED", "NO-SHOW"} for a in answers):
            return MeetingOutcome.NO_SHOW
        return MeetingOutcome.HELD


class EventSource(models.Model):
    event = models.ForeignKey(CapturedEvent, on_delete=models.CASCADE, related_name="sources")
    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="sources")
    href = models.CharField(max_length=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "connection"], name="capture_event_source_once")]

    def __str__(self) -> str:
        return self.href


class CalendarSeries(models.Model):
    """A recurring meeting as its calendar holds it (one object, many occurrences). Kept so that each pass can add
    the occurrences that came into the capture window since, without the server sending the series again."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="series")
    href = models.CharField(max_length=500)
    etag = models.CharField(max_length=200, blank=True)
    data = models.TextField()
    expanded_until = models.DateTimeField()  # occurrences starting before this are stored

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "href"], name="capture_series_once")]

    def __str__(self) -> str:
        return self.href


class ContactSuggestion(models.Model):
    """An unknown address at a known company's domain, seen in captured mail: offered, never created silently."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    seen_count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    dismissed = models.BooleanField(default=False)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "email"], name="capture_one_suggestion_per_email")]

    def __str__(self) -> str:
        return self.email
