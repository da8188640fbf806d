"""`manage.py evaluate_expansion --workspace SLUG --as-of DATE [--horizon-days N] --json`: did flagged customers
expand?"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.evaluation import expansion_evaluate
from customers.importing import as_of_date
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Measure the expansion signals on history: how often flagged customers expanded, against the others."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--as-of", dest="as_of", required=True, help="flag customers as of DATE (YYYY-MM-DD)")
        parser.add_argument("--horizon-days", type=int, default=180)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        try:
            as_of = as_of_date(options["as_of"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        found = expansion_evaluate(workspace, as_of=as_of, horizon_days=options["horizon_days"])
        self.stdout.write(json.dumps(found) if options["json"] else " ".join(f"{k}={v}" for k, v in found.items()))
