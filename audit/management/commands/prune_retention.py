"""`manage.py prune_retention [--json]`: remove forecast runs, monitor runs, import jobs and uploads, deliveries
and audit events older than their retention (VECTOROS_RETENTION_DAYS_*; also run daily)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from audit.retention import retention_prune


class Command(BaseCommand):
    help = "Remove what is older than the retention settings (VECTOROS_RETENTION_DAYS_*)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        removed = retention_prune()
        if options["json"]:
            self.stdout.write(json.dumps({"removed": removed, "days": settings.RETENTION_DAYS}, indent=2))
            return
        days = ", ".join(f"{k} {v}" for k, v in settings.RETENTION_DAYS.items())
        self.stdout.write(f"Retention (days): {days}")
        for kind, count in removed.items():
            self.stdout.write(f"  {kind.replace('_', ' ')}: {count} removed")
