from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running VectorOS for real: health checks, Prometheus metrics, JSON logs, backup and restore."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django_q.signals import post_execute_in_worker, post_spawn

        from ops.memory import freeze_after_new_imports

        if settings.Q_CLUSTER.get("sync"):  # tasks run inline in the caller's process: leave its collector alone
            return
        post_spawn.connect(freeze_after_new_imports, dispatch_uid="ops.freeze_worker_start")
        post_execute_in_worker.connect(freeze_after_new_imports, dispatch_uid="ops.freeze_after_task")
