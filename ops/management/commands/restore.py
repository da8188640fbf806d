"""`manage.py restore --from FILE`: a backup into an empty database (then run `migrate` if the code is newer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from ops.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup` into an empty database and the data folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, type=Path, help="the backup file")

    def handle(self, *args: Any, **options: Any) -> None:
        connection.close()
        try:
            files = backup_restore(
                source=options["source"], db=settings.DATABASES["default"], data_dir=settings.DATA_DIR
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"restored {options['source']} into database {settings.DATABASES['default']['NAME']} and {files} files"
        )
