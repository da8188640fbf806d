"""Scoring model versions, the latest score of each open deal, reps' flags, and captured outcomes."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import Deal, WorkspaceQuerySet
from tenancy.models import Membership, Workspace


class ModelStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANDIDATE = "candidate", "Not activated"
    RETIRED = "retired", "Retired"


class ScoringModel(models.Model):
    """One trained version: its kind, metrics on held-out deals, training window, features and artifact."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="scoring_models")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)  # xgboost, logistic, stage_rate, stage_segment
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE)
    is_fallback = models.BooleanField(default=False)
    # Trained on synthetic bootstrap data (demo only); pages say so.
    is_synthetic = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    decision = models.TextField(blank=True)  # why it was (not) activated
    trained_at = models.DateTimeField(default=timezone.now)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    n_won = models.PositiveIntegerField(default=0)
    n_lost = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    feature_names = models.JSONField(default=list, blank=True)
    importance = models.JSONField(default=dict, blank=True)
    reliability = models.JSONField(default=list, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "version"], name="scoringmodel_unique_version"),
            models.UniqueConstraint(fields=["workspace"], condition=Q(status="active"), name="scoringmodel_one_active"),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.kind} ({self.status})"


class DealScore(models.Model):
    """The latest score of a deal (replaced on each scoring run)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.OneToOneField(Deal, on_delete=models.CASCADE, related_name="score")
    model = models.ForeignKey(ScoringModel, null=True, on_delete=models.SET_NULL, related_name="scores")
    probability = models.FloatField()
    low = models.FloatField()
    high = models.FloatField()
    confidence = models.CharField(max_length=10)  # low / medium / high
    factors = models.JSONField(default=dict, blank=True)  # {"up": [[label, weight]], "down": [...]}
    features = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["workspace", "scored_at"])]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.probability:.2f}"


class FlagDirection(models.TextChoices):
    TOO_HIGH = "too_high", "Too high"
    TOO_LOW = "too_low", "Too low"


class ScoreFlag(models.Model):
    """A rep says a score is wrong; when the deal closes, the outcome shows who was right."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="score_flags")
    flagged_by = models.ForeignKey(Membership, null=True, on_delete=models.SET_NULL, related_name="+")
    direction = models.CharField(max_length=8, choices=FlagDirection.choices)
    reason = models.TextField()
    score_at_flag = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=4, blank=True)  # won/lost once the deal closes
    rep_was_right = models.BooleanField(null=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.deal_id} {self.direction}"


class OutcomeRecord(models.Model):
    """A closed deal's outcome with its features and last score just before it closed (the learning loop)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    deal = models.OneToOneField(Deal, on_delete=models.CASCADE, related_name="outcome_record")
    outcome = models.CharField(max_length=4)
    closed_at = models.DateTimeField()
    score = models.FloatField(null=True)
    model = models.ForeignKey(ScoringModel, null=True, on_delete=models.SET_NULL, related_name="+")
    features = models.JSONField(default=dict)
    captured_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["workspace", "closed_at"])]

    def __str__(self) -> str:
        return f"{self.deal_id} {self.outcome}"


class DriftReport(models.Model):
    """Population stability per feature and rolling accuracy since training, computed nightly."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="drift_reports")
    computed_at = models.DateTimeField(default=timezone.now)
    psi = models.JSONField(default=dict)
    n_closed_since = models.PositiveIntegerField(default=0)
    brier_since = models.FloatField(null=True)
    auc_since = models.FloatField(null=True)
    # What drifted, in words; empty when nothing did. The alerts app raises its model-drift alert from it.
    summary = models.TextField(blank=True, default="")

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-computed_at"]

    def __str__(self) -> str:
        return f"drift {self.model_id} {self.computed_at:%Y-%m-%d}"
