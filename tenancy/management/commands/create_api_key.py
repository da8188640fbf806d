"""`manage.py create_api_key --workspace SLUG --name NAME [--scope read|write] [--expires-in-days N] [--json]`.

Prints the new key once. A key made here has no maker, so it sees the whole workspace; it reads only unless
`--scope write` is given.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tenancy.commands import workspace_named
from tenancy.models import ApiKeyScope
from tenancy.services import api_key_create


class Command(BaseCommand):
    help = "Create a workspace-wide REST API key. Only its hash is stored: copy the key now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--name", required=True, help="what the key is for, e.g. 'BI export'")
        parser.add_argument(
            "--scope", choices=ApiKeyScope.values, default=ApiKeyScope.READ, help="read (default) or write"
        )
        parser.add_argument("--expires-in-days", type=int, default=None, help="the key stops working after N days")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        days = options["expires_in_days"]
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--expires-in-days must be between 1 and 3650")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            key, raw = api_key_create(workspace=workspace, name=name, scope=options["scope"], expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if options["json"]:
            body = {
                "id": str(key.uuid),
                "name": key.name,
                "workspace": workspace.slug,
                "scope": key.scope,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                "key": raw,
            }
            self.stdout.write(json.dumps(body))
        else:
            self.stdout.write(raw)
            expiry = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
            self.stderr.write(
                f"API key “{key.name}” ({key.get_scope_display().lower()}{expiry}) for {workspace.slug}; "
                "it is shown only this once."
            )
