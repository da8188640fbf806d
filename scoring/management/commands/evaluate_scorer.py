"""Evaluate deal scoring honestly: as of a date (train on the past, test on what closed later) or by K-fold CV."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from functools import partial

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from scoring.ablation import engagement_ablation
from scoring.evaluation import default_repeats, evaluate_as_of, evaluate_cv_repeated
from scoring.features import to_days
from scoring.loader import load_raw
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Print n_train, n_test, auc, brier, brier_base_rate, log_loss, ece, precision, fpr and baselines."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--as-of", help="YYYY-MM-DD: train on what was known then, test on deals open then")
        group.add_argument("--cv", type=int, help="K for stratified K-fold cross-validation (undated data)")
        parser.add_argument("--seed", type=int, default=0, help="fold shuffle and model seed")
        parser.add_argument(
            "--group-duplicates",
            action="store_true",
            help="with --cv: keep exact duplicate deals in one fold (the stricter figure)",
        )
        parser.add_argument(
            "--repeats",
            type=int,
            default=None,
            help=(
                "with --cv: fold shuffles to average over (seeds SEED..SEED+R-1); per_repeat shows each. "
                "Default: 5 below 5,000 closed deals, 3 below 20,000, 1 above"
            ),
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        workspace = workspace_named(options["workspace"])
        raw = load_raw(workspace.id)
        try:
            if options["as_of"]:
                day = parse_date(options["as_of"])
                if day is None:
                    raise CommandError(f"--as-of {options['as_of']!r} is not a date (YYYY-MM-DD).")
                # The whole day counts as known.
                at = to_days(datetime.combine(day, time.max, tzinfo=UTC))
                result = evaluate_as_of(raw, at, seed=options["seed"])
                result["as_of"] = day.isoformat()
                again = partial(evaluate_as_of, as_of=at, seed=options["seed"])
            else:
                if options["cv"] < 2:
                    raise CommandError("--cv needs K >= 2.")
                repeats = options["repeats"]
                if repeats is None:
                    repeats = default_repeats(int((raw.outcome != 0).sum()))
                if repeats < 1:
                    raise CommandError("--repeats needs at least 1.")
                again = partial(
                    evaluate_cv_repeated,
                    k=options["cv"],
                    repeats=repeats,
                    seed=options["seed"],
                    group_duplicates=options["group_duplicates"],
                )
                result = again(raw)
            if result["n_test"]:
                result["engagement_ablation"] = engagement_ablation(raw, result, again)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if result["n_test"] == 0:
            raise CommandError("No test deals: nothing closed after that date among the deals open then.")
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
        else:
            self.stdout.write(
                f"{result['model']}: AUC {result['auc']}, Brier {result['brier']} "
                f"(base rate {result['brier_base_rate']}), ECE {result['ece']} on {result['n_test']} deals"
            )
