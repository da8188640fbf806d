"""`manage.py import_accounts --workspace SLUG --format ravenstack|csv PATH [--mapping FILE] [--dry-run]
[--skip-invalid] --json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.management.commands.import_crm import load_mapping
from customers.importing import FORMATS, run_account_import
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Import customers, subscriptions, usage, support tickets and churn events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument("--mapping", help="JSON mapping file (csv format)")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument("--skip-invalid", action="store_true", help="import good rows, report bad ones")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        if options["fmt"] == "csv" and not options["mapping"]:
            raise CommandError("the csv format needs --mapping FILE")
        mapping = load_mapping(options["mapping"]) if options["mapping"] else None
        report = run_account_import(
            workspace=workspace,
            fmt=options["fmt"],
            path=Path(options["path"]),
            mapping=mapping,
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
        )
        data = report.as_dict()
        data.pop("deals_by_outcome", None)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            verb = "Would import" if report.dry_run else "Imported" if report.written else "Refused"
            self.stdout.write(f"{verb} in {data['seconds']} s; created {data['created']}; updated {data['updated']}")
            for error in data["errors"][:50]:
                where = f"{error.get('file', '')} row {error['row']}".strip()
                self.stdout.write(f"  error: {where}, {error['column']}: {error['message']}")
        if report.error_count and not report.written and not options["dry_run"]:
            raise CommandError(f"{report.error_count} problems; nothing was imported")
