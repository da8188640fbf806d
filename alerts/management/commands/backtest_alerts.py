"""`manage.py backtest_alerts --workspace SLUG --as-of DATE --horizon-days 60 [--json] [--no-calibration]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.ablation import engagement_ablation
from alerts.backtest import backtest
from alerts.calibration import Calibration, calibration_measure, thresholds_with
from alerts.management.commands.run_monitors import parse_as_of
from alerts.services import alert_settings_get, thresholds_for
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Run the detectors on the workspace as it was at DATE and score them against what happened next."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True)
        parser.add_argument("--as-of", required=True, help="YYYY-MM-DD")
        parser.add_argument("--horizon-days", type=int, default=60)
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--no-calibration",
            action="store_true",
            help="grade the rules as configured, without judging them on the history before DATE first",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        as_of = parse_as_of(str(options["as_of"]), workspace)
        if as_of is None:
            raise CommandError("--as-of needs a date (YYYY-MM-DD).")
        horizon = int(options["horizon_days"])
        if horizon < 1 or horizon > 730:
            raise CommandError("--horizon-days must be between 1 and 730.")
        settings_row = alert_settings_get(workspace=workspace)
        configured = thresholds_for(settings_row)
        uncalibrated = backtest(workspace, as_of, horizon, configured)  # type: ignore[arg-type]
        result = uncalibrated
        thresholds, calibration = configured, None
        if not options["no_calibration"]:
            # Calibrated as the monitors would have been on DATE: only on outcomes known by then.
            measured = calibration_measure(workspace=workspace, as_of=as_of, horizon_days=horizon)
            calibration = Calibration.from_measured(measured)
            thresholds = thresholds_with(configured, set(settings_row.thresholds or {}), calibration)
            result = backtest(workspace, as_of, horizon, thresholds, calibration)  # type: ignore[arg-type]
            result["calibration"] = {
                "origins": measured["origins"],
                "thresholds": measured["thresholds"],
                "verdicts": {kind: row["verdict"] for kind, row in measured["by_kind"].items()},
                "stalled_by_stage": measured["by_kind"].get("stalled", {}).get("by_stage", []),
            }
            uncalibrated.pop("_context")
            result["uncalibrated"] = {k: uncalibrated[k] for k in ("high_critical", "by_priority", "by_kind")}
        context = result.pop("_context")
        graded_by = (thresholds, calibration) if not options["no_calibration"] else (configured, None)
        result["engagement_ablation"] = engagement_ablation(workspace, as_of, horizon, *graded_by, measured=result)
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        hc = result["high_critical"]
        self.stdout.write(
            f"{context['deals']} deals open at {options['as_of']}, {context['bad']} went bad within {horizon} days "
            f"(base rate {result['base_rate']})."
        )
        self.stdout.write(
            f"High+Critical: {hc['flagged']} flagged, precision {hc['precision']} {hc['precision_interval']}, "
            f"lift {hc['lift']} {hc['lift_interval']}, recall {hc['recall']}, "
            f"false-positive rate {hc['false_positive_rate']}; bad rate among unflagged {result['bad_rate_unflagged']}"
        )
        for label, row in result["by_priority"].items():
            self.stdout.write(f"  {label}: {row['flagged']} deals, precision {row['precision']}, lift {row['lift']}")
        for kind, row in result["by_kind"].items():
            verdict = result.get("calibration", {}).get("verdicts", {}).get(kind, "")
            self.stdout.write(
                f"  {kind}: {row['flagged']} flagged, precision {row['precision']}, recall {row['recall']}, "
                f"lift {row['lift']} {row['lift_interval']} {verdict}"
            )
