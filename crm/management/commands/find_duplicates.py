"""`manage.py find_duplicates --workspace SLUG --kind companies|contacts|deals [--json]`."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.duplicates import duplicate_pairs
from crm.models import DuplicateKind
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Suggested duplicate companies, contacts or deals, best first (pairs dismissed on the page left out)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--kind", required=True, choices=DuplicateKind.values)
        parser.add_argument("--json", action="store_true", help='print {"pairs": [{"a", "b", "score", "reasons"}]}')

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        started = time.perf_counter()
        pairs = duplicate_pairs(workspace, options["kind"])
        if options["json"]:
            self.stdout.write(json.dumps({"pairs": [p.as_dict() for p in pairs]}, indent=2))
            return
        for pair in pairs:
            self.stdout.write(f"{pair.score:5.1f}  {pair.a}  {pair.b}  {'; '.join(pair.reasons)}")
        self.stdout.write(f"{len(pairs)} pairs in {time.perf_counter() - started:.2f} s")
