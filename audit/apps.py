from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from audit.context import track_background_tasks, track_management_commands

        track_management_commands()
        track_background_tasks()
