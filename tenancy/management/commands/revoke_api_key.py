"""`manage.py revoke_api_key --workspace SLUG --name NAME`: every active key of that name stops working at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.commands import workspace_named
from tenancy.models import ApiKey
from tenancy.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke a workspace's REST API key(s) by name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--name", required=True, help="the key's name, as listed on the API keys page")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        keys = list(ApiKey.objects.filter(workspace=workspace, name=options["name"], revoked_at__isnull=True))
        if not keys:
            raise CommandError(f"{workspace.slug} has no unrevoked API key named {options['name']!r}")
        for key in keys:
            api_key_revoke(key=key)
        self.stdout.write(f"Revoked {len(keys)} key(s) named {options['name']!r} in {workspace.slug}.")
