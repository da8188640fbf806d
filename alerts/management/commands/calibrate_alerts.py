"""`manage.py calibrate_alerts --workspace SLUG [--json]`: judge the deal rules on this workspace's history now
(what the monthly schedule does), store the result, and print the verdicts."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from alerts.calibration import calibration_compute
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Backtest each deal rule at past month ends, choose thresholds, and store the workspace's calibration."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        row = calibration_compute(workspace=workspace)
        result = {
            "origins": row.origins,
            "base_rate": row.base_rate,
            "thresholds": row.thresholds,
            "by_kind": row.by_kind,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"{len(row.origins)} past month ends backtested; base rate {row.base_rate}.")
        for kind, figures in row.by_kind.items():
            self.stdout.write(
                f"  {kind}: {figures.get('flagged', 0)} alerts, precision {figures.get('precision')}, "
                f"lift {figures.get('lift')} {figures.get('lift_interval')}: {figures['verdict']}"
            )
        if row.thresholds:
            self.stdout.write(f"  thresholds chosen: {row.thresholds}")
