"""Rolling-origin backtest: a forecast at every month-end of the workspace's history, scored."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from forecasting.backtest import EVERY, HORIZONS
from forecasting.services import backtest_rolling_run
from tenancy.commands import workspace_named


def _date(value: str | None, what: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{what} must be a date like 2017-03-31, not {value!r}") from None


class Command(BaseCommand):
    help = (
        "Forecast at every month-end (only what was known then) for this or next quarter; print bias, MAE, "
        "P10-P90 coverage, CRPS and a PIT histogram beside the weighted-pipeline and run-rate baselines."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--from", dest="first", help="first origin considered, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", help="last origin considered, YYYY-MM-DD")
        parser.add_argument("--horizon", choices=HORIZONS, default="this")
        parser.add_argument(
            "--every", choices=EVERY, default="month", help="an origin at each month-end (default) or week-end"
        )
        parser.add_argument("--sims", type=int, default=2000)
        parser.add_argument(
            "--record-end", help="YYYY-MM-DD: the record is complete to this day (default: its latest change)"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        first = _date(options["first"], "--from")
        last = _date(options["last"], "--to")
        if first and last and last < first:
            raise CommandError("--to is before --from")
        sims = int(options["sims"])
        if not 100 <= sims <= 100_000:
            raise CommandError("--sims must be between 100 and 100,000")
        record_end = _date(options["record_end"], "--record-end")
        try:
            result = backtest_rolling_run(
                workspace=workspace,
                horizon=str(options["horizon"]),
                first=first,
                last=last,
                sims=sims,
                record_end=record_end,
                every=str(options["every"]),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        if not result["origins"]:
            self.stdout.write("No month-end with enough closed deals whose period is over.")
            return
        base = result["baselines"]
        self.stdout.write(
            f"{result['n_origins']} origins ({result['horizon']} quarter): MAE {result['mae_pct']}%, bias "
            f"{result['bias']}%, P10-P90 coverage {result['coverage_p10_p90']:.0%}, CRPS {result['crps']:,.0f}; "
            f"weighted pipeline MAE {base['weighted_pipeline']['mae_pct']}%, "
            f"run rate MAE {base['last_period_run_rate']['mae_pct']}%"
        )
