"""`manage.py backup --to FILE`: the database plus trained models and uploads, in one tar file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Write a backup (database, trained models, uploads) to one file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, type=Path, help="the backup file to write (a tar)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = backup_create(to=options["to"], db=settings.DATABASES["default"], data_dir=settings.DATA_DIR)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"backup written to {summary.path} ({summary.size_bytes / 1e6:.1f} MB, {summary.files} files)"
        )
