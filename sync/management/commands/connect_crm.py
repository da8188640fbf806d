"""Connect a workspace to Salesforce (refresh-token grant) or HubSpot (a private-app access token, or an OAuth app's
client id, client secret and refresh token)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync.models import Provider
from sync.services import connection_save
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Connect a workspace to Salesforce or HubSpot; the credentials are checked and stored encrypted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--provider", required=True, choices=Provider.values)
        parser.add_argument("--base-url", default="", help="the vendor's own by default; a sandbox or local server")
        parser.add_argument("--client-id", default="")
        parser.add_argument("--client-secret", default="")
        parser.add_argument("--refresh-token", default="")
        parser.add_argument("--access-token", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        try:
            conn = connection_save(
                workspace=workspace,
                provider=options["provider"],
                base_url=options["base_url"],
                client_id=options["client_id"],
                client_secret=options["client_secret"],
                refresh_token=options["refresh_token"],
                access_token=options["access_token"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        where = f" (instance {conn.instance_url})" if conn.instance_url else ""
        self.stdout.write(f"connected {workspace.slug} to {conn.get_provider_display()}{where}")
