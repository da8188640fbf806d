"""`manage.py import_crm --workspace SLUG --format FORMAT PATH [--mapping FILE] [--dry-run] [--skip-invalid]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.importers import FORMATS, run_import
from tenancy.commands import workspace_named

PRESETS_DIR = Path(__file__).resolve().parents[2] / "importers" / "presets"


def load_mapping(value: str) -> dict[str, Any]:
    """A mapping file path, or the name of a shipped preset (e.g. `salvirt-b2b`)."""
    path = Path(value)
    if not path.is_file():
        preset = PRESETS_DIR / f"{value.removesuffix('.json')}.json"
        if not preset.is_file():
            raise CommandError(f"mapping {value!r} is neither a file nor a preset in {PRESETS_DIR}")
        path = preset
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"mapping {path} is not valid JSON: {exc}") from None
    if not isinstance(mapping, dict):
        raise CommandError(f"mapping {path} must be a JSON object")
    return mapping


class Command(BaseCommand):
    help = "Import deals (with their history), companies, contacts and people from another CRM's export."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument(
            "--mapping",
            help="JSON mapping file (csv format) or a preset name; without it the columns are recognised by name",
        )
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument("--skip-invalid", action="store_true", help="import good rows, report bad ones")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        mapping = load_mapping(options["mapping"]) if options["mapping"] else None
        report = run_import(
            workspace=workspace,
            fmt=options["fmt"],
            path=Path(options["path"]),
            mapping=mapping,
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, default=str))
        else:
            self._print(report)
        if report.error_count and not report.written and not options["dry_run"]:
            count = report.error_count
            raise CommandError(f"{count} problem{'' if count == 1 else 's'}; nothing was imported")

    def _print(self, report: Any) -> None:
        data = report.as_dict()
        verb = "Would import" if report.dry_run else "Imported" if report.written else "Refused"
        self.stdout.write(f"{verb} in {data['seconds']} s")
        self.stdout.write(f"  created: {data['created']}")
        self.stdout.write(f"  updated: {data['updated']}")
        self.stdout.write(f"  unchanged: {data['unchanged']}; refused rows: {data['refused']}")
        self.stdout.write(f"  deals by outcome: {data['deals_by_outcome']}; skipped rows: {data['skipped']}")
        for line in data["reconciled"]:
            self.stdout.write(f"  reconciled: {line}")
        for error in data["errors"][:50]:
            where = f"{error.get('file', '')} row {error['row']}".strip()
            self.stdout.write(f"  error: {where}, {error['column']}: {error['message']}")
        if data["error_count"] > 50:
            self.stdout.write(f"  … and {data['error_count'] - 50} more errors (use --json for all)")
