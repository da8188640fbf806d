"""Companies, contacts, pipelines and stages, deals with their change history, and activities."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Self

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenancy.models import Membership, Workspace


class WorkspaceQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Workspace | int) -> Self:
        workspace_id = workspace if isinstance(workspace, int) else workspace.id
        return self.filter(workspace_id=workspace_id)


class Company(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="companies")
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    location = models.CharField(max_length=120, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subsidiaries")
    owner = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attributes = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], condition=~Q(external_id=""), name="company_unique_external_id"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "name"])]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=150, blank=True)
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], condition=~Q(external_id=""), name="contact_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Pipeline(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=120)
    is_default = models.BooleanField(default=False)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="pipeline_unique_name"),
            models.UniqueConstraint(fields=["workspace"], condition=Q(is_default=True), name="pipeline_one_default"),
        ]

    def __str__(self) -> str:
        return self.name


class StageKind(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class ForecastCategory(models.TextChoices):
    """Where a deal sits in the forecast call (Salesforce's and Clari's categories). A stage gives its deals a
    default; a deal's owner may override it (the override is kept in the deal's history)."""

    COMMIT = "commit", "Commit"
    BEST_CASE = "best_case", "Best Case"
    PIPELINE = "pipeline", "Pipeline"
    OMITTED = "omitted", "Omitted"
    CLOSED = "closed", "Closed"


def default_forecast_category(kind: str, probability: float) -> str:
    """The category a stage of this kind and default probability starts with."""
    if kind == StageKind.WON:
        return ForecastCategory.CLOSED
    if kind == StageKind.LOST:
        return ForecastCategory.OMITTED
    if probability >= 70:
        return ForecastCategory.COMMIT
    if probability >= 40:
        return ForecastCategory.BEST_CASE
    return ForecastCategory.PIPELINE


class ForecastCategoryName(models.Model):
    """A workspace's own name for a forecast category (e.g. "Upside" for Best Case); missing = the default name."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="forecast_category_names")
    category = models.CharField(max_length=16, choices=ForecastCategory.choices)
    label = models.CharField(max_length=40)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "category"], name="forecast_category_name_unique")]

    def __str__(self) -> str:
        return f"{self.category} = {self.label}"


class Stage(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="stages")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=120)
    order = models.PositiveSmallIntegerField()
    default_probability = models.DecimalField(
        max_digits=5, decimal_places=2, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    kind = models.CharField(max_length=4, choices=StageKind.choices, default=StageKind.OPEN)
    forecast_category = models.CharField(
        max_length=16, choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["pipeline", "order"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_unique_name"),
            models.UniqueConstraint(fields=["pipeline", "order"], name="stage_unique_order"),
        ]

    def __str__(self) -> str:
        return self.name


class Outcome(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class DealQuerySet(WorkspaceQuerySet):
    def open(self) -> DealQuerySet:
        return self.filter(outcome=Outcome.OPEN)

    def closed(self) -> DealQuerySet:
        return self.exclude(outcome=Outcome.OPEN)

    def deleted(self) -> DealQuerySet:
        return self.filter(deleted_at__isnull=False)


class LiveDealManager(models.Manager.from_queryset(DealQuerySet)):  # type: ignore[misc]  # dynamic base
    """Deals that are not deleted: the default, so every reader and related manager hides deleted deals."""

    def get_queryset(self) -> DealQuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Deal(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="deals")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals")
    contacts = models.ManyToManyField(Contact, blank=True, related_name="deals")
    owner = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    # True when the amount is a guess (e.g. an imported open deal valued at its product's list price).
    amount_is_estimated = models.BooleanField(default=False)
    # The rep's own probability in percent; `probability_is_manual` says whether a person set it.
    probability = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    probability_is_manual = models.BooleanField(default=False)
    expected_close_date = models.DateField(null=True, blank=True)
    # Blank: the stage's category. Set by the owner to override it; every change is a DealHistory row.
    forecast_category = models.CharField(max_length=16, choices=ForecastCategory.choices, blank=True)
    next_step = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=4, choices=Outcome.choices, default=Outcome.OPEN)
    lost_reason = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=100, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft delete: a deleted deal is hidden everywhere (`objects`) and kept with its history for a restore.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = LiveDealManager()
    # Deleted deals too: only for the admins' restore path (crm.services.deal_restore, the deleted-deals page).
    all_objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], condition=~Q(external_id=""), name="deal_unique_external_id"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
        ]
        indexes = [
            models.Index(fields=["workspace", "outcome", "stage"]),
            models.Index(fields=["workspace", "owner"]),
            models.Index(fields=["workspace", "expected_close_date"]),
            models.Index(fields=["workspace", "closed_at"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.outcome == Outcome.OPEN

    @property
    def closed_on(self) -> date | None:
        """The day a closed deal closed: the close date its owner gave (never after the close was recorded), else
        the day it was recorded. None for an open deal, so no screen shows a lost deal "closing" in the future."""
        if self.outcome == Outcome.OPEN or self.closed_at is None:
            return None
        recorded = self.closed_at.date()
        given = self.expected_close_date
        return given if given is not None and given <= recorded else recorded

    def is_overdue(self, today: date) -> bool:
        """Still open past its expected close date."""
        return (
            self.outcome == Outcome.OPEN and self.expected_close_date is not None and self.expected_close_date < today
        )

    @property
    def effective_forecast_category(self) -> str:
        """The owner's override, else the stage's default."""
        return self.forecast_category or self.stage.forecast_category


class TrackedField(models.TextChoices):
    """The deal fields whose every change is kept in DealHistory (encoding and transitions: crm.history)."""

    STAGE = "stage", "Stage"
    AMOUNT = "amount", "Amount"
    EXPECTED_CLOSE_DATE = "expected_close_date", "Expected close date"
    OWNER = "owner", "Owner"
    PROBABILITY = "probability", "Probability"
    OUTCOME = "outcome", "Outcome"
    # Soft delete and restore: old/new are false/true; not in TRACKED_ATTRS, so as-of readers skip it.
    DELETED = "deleted", "Deleted"
    # The owner's forecast-category override (None: the stage's default). Recorded, not folded by as-of readers.
    FORECAST_CATEGORY = "forecast_category", "Forecast category"
    # The next step's text (None: blank), from a CRM's field history. Recorded, not folded by as-of readers.
    NEXT_STEP = "next_step", "Next step"


class ChangeSource(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    IMPORT = "import", "Import"
    SYSTEM = "system", "System"
    SYNC = "sync", "CRM sync"


class DealHistory(models.Model):
    """One change of one tracked field of a deal; append only.

    Values are stored as JSON in their simplest form (crm.history.encode/decode): stage and owner as
    ids, amount and probability as decimal strings, dates as ISO strings, outcome as its code. A deal's
    creation is one row per tracked field with a value, with `old_value` NULL.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="history")
    field = models.CharField(max_length=24, choices=TrackedField.choices)
    old_value = models.JSONField(null=True)
    new_value = models.JSONField(null=True)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=8, choices=ChangeSource.choices, default=ChangeSource.WEB)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["changed_at", "id"]
        verbose_name_plural = "deal history"
        indexes = [
            models.Index(fields=["deal", "changed_at"]),
            models.Index(fields=["workspace", "field", "changed_at"]),
            models.Index(fields=["workspace", "field", "id"]),  # the newest row of a field: the funnel's cache key
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} {self.field}: {self.old_value} → {self.new_value}"


class ActivityKind(models.TextChoices):
    EMAIL = "email", "Email"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    NOTE = "note", "Note"
    TASK = "task", "Task"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    INTERNAL = "internal", "Internal"


class Activity(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=8, choices=ActivityKind.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.OUTBOUND)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    contacts = models.ManyToManyField(Contact, blank=True, related_name="activities")
    owner = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    external_id = models.CharField(max_length=255, blank=True)
    # When it was recorded: a meeting booked for later counts (alerts) from the moment it is known, not before.
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], condition=~Q(external_id=""), name="activity_unique_external_id"
            ),
        ]
        indexes = [models.Index(fields=["deal", "occurred_at"]), models.Index(fields=["workspace", "occurred_at"])]

    def __str__(self) -> str:
        return self.subject


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """An import started from the web: the uploaded file, the chosen format, progress and the final report."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    fmt = models.CharField(max_length=16)
    mapping = models.JSONField(default=dict, blank=True)
    # Relative to settings.UPLOADS_DIR: a file, or the folder a .zip was unpacked into.
    path = models.CharField(max_length=500)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    skip_invalid = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    phase = models.CharField(max_length=16, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    report = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.fmt} import of {self.original_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in {ImportStatus.DONE, ImportStatus.FAILED}

    @property
    def is_stalled(self) -> bool:
        """Running for longer than any import takes: the worker died or was stopped mid-import."""
        started = self.started_at or self.created_at
        return self.status == ImportStatus.RUNNING and timezone.now() - started > timedelta(hours=4)

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return min(99, int(100 * self.done / self.total)) if self.total else 0


class SavedViewScreen(models.TextChoices):
    DEALS = "deals", "Deal list"
    BOARD = "board", "Board"


class SavedViewSharing(models.TextChoices):
    PERSONAL = "personal", "Only me"
    TEAM = "team", "My team"
    WORKSPACE = "workspace", "Everyone in the workspace"


class SavedView(models.Model):
    """A named set of filters, columns and sort of the deal list or the board: the screen's own query string.

    Personal views are their owner's; shared views are seen by a team or the whole workspace and changed by
    their owner or an admin (crm.services.saved_view_*). The query is re-validated by the screen's form on use,
    so a view naming an owner or stage that is gone filters nothing rather than failing.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="saved_views")
    owner = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="saved_views")
    screen = models.CharField(max_length=8, choices=SavedViewScreen.choices)
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000, blank=True)
    sharing = models.CharField(max_length=10, choices=SavedViewSharing.choices, default=SavedViewSharing.PERSONAL)
    team = models.ForeignKey("tenancy.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "screen", "name"], name="saved_view_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class CustomFieldKind(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    CHOICE = "choice", "Choice"


class CustomField(models.Model):
    """A typed field of the workspace's deals. Its values live in `Deal.attributes[key]` (imports already put
    extra columns there), so defining a field over an imported attribute types and labels what is already there."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="custom_fields")
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    kind = models.CharField(max_length=8, choices=CustomFieldKind.choices, default=CustomFieldKind.TEXT)
    choices = models.JSONField(default=list, blank=True)  # the allowed values of a choice field, in order
    order = models.PositiveSmallIntegerField(default=0)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["order", "label"]
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="custom_field_unique_key")]

    def __str__(self) -> str:
        return self.label


from crm.models_merge import DuplicateDismissal, DuplicateKind, MergeRecord  # noqa: E402, F401  -- merges and dismissals
