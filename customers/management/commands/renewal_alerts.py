"""`manage.py renewal_alerts --workspace SLUG [--as-of DATE] --json`: renewal deals and 90/60/30-day alerts."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.importing import as_of_date
from customers.services import renewals_run
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Open renewal deals within the lead time and raise each 90/60/30-day renewal alert once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--as-of", dest="as_of", help="the day to run as (YYYY-MM-DD); default today")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        try:
            as_of = as_of_date(options["as_of"]) if options["as_of"] else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        stats = renewals_run(workspace=workspace, as_of=as_of)
        if options["json"]:
            self.stdout.write(json.dumps(stats))
        else:
            self.stdout.write(
                f"{stats['due']} renewals due; {stats['deals_created']} deals opened; alerts {stats['alerts']}"
            )
