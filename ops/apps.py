from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running VectorOS for real: health checks, Prometheus metrics, JSON logs, backup and restore."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"
