"""Sentence embeddings of deals, one row per deal, for similar-deal search by meaning."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

from crm.models import Deal, Outcome
from tenancy.models import Workspace

DIMENSIONS = 384


class DealEmbeddingQuerySet(models.QuerySet["DealEmbedding"]):
    def for_workspace(self, workspace: Workspace | int) -> DealEmbeddingQuerySet:
        workspace_id = workspace if isinstance(workspace, int) else workspace.id
        return self.filter(workspace_id=workspace_id)


class DealEmbedding(models.Model):
    """The embedding of a deal's text (see similarity.text), normalised to unit length.

    `text_hash` is the idempotency key: a refresh whose text hashes the same (with the same model) does
    nothing. `workspace`, `outcome` and `closed_at` copy the deal's so that searches filter on this
    table alone (see similarity.selectors for the query plan).
    """

    deal = models.OneToOneField(Deal, on_delete=models.CASCADE, primary_key=True, related_name="embedding")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    embedding = VectorField(dimensions=DIMENSIONS)
    text_hash = models.CharField(max_length=64)
    model_name = models.CharField(max_length=100)
    embedded_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=4, choices=Outcome.choices, default=Outcome.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = DealEmbeddingQuerySet.as_manager()

    class Meta:
        indexes = [
            # Every search filters on the workspace (and often the outcome) and then orders that subset
            # exactly by distance: see similarity.selectors.
            models.Index(fields=["workspace", "outcome", "closed_at"], name="similarity_ws_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"embedding of deal {self.deal_id}"
