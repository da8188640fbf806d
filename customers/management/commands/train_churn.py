"""`manage.py train_churn --workspace SLUG`: train, and activate only when it beats the base rate and logistic."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.services import churn_train, customers_refresh
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Train the churn model; it becomes active only if it beats the base rate and a logistic baseline held out."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        try:
            model = churn_train(workspace=workspace)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        customers_refresh(workspace=workspace)
        found = {
            "model": str(model.uuid),
            "kind": model.kind,
            "active": model.is_active,
            "reason": model.reason,
            **model.report,
        }
        if options["json"]:
            self.stdout.write(json.dumps(found))
        else:
            state = "active" if model.is_active else f"not activated: {model.reason}"
            self.stdout.write(
                f"{model.kind} model {model.uuid.hex[:8]} {state}; held-out AUC {model.report.get('auc')}"
            )
