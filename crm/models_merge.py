"""Merges of duplicate records (each can be undone for 30 days) and pairs a person said are not duplicates.

Imported by crm.models, so Django finds them; the merge itself is crm.merge, the suggestions crm.duplicates.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from tenancy.models import Membership, Workspace

MERGE_UNDO_DAYS = 30


class DuplicateKind(models.TextChoices):
    COMPANIES = "companies", "Companies"
    CONTACTS = "contacts", "Contacts"
    DEALS = "deals", "Deals"


class MergeRecordQuerySet(models.QuerySet["MergeRecord"]):
    def for_workspace(self, workspace: Workspace | int) -> MergeRecordQuerySet:
        return self.filter(workspace_id=workspace if isinstance(workspace, int) else workspace.id)


class MergeRecord(models.Model):
    """Record `source` merged into `target`: what moved (model, field, row ids), what was set aside, and the
    merged record as it was, so that an undo puts every row back exactly.

    `moved` is [{"model": "crm.deal", "field": "company_id", "pks": [..]}]; `set_aside` and `source_row` are
    Django-serialised rows (JSON) recreated by an undo with their own ids.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=DuplicateKind.choices)
    target_uuid = models.UUIDField()
    source_uuid = models.UUIDField()
    target_label = models.CharField(max_length=200)
    source_label = models.CharField(max_length=200)
    source_row = models.JSONField(default=list, blank=True)
    moved = models.JSONField(default=list, blank=True)
    set_aside = models.JSONField(default=list, blank=True)
    merged_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    merged_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = MergeRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-merged_at"]
        indexes = [models.Index(fields=["workspace", "kind", "-merged_at"], name="crm_merge_ws_kind_at")]

    def __str__(self) -> str:
        return f"{self.source_label} merged into {self.target_label}"

    @property
    def undo_until(self) -> object:
        return self.merged_at + timedelta(days=MERGE_UNDO_DAYS)

    @property
    def can_undo(self) -> bool:
        return self.undone_at is None and timezone.now() <= self.merged_at + timedelta(days=MERGE_UNDO_DAYS)

    @property
    def moved_count(self) -> int:
        return sum(len(entry["pks"]) for entry in self.moved)


class DuplicateDismissal(models.Model):
    """A pair a person said is not a duplicate: never suggested again. `first` < `second` (as text)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=DuplicateKind.choices)
    first = models.UUIDField()
    second = models.UUIDField()
    dismissed_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    dismissed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "first", "second"], name="duplicate_dismissed_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.first} is not {self.second}"
