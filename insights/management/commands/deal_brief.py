"""`manage.py deal_brief --workspace SLUG --deal UUID --json`: one deal's AI brief, checked against its facts.

Prints {"text", "facts", "model", "grounded", "fallback"}: `grounded` is true only for an AI answer whose
every number matched a fact; `fallback` is true for the deterministic text (no key, the budget spent, an
API error, or an answer that failed the check twice), whose first line says so; `model` is null when no
model was asked. Run as the whole workspace (like import_crm): the command sees every deal.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from crm.selectors import deal_get_for_member
from insights.briefs import brief_write
from insights.facts import deal_brief_facts
from tenancy.commands import workspace_named
from tenancy.scope import Scope


class Command(BaseCommand):
    help = "Write one deal's brief (AI when configured, else the labelled deterministic one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--deal", required=True, help="the deal's UUID")
        parser.add_argument("--json", action="store_true", help="print the brief as JSON")

    def handle(self, *args: object, **options: object) -> None:
        workspace = workspace_named(str(options["workspace"]))
        scope = Scope.whole_workspace(workspace)
        try:
            deal = deal_get_for_member(scope, options["deal"])
        except Http404:
            raise CommandError(f"No deal {options['deal']!r} in workspace {workspace.slug!r}.") from None
        result = brief_write(workspace=workspace, facts=deal_brief_facts(scope, deal))
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
            return
        self.stdout.write(result.text)
        if result.reason:
            self.stderr.write(result.reason)
