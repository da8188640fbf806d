"""The weekly forecast call: a workspace's due day, and every version of every member's call per period.

Imported by `forecasting.models` so Django registers the models; kept apart so the call's tables read alone.
"""

from __future__ import annotations

import uuid
from datetime import time

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import WorkspaceQuerySet
from tenancy.models import Membership, Workspace


class CallSettings(models.Model):
    """When the weekly call is due: a weekday (0 = Monday) and a time, in the workspace's time zone."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="call_settings")
    due_weekday = models.PositiveSmallIntegerField(default=0, validators=[MinValueValidator(0), MaxValueValidator(6)])
    due_time = models.TimeField(default=time(12, 0))

    def __str__(self) -> str:
        return f"calls of {self.workspace} due weekday {self.due_weekday} {self.due_time:%H:%M}"


class CallSubmissionQuerySet(WorkspaceQuerySet):
    def visible_to(self, scope) -> CallSubmissionQuerySet:
        """Calls of the members whose deals the scope sees (a rep: their team; a manager: the subtree)."""
        return scope.visible(self, owner="member")  # type: ignore[no-any-return]


class CallSubmission(models.Model):
    """One version of one member's call for one period. Append-only: a change is a new version.

    `member` is whose call it is (their own deals, or the subtree a manager leads, or the workspace for an
    owner/admin); `submitted_by` who entered it (a manager adjusting a rep's call gives a `reason`).
    `model` keeps the model's view of that scope when the version was entered: {"run", "p50", "q"}.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="call_submissions")
    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="calls")
    period_start = models.DateField()
    period_end = models.DateField()
    version = models.PositiveIntegerField()
    commit = models.DecimalField(max_digits=16, decimal_places=2)
    best_case = models.DecimalField(max_digits=16, decimal_places=2)
    most_likely = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    submitted_by = models.ForeignKey(Membership, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    model = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CallSubmissionQuerySet.as_manager()

    class Meta:
        ordering = ["period_start", "member_id", "version"]
        indexes = [models.Index(fields=["workspace", "period_start", "member"])]
        constraints = [
            models.UniqueConstraint(fields=["member", "period_start", "period_end", "version"], name="call_version"),
            models.CheckConstraint(condition=Q(commit__gte=0), name="call_commit_not_negative"),
            models.CheckConstraint(
                condition=Q(best_case__gte=models.F("commit")), name="call_best_case_at_least_commit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.period_start} v{self.version}: {self.commit}/{self.best_case}"

    @property
    def adjusted(self) -> bool:
        return self.submitted_by_id is not None and self.submitted_by_id != self.member_id

    @property
    def point(self) -> float:
        """The single figure error and bias are measured on: most likely when given, else the commit."""
        return float(self.most_likely if self.most_likely is not None else self.commit)
