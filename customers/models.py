"""Customers after the signature: subscriptions, usage, support tickets, churn events, the churn model."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import Company, Deal, WorkspaceQuerySet
from tenancy.models import Workspace

DEFAULT_RENEWAL_LEAD_DAYS = 120
RENEWAL_WINDOWS = (90, 60, 30)  # alert windows, days before the renewal date


def _unique_external_id(model: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["workspace", "external_id"], condition=~Q(external_id=""), name=f"{model}_unique_external_id"
    )


class Customer(models.Model):
    """A company that pays us: one per crm Company. Health and churn risk are stored by `customers_refresh`."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="customers")
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="customer")
    external_id = models.CharField(max_length=255, blank=True)
    since = models.DateField(null=True, blank=True)
    # The churn label where the source gives one per customer (a CSV of customers); None when unknown.
    churned = models.BooleanField(null=True)
    churned_on = models.DateField(null=True, blank=True)
    # Mapped columns of a customer CSV (numbers stay numbers): the churn model's inputs for such data.
    attributes = models.JSONField(default=dict, blank=True)
    health = models.FloatField(null=True, blank=True)  # 0-100
    health_drivers = models.JSONField(default=list, blank=True)
    churn_risk = models.FloatField(null=True, blank=True)  # probability of not renewing
    churn_drivers = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["company__name"]
        constraints = [_unique_external_id("customer")]

    def __str__(self) -> str:
        return self.company.name if self.company_id else self.external_id


class BillingPeriod(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    ANNUAL = "annual", "Annual"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    CHURNED = "churned", "Churned"


class Subscription(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="subscriptions")
    external_id = models.CharField(max_length=255, blank=True)
    plan = models.CharField(max_length=100, blank=True)
    seats = models.PositiveIntegerField(default=0)
    mrr = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    arr = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    start_date = models.DateField()
    # The end of the current term: the renewal date. Empty for an open-ended (evergreen) subscription.
    end_date = models.DateField(null=True, blank=True)
    billing_period = models.CharField(max_length=10, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY)
    auto_renew = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE)
    # Whether this term ended in churn (known once it ended); None while open or unknown.
    churned = models.BooleanField(null=True)
    is_trial = models.BooleanField(default=False)
    upgraded = models.BooleanField(default=False)
    downgraded = models.BooleanField(default=False)
    renewal_deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date"]
        constraints = [_unique_external_id("subscription")]
        indexes = [models.Index(fields=["workspace", "end_date"])]

    def __str__(self) -> str:
        return f"{self.plan} ({self.external_id or self.uuid})"

    @property
    def renewal_date(self) -> date | None:
        return self.end_date

    def is_live_on(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or self.end_date >= day)


class UsageRecord(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage")
    subscription = models.ForeignKey(Subscription, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255, blank=True)
    date = models.DateField()
    metric = models.CharField(max_length=100)  # a feature name or a metric ("active_seats", "api_calls")
    value = models.FloatField()
    duration_seconds = models.FloatField(null=True, blank=True)
    errors = models.PositiveIntegerField(default=0)
    team = models.CharField(max_length=100, blank=True)  # the department using it, when known (expansion signal)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["date"]
        constraints = [_unique_external_id("usage")]
        indexes = [models.Index(fields=["customer", "date"])]

    def __str__(self) -> str:
        return f"{self.metric} {self.value:g} on {self.date}"


class TicketPriority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class SupportTicket(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tickets")
    external_id = models.CharField(max_length=255, blank=True)
    priority = models.CharField(max_length=6, choices=TicketPriority.choices, default=TicketPriority.MEDIUM)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_hours = models.FloatField(null=True, blank=True)
    first_response_minutes = models.FloatField(null=True, blank=True)
    satisfaction = models.FloatField(null=True, blank=True)  # 1-5
    escalated = models.BooleanField(default=False)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [_unique_external_id("ticket")]

    def __str__(self) -> str:
        return f"{self.get_priority_display()} ticket of {self.opened_at:%Y-%m-%d}"


class ChurnEvent(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="churn_events")
    external_id = models.CharField(max_length=255, blank=True)
    date = models.DateField()
    reason = models.CharField(max_length=100, blank=True)
    refund = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    feedback = models.TextField(blank=True)
    is_reactivation = models.BooleanField(default=False)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-date"]
        constraints = [_unique_external_id("churn_event")]

    def __str__(self) -> str:
        return f"churn on {self.date}: {self.reason}"


class PaymentStatus(models.TextChoices):
    PAID = "paid", "Paid on time"
    LATE = "late", "Paid late"
    FAILED = "failed", "Failed"


class Payment(models.Model):
    """An invoice's outcome: paid on time, paid late or failed (a health driver and a churn feature)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="payments")
    external_id = models.CharField(max_length=255, blank=True)
    due_date = models.DateField()
    paid_on = models.DateField(null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    status = models.CharField(max_length=6, choices=PaymentStatus.choices)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-due_date"]
        constraints = [_unique_external_id("payment")]
        indexes = [models.Index(fields=["customer", "due_date"])]

    def __str__(self) -> str:
        return f"{self.get_status_display()} payment due {self.due_date}"


class CustomerSettings(models.Model):
    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="customer_settings")
    # How long before a renewal date its renewal opportunity is opened.
    renewal_lead_days = models.PositiveSmallIntegerField(default=DEFAULT_RENEWAL_LEAD_DAYS)

    def __str__(self) -> str:
        return f"Customer settings of {self.workspace_id}"


class RenewalAlertMark(models.Model):
    """The idempotency key of a renewal alert: one per subscription and window, ever."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    window = models.PositiveSmallIntegerField()
    alert_id = models.BigIntegerField(null=True)
    as_of = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "window"], name="renewal_alert_once")]

    def __str__(self) -> str:
        return f"{self.window}-day renewal alert of subscription {self.subscription_id}"


class ChurnModel(models.Model):
    """A trained churn model as JSON (XGBoost's own JSON and numbers, never pickle) and its held-out report."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=False)
    kind = models.CharField(max_length=20)  # "xgboost" or "segment_rates"
    artifact = models.JSONField(default=dict)
    report = models.JSONField(default=dict)
    reason = models.TextField(blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace"], condition=Q(is_active=True), name="churn_model_one_active")
        ]

    def __str__(self) -> str:
        return f"{self.kind} churn model {self.uuid.hex[:8]}"
