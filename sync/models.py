"""Live CRM connections (Salesforce, HubSpot), their runs, the record mapping, the push outbox and REST hooks."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from alerts.models import WebhookEndpoint
from crm.models import Deal
from tenancy.models import Workspace
from vectoros.crypto import EncryptedTextField


class Provider(models.TextChoices):
    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"


DEFAULT_BASE_URL = {Provider.SALESFORCE: "https://login.salesforce.com", Provider.HUBSPOT: "https://api.hubapi.com"}


class ConnectionStatus(models.TextChoices):
    OK = "ok", "Working"
    BROKEN = "broken", "Broken: reconnect"


class ConflictPolicy(models.TextChoices):
    CRM_WINS = "crm_wins", "The CRM wins"
    VECTOROS_WINS = "vectoros_wins", "VectorOS wins"


# Deal fields a VectorOS user may change and that go back to the CRM (sync/salesforce.py, sync/hubspot.py name them).
PUSHED_FIELDS = ("stage", "amount", "expected_close_date", "next_step", "forecast_category")


def default_mapping() -> dict[str, Any]:
    """Custom fields go under "attributes": {"CRM field": "deal attribute"} (copied into deals' attributes)."""
    return {}


class CrmConnectionQuerySet(models.QuerySet["CrmConnection"]):
    def for_workspace(self, workspace: Workspace) -> CrmConnectionQuerySet:
        return self.filter(workspace=workspace)


class CrmConnection(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="crm_connections")
    provider = models.CharField(max_length=12, choices=Provider.choices)
    base_url = models.URLField(max_length=300)
    instance_url = models.URLField(max_length=300, blank=True)
    client_id = models.CharField(max_length=300, blank=True)
    client_secret = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    access_token = EncryptedTextField(blank=True, default="")
    status = models.CharField(max_length=8, choices=ConnectionStatus.choices, default=ConnectionStatus.OK)
    last_error = models.TextField(blank=True)
    # Per object: the last modification stamp pulled and the id of the last record at that stamp.
    high_water = models.JSONField(default=dict, blank=True)
    # Provider facts learned while pulling (HubSpot stage ids by label, Salesforce API version).
    state = models.JSONField(default=dict, blank=True)
    field_mapping = models.JSONField(default=default_mapping, blank=True)
    interval_minutes = models.PositiveIntegerField(default=10)
    conflict_policy = models.CharField(max_length=14, choices=ConflictPolicy.choices, default=ConflictPolicy.CRM_WINS)
    last_success_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CrmConnectionQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "provider"], name="sync_one_connection_per_crm")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.workspace_id}"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    """One sync. A run that was killed stays "running"; the next run takes over its counts and goes on from
    the connection's high-water marks, which advance page by page in the same transaction as the writes."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="runs")
    full = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    counts = models.JSONField(default=dict)
    errors = models.JSONField(default=list)
    progress = models.CharField(max_length=200, blank=True)
    cursor = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} of connection {self.connection_id}"


class SyncedDeal(models.Model):
    """A deal that lives in the CRM too: its CRM id and, per pushed field, the value both sides agreed on at the
    last pull or push. A side whose value differs from it has changed since; both sides changed is a conflict."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="synced_deals")
    deal = models.OneToOneField(Deal, on_delete=models.CASCADE, related_name="synced")
    external_id = models.CharField(max_length=255)
    values = models.JSONField(default=dict)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "external_id"], name="sync_unique_external_deal")]

    def __str__(self) -> str:
        return self.external_id


class PushStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    DROPPED = "dropped", "Dropped (the CRM won a conflict)"


class PushOutbox(models.Model):
    """A VectorOS change on its way to the CRM. At most one pending row per deal (later changes merge into it),
    claimed with a conditional UPDATE before the PATCH, so each change is sent once and a deal's changes in order."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="pushes")
    synced = models.ForeignKey(SyncedDeal, on_delete=models.CASCADE, related_name="pushes")
    fields = models.JSONField(default=dict)  # our field -> the value to write
    status = models.CharField(max_length=8, choices=PushStatus.choices, default=PushStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["synced"], condition=Q(status__in=["pending", "sending"]), name="sync_one_open_push_per_deal"
            )
        ]

    def __str__(self) -> str:
        return f"push {self.pk} ({self.status})"


class SyncConflict(models.Model):
    """A field changed in both places since the last sync; which side won, and the value that lost."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="conflicts")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="sync_conflicts")
    field = models.CharField(max_length=30)
    crm_value = models.JSONField(null=True)
    local_value = models.JSONField(null=True)
    winner = models.CharField(max_length=14, choices=ConflictPolicy.choices)
    detected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field} of deal {self.deal_id}"


class HookEvent(models.TextChoices):
    DEAL_UPDATED = "deal.updated", "A deal changed"
    ALERT_RAISED = "alert.raised", "An alert was raised"
    FORECAST_COMPLETED = "forecast.completed", "A forecast finished"


class HookSubscription(models.Model):
    """A Zapier-style REST hook: one signed webhook endpoint (alerts' outbox delivers it) for one event."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    endpoint = models.OneToOneField(WebhookEndpoint, on_delete=models.CASCADE, related_name="hook")
    event = models.CharField(max_length=30, choices=HookEvent.choices)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id}"
