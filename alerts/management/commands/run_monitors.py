"""Run one monitor pass now: `manage.py run_monitors --workspace SLUG [--as-of DATE] [--json]`."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from alerts.services import monitors_run
from tenancy.commands import workspace_named
from tenancy.models import Workspace


def parse_as_of(value: str | None, workspace: Workspace) -> datetime | None:
    """A date (end of that day in the workspace's time zone) or an ISO datetime; None for now."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).date()
            return datetime.combine(day, time(23, 59, 59), tzinfo=workspace.tz)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of must be a date like 2026-03-31, not {value!r}") from None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=workspace.tz)


class Command(BaseCommand):
    help = "Run every detector over a workspace's open deals now, creating, updating and resolving alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--as-of", help="judge the deals as they were at this date (YYYY-MM-DD)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        result = monitors_run(workspace=workspace, as_of=parse_as_of(options.get("as_of"), workspace))
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        alerts = result["alerts"]
        self.stdout.write(
            f"{result['deals_checked']} open deals checked in {result['seconds']} s: "
            f"{alerts['created']} alerts created, {alerts['updated']} updated, {alerts['resolved']} resolved"
        )
        for kind, count in result["by_kind"].items():
            self.stdout.write(f"  {kind}: {count} open")
        self.stdout.write("  " + ", ".join(f"{k}: {v}" for k, v in result["by_priority"].items()))
