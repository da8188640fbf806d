"""`manage.py backtest_alerts --workspace SLUG --as-of DATE --horizon-days 60 [--json]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.backtest import backtest
from alerts.management.commands.run_monitors import get_workspace, parse_as_of
from alerts.services import alert_settings_get, thresholds_for


class Command(BaseCommand):
    help = "Run the detectors on the workspace as it was at DATE and score them against what happened next."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True)
        parser.add_argument("--as-of", required=True, help="YYYY-MM-DD")
        parser.add_argument("--horizon-days", type=int, default=60)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = get_workspace(str(options["workspace"]))
        as_of = parse_as_of(str(options["as_of"]), workspace)
        if as_of is None:
            raise CommandError("--as-of needs a date (YYYY-MM-DD).")
        horizon = int(options["horizon_days"])
        if horizon < 1 or horizon > 730:
            raise CommandError("--horizon-days must be between 1 and 730.")
        result = backtest(workspace, as_of, horizon, thresholds_for(alert_settings_get(workspace=workspace)))
        context = result.pop("_context")
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        hc = result["high_critical"]
        self.stdout.write(
            f"{context['deals']} deals open at {options['as_of']}, {context['bad']} went bad within {horizon} days."
        )
        self.stdout.write(
            f"High+Critical: {hc['flagged']} flagged, precision {hc['precision']}, recall {hc['recall']}, "
            f"false-positive rate {hc['false_positive_rate']}; bad rate among unflagged {result['bad_rate_unflagged']}"
        )
        for kind, row in result["by_kind"].items():
            self.stdout.write(
                f"  {kind}: {row['flagged']} flagged, precision {row['precision']}, recall {row['recall']}"
            )
