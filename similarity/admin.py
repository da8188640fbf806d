from __future__ import annotations

from django.contrib import admin

from similarity.models import DealEmbedding


@admin.register(DealEmbedding)
class DealEmbeddingAdmin(admin.ModelAdmin):
    """Read-only: embeddings are computed by the worker, never edited by hand."""

    list_display = ("deal", "workspace", "outcome", "model_name", "embedded_at")
    list_filter = ("outcome", "model_name")
    exclude = ("embedding",)
    readonly_fields = ("deal", "workspace", "text_hash", "model_name", "embedded_at", "outcome", "closed_at")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
