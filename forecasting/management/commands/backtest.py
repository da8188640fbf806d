"""Forecast a past period with only what was known at a date, and compare with what landed."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from forecasting.services import backtest_run
from tenancy.commands import workspace_named


def _date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{what} must be a date like 2017-03-31, not {value!r}") from None


class Command(BaseCommand):
    help = "Backtest the forecast: as of DATE, forecast START:END, compare with the actual closed-won revenue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--as-of", required=True, help="YYYY-MM-DD: what was known at the end of this day")
        parser.add_argument("--period", required=True, help="START:END, e.g. 2017-04-01:2017-06-30")
        parser.add_argument("--sims", type=int, default=10_000)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        as_of = _date(str(options["as_of"]), "--as-of")
        start_text, sep, end_text = str(options["period"]).partition(":")
        if not sep:
            raise CommandError("--period must be START:END, e.g. 2017-04-01:2017-06-30")
        start, end = _date(start_text, "period start"), _date(end_text, "period end")
        sims = int(options["sims"])
        if not 100 <= sims <= 1_000_000:
            raise CommandError("--sims must be between 100 and 1,000,000")
        try:
            result = backtest_run(workspace=workspace, as_of=as_of, period_start=start, period_end=end, sims=sims)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        payload = {
            "as_of": as_of.isoformat(),
            "period": f"{start.isoformat()}:{end.isoformat()}",
            "forecast": result.forecast,
            "actual": result.actual,
            "abs_pct_error": result.abs_pct_error,
            "in_p10_p90": result.in_p10_p90,
            "crps": result.crps,
            "baselines": result.baselines,
            "blend": result.blend,
        }
        if options["json"]:
            self.stdout.write(json.dumps(payload))
            return
        f = result.forecast
        self.stdout.write(
            f"{payload['period']} as of {payload['as_of']}: P50 {f['p50']:,.0f} (P10 {f['p10']:,.0f} – P90 "
            f"{f['p90']:,.0f}), actual {result.actual:,.0f}, error {result.abs_pct_error}%, "
            f"inside P10–P90: {'yes' if result.in_p10_p90 else 'no'}"
        )
