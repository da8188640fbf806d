"""`manage.py prune_uploads`: remove uploaded import files nobody started within a day (also run on a schedule)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.importers.jobs import import_uploads_prune


class Command(BaseCommand):
    help = "Remove uploads of imports never started (older than a day) and upload folders no job uses."

    def handle(self, *args: Any, **options: Any) -> None:
        removed = import_uploads_prune()
        self.stdout.write(f"{removed} stale upload(s) removed.")
