"""What the AI briefs keep: the briefs (cached by their facts), the tokens spent and each workspace's budget."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone

from tenancy.models import Workspace


class BriefKind(models.TextChoices):
    DEAL = "deal", "Deal brief"
    WEEKLY = "weekly", "Weekly pipeline narrative"
    FORECAST_CHANGE = "forecast_change", "Why the forecast changed"
    MEETING_PREP = "meeting_prep", "Meeting prep"
    ASK = "ask", "Ask VectorOS"
    INTENT = "intent", "Intent of captured mail"


class Brief(models.Model):
    """One written brief, valid while its facts are the same: `facts_hash` is the SHA-256 of their JSON.

    Only answers that went through the model (grounded, or replaced after failing the check twice) are
    kept; a brief that fell back for want of a key, budget or a working API is not, so it is retried.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=BriefKind.choices)
    facts_hash = models.CharField(max_length=64)
    text = models.TextField()
    model = models.CharField(max_length=100, blank=True)
    grounded = models.BooleanField(default=False)
    fallback = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "facts_hash"], name="insights_brief_unique_facts")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.facts_hash[:12]}"


class LLMUsage(models.Model):
    """One call to the model: tokens (cache writes and reads apart) and what it cost, for the workspace's budget."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=BriefKind.choices)
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_creation_input_tokens = models.PositiveIntegerField(default=0)
    cache_read_input_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "LLM usage"
        verbose_name_plural = "LLM usage"
        indexes = [models.Index(fields=["workspace", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.model}: ${self.cost_usd}"


class AIBudget(models.Model):
    """A workspace's own monthly spending limit on the model, in place of ANTHROPIC_MONTHLY_BUDGET_USD."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    monthly_usd = models.DecimalField(max_digits=10, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI budget"

    def __str__(self) -> str:
        return f"${self.monthly_usd} a month"
