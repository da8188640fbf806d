"""`manage.py generate_winloss OUT.csv [--rows 78025] [--seed 0]`: a generated win/loss set and its mapping.

Writes OUT.csv and OUT.mapping.json; import them with
`import_crm --workspace SLUG --format csv OUT.csv --mapping OUT.mapping.json --skip-invalid`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.winloss_sample import MAPPING, write_csv


class Command(BaseCommand):
    help = "Write a generated win/loss CSV (creation-time fields, a learnable signal) and its import mapping."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="path of the CSV to write")
        parser.add_argument("--rows", type=int, default=78025)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rows"] < 1:
            raise CommandError("--rows must be at least 1.")
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"No folder {out.parent}.")
        summary = write_csv(out, options["rows"], seed=options["seed"])
        mapping = out.with_suffix(".mapping.json")
        mapping.write_text(json.dumps(MAPPING, indent=2))
        self.stdout.write(json.dumps({**summary, "csv": str(out), "mapping": str(mapping)}))
