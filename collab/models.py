"""Comments with @mentions, notifications and where they are delivered, and dated tasks on deals."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import Company, Deal, WorkspaceQuerySet
from tenancy.models import Membership, Workspace

if TYPE_CHECKING:
    from tenancy.scope import Scope


class CommentQuerySet(WorkspaceQuerySet):
    def visible_to(self, scope: Scope) -> CommentQuerySet:
        """Comments on deals in sight, and every comment on a company (companies are seen workspace-wide)."""
        return self.filter(Q(company__isnull=False) | Q(deal__in=scope.deals()))


class Comment(models.Model):
    """A member's comment on a deal or on a company (a customer's comments are its company's)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    mentions = models.ManyToManyField(Membership, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(deal__isnull=False, company__isnull=True) | Q(deal__isnull=True, company__isnull=False),
                name="collab_comment_on_one_record",
            )
        ]
        indexes = [models.Index(fields=["deal", "created_at"]), models.Index(fields=["company", "created_at"])]

    def __str__(self) -> str:
        return self.body[:50]


class NotificationKind(models.TextChoices):
    MENTION = "mention", "Mentions"
    ASSIGNMENT = "assignment", "Deals assigned to me"
    ALERT = "alert", "High and Critical alerts on my deals"


class DeliveryState(models.TextChoices):
    """Email and push are sent at most once: pending → sending (claimed) → sent or failed; never back."""

    NONE = "", "Not wanted"
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class NotificationQuerySet(WorkspaceQuerySet):
    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=12, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=500, blank=True)  # a path inside this site
    # One notification per event and recipient: a re-run of a hook finds the key taken and adds nothing.
    key = models.CharField(max_length=200, unique=True)
    in_app = models.BooleanField(default=True)
    email_state = models.CharField(max_length=8, choices=DeliveryState.choices, blank=True)
    push_state = models.CharField(max_length=8, choices=DeliveryState.choices, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.title


def default_channels() -> dict[str, list[str]]:
    return {
        NotificationKind.MENTION: ["app", "email", "push"],
        NotificationKind.ASSIGNMENT: ["app", "email"],
        NotificationKind.ALERT: ["app", "push"],
    }


class NotificationSettings(models.Model):
    """Where a member wants each kind of notification: "app" (the bell), "email", "push" (Critical alerts only)."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="collab_settings")
    channels = models.JSONField(default=default_channels)

    def __str__(self) -> str:
        return f"notification settings of {self.membership_id}"

    def wants(self, kind: str, channel: str) -> bool:
        chosen = self.channels.get(kind, default_channels().get(kind, []))
        return channel in chosen


class PushSubscription(models.Model):
    """A browser's Web Push subscription (the PushSubscription JSON), for one member."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "endpoint"], name="collab_push_once_per_member_endpoint")
        ]

    def __str__(self) -> str:
        return self.endpoint[:60]

    def subscription_info(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class TaskQuerySet(WorkspaceQuerySet):
    def open(self) -> TaskQuerySet:
        return self.filter(done=False)

    def visible_to(self, scope: Scope) -> TaskQuerySet:
        """Tasks follow their deal: a deal out of sight (or deleted) hides its tasks."""
        return scope.visible(self.filter(deal__deleted_at__isnull=True), owner="deal__owner")


class Task(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    due_date = models.DateField(null=True, blank=True)
    assignee = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["done", "due_date", "created_at", "id"]
        indexes = [models.Index(fields=["assignee", "done", "due_date"]), models.Index(fields=["deal", "done"])]

    def __str__(self) -> str:
        return self.title

    def is_overdue(self, today: date) -> bool:
        return not self.done and self.due_date is not None and self.due_date < today
