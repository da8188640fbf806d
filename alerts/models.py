"""Alerts raised by the monitors, their delivery outbox, and the settings that shape them."""

from __future__ import annotations

import secrets
import uuid
from datetime import date

from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import Deal, WorkspaceQuerySet
from tenancy.models import Membership, Workspace
from tenancy.scope import Scope
from vectoros.crypto import EncryptedTextField


class AlertKind(models.TextChoices):
    STALE = "stale", "Stale deal"
    STALLED = "stalled", "Stalled in stage"
    SLIPPING = "slipping", "Close date slipping"
    ENGAGEMENT = "engagement", "Engagement declining"
    MODEL_RISK = "model_risk", "Risk from the model"
    SINGLE_THREADED = "single_threaded", "Single-threaded"
    COVERAGE = "coverage", "Pipeline coverage below target"
    FORECAST_DROP = "forecast_drop", "Forecast P50 falling"
    MODEL_DRIFT = "model_drift", "Scoring model drift"
    RENEWAL = "renewal", "Renewal coming up"  # raised by customers.renewals, one per subscription and window


DEAL_KINDS = [
    AlertKind.STALE,
    AlertKind.STALLED,
    AlertKind.SLIPPING,
    AlertKind.ENGAGEMENT,
    AlertKind.MODEL_RISK,
    AlertKind.SINGLE_THREADED,
]
WORKSPACE_KINDS = [AlertKind.COVERAGE, AlertKind.FORECAST_DROP, AlertKind.MODEL_DRIFT]


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SNOOZED = "snoozed", "Snoozed"
    DISMISSED = "dismissed", "Dismissed"
    RESOLVED = "resolved", "Resolved"


# Every status but "resolved" holds the (deal, kind) slot: a dismissed alert is not raised again
# while its condition lasts.
ACTIVE_STATUSES = [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.SNOOZED, AlertStatus.DISMISSED]


# The responses each status allows (the page offers exactly these; the services refuse the rest).
ALERT_ACTIONS_BY_STATUS: dict[str, tuple[str, ...]] = {
    AlertStatus.OPEN: ("acknowledge", "snooze", "dismiss", "resolve"),
    AlertStatus.ACKNOWLEDGED: ("snooze", "dismiss", "resolve"),
    AlertStatus.SNOOZED: ("acknowledge", "snooze", "dismiss", "resolve"),
    AlertStatus.DISMISSED: ("reopen",),
    AlertStatus.RESOLVED: (),
}


class AlertQuerySet(WorkspaceQuerySet):
    def active(self) -> AlertQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def needing_attention(self, today: date) -> AlertQuerySet:
        """Open alerts, and snoozed ones whose snooze has run out."""
        return self.filter(Q(status=AlertStatus.OPEN) | Q(status=AlertStatus.SNOOZED, snoozed_until__lte=today))

    def visible_to(self, scope: Scope) -> AlertQuerySet:
        """Alerts on the deals in scope, plus workspace-level alerts for those who see everything."""
        live = self.for_workspace(scope.workspace.id).exclude(deal__deleted_at__isnull=False)
        return scope.visible(live, owner="deal__owner")


class Alert(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="alerts")
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.LOW)
    # Revenue at risk x urgency: orders alerts within a priority.
    score = models.FloatField(default=0)
    revenue_at_risk = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    seen = models.TextField(help_text="What was seen")
    why = models.TextField(help_text="Why it matters")
    next_step = models.TextField(help_text="Suggested next step")
    details = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    snoozed_until = models.DateField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    not_useful = models.BooleanField(default=False)
    feedback = models.CharField(max_length=500, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-priority", "-score", "-first_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "kind"],
                condition=Q(status__in=ACTIVE_STATUSES, deal__isnull=False),
                name="alert_one_active_per_deal_kind",
            ),
            models.UniqueConstraint(
                fields=["workspace", "kind"],
                condition=Q(status__in=ACTIVE_STATUSES, deal__isnull=True),
                name="alert_one_active_per_workspace_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "status", "priority"]),
            models.Index(fields=["workspace", "kind", "first_seen_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_priority_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def available_actions(self) -> tuple[str, ...]:
        """What a person may still do with this alert: a dismissed one can only be reopened, a resolved one nothing."""
        return ALERT_ACTIONS_BY_STATUS.get(self.status, ())


class MonitorRun(models.Model):
    """One pass of the monitors; keeps the win probabilities it saw so the next pass can spot drops."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    as_of = models.DateTimeField()
    started_at = models.DateTimeField(default=timezone.now)
    stats = models.JSONField(default=dict)
    win_probabilities = models.JSONField(default=dict)

    class Meta:
        ordering = ["-as_of", "-id"]
        get_latest_by = "as_of"

    def __str__(self) -> str:
        return f"monitor run of {self.workspace_id} at {self.as_of:%Y-%m-%d %H:%M}"


class AlertSettings(models.Model):
    """Per-workspace thresholds and the Slack channel for Critical alerts."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="alert_settings")
    thresholds = models.JSONField(default=dict, blank=True)
    # Pipeline coverage target: open pipeline due this quarter over the quarter's quota.
    quarter_target = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    slack_webhook_url = EncryptedTextField(blank=True, validators=[URLValidator(schemes=["https", "http"])])
    slack_enabled = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Alert settings of {self.workspace}"


class DigestFrequency(models.TextChoices):
    NONE = "none", "No email"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class NotificationPreference(models.Model):
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="notification_preference")
    digest = models.CharField(max_length=6, choices=DigestFrequency.choices, default=DigestFrequency.WEEKLY)
    min_priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)

    def __str__(self) -> str:
        return f"{self.membership}: {self.digest}"


def new_webhook_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpoint(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = EncryptedTextField(default=new_webhook_secret)
    send_alert_events = models.BooleanField(default=True)
    send_deal_events = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url


class Channel(models.TextChoices):
    EMAIL = "email", "Email digest"
    SLACK = "slack", "Slack"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # Claimed by a worker that died before recording the outcome; never re-sent (at most once).
    UNKNOWN = "unknown", "Outcome unknown"


class Delivery(models.Model):
    """One message to send, exactly once. `idempotency_key` makes creating it a no-op the second time;
    a worker claims it with a conditional UPDATE (pending → sending) before sending.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    membership = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=40, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return self.idempotency_key


class AlertCalibration(models.Model):
    """How each deal rule did on this workspace's own history (backtests at past month ends), the
    thresholds chosen from it, and which rules have not earned a priority above Low. Recomputed monthly;
    the latest row is the one the monitors use."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    computed_at = models.DateTimeField(default=timezone.now)
    as_of = models.DateTimeField()
    horizon_days = models.PositiveSmallIntegerField(default=60)
    origins = models.JSONField(default=list)  # the past dates backtested, ISO
    by_kind = models.JSONField(default=dict)  # kind -> pooled grade (precision, lift, intervals) and verdict
    thresholds = models.JSONField(default=dict)  # thresholds chosen where they carry signal
    base_rate = models.FloatField(null=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["workspace", "computed_at"])]

    def __str__(self) -> str:
        return f"alert calibration {self.workspace_id} {self.computed_at:%Y-%m-%d}"
