"""`manage.py audit_log --workspace SLUG [--since DATE] [--json]`: the workspace's audit log, newest first."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.selectors import AuditFilters, audit_entries
from tenancy.commands import workspace_named


def parse_since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since {value!r} is not a date (YYYY-MM-DD) or a date and time (ISO 8601)")
        moment = datetime.combine(day, time.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.get_current_timezone())


class Command(BaseCommand):
    help = "Print a workspace's audit log (who changed what, when, before and after), newest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--since", help="only events at or after this date (YYYY-MM-DD or ISO date and time)")
        parser.add_argument("--limit", type=int, default=1000, help="at most this many events (default 1000)")
        parser.add_argument("--json", action="store_true", help="a JSON list of events")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        since = parse_since(options["since"]) if options["since"] else None
        entries = audit_entries(workspace, AuditFilters(since=since), limit=options["limit"])
        if options["json"]:
            self.stdout.write(json.dumps([e.as_json() for e in entries], indent=2, default=str))
            return
        for e in entries:
            what = ", ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in e.changes.items()) or json.dumps(e.details)
            self.stdout.write(f"{e.at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action} {e.object_model} {e.object_id} {what}")
