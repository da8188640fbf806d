"""Train a new scoring version for a workspace and apply the activation rule."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from scoring.services import scorer_train, scores_refresh
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Train a deal-scoring version; it becomes active only if it beats the active one and the stage rates."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        workspace = workspace_named(options["workspace"])
        model = scorer_train(workspace=workspace)
        scored = scores_refresh(workspace_id=workspace.id)
        result = {
            "version": model.version,
            "kind": model.kind,
            "status": model.status,
            "fallback": model.is_fallback,
            "reason": model.reason,
            "decision": model.decision,
            "n_won": model.n_won,
            "n_lost": model.n_lost,
            "validation": model.metrics.get("model"),
            "baselines": model.metrics.get("baselines"),
            "artifact": model.artifact_path,
            "open_deals_scored": scored,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(f"v{model.version} {model.kind} ({model.status}): {model.reason} {model.decision}")
