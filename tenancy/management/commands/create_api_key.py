"""`manage.py create_api_key --workspace SLUG --name NAME [--json]`: prints the new key once."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.models import Workspace
from tenancy.services import api_key_create


class Command(BaseCommand):
    help = "Create a REST API key for a workspace. Only its hash is stored: copy the key now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--name", required=True, help="what the key is for, e.g. 'BI export'")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"no workspace with slug {options['workspace']!r}")
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        key, raw = api_key_create(workspace=workspace, name=name)
        if options["json"]:
            self.stdout.write(
                json.dumps({"id": str(key.uuid), "name": key.name, "workspace": workspace.slug, "key": raw})
            )
        else:
            self.stdout.write(raw)
            self.stderr.write(f"API key “{key.name}” for {workspace.slug}; it is shown only this once.")
