"""`manage.py evaluate_churn --workspace SLUG (--cv K | --as-of DATE) --json`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.evaluation import churn_evaluate
from customers.importing import as_of_date
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Evaluate the churn model on held-out rows beside the base rate and a logistic baseline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument("--cv", type=int, help="stratified K-fold cross-validation")
        how.add_argument("--as-of", dest="as_of", help="train on renewals decided by DATE, test on later ones")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        try:
            as_of = as_of_date(options["as_of"]) if options["as_of"] else None
            found = churn_evaluate(workspace=workspace, cv=options["cv"], as_of=as_of, seed=options["seed"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(found))
        else:
            lr = found["baselines"]["logistic"]
            self.stdout.write(
                f"n={found['n']} AUC {found['auc']} Brier {found['brier']} (base rate {found['brier_base_rate']}), "
                f"ECE {found['ece']}; logistic AUC {lr['auc']} Brier {lr['brier']}"
            )
