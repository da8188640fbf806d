"""`manage.py capture_activities --workspace SLUG [--member EMAIL] [--json]`: one capture pass now."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from capture.management.commands._common import get_member
from capture.services import capture_run
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Read every connected mailbox and calendar of a workspace (or one member's) once, now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--member", help="only this member's connections (email)")
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        member = get_member(workspace, str(options["member"])) if options.get("member") else None
        result = capture_run(workspace=workspace, member=member)
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        m, e = result["messages"], result["events"]
        self.stdout.write(
            f"Messages: {m['seen']} seen, {m['new']} new ({m['matched']} on a deal), {m['unmatched']} unmatched, "
            f"{m['duplicates']} duplicates, {m['excluded']} excluded. "
            f"Meetings: {e['seen']} seen, {e['new']} new ({e['matched']} on a deal). {result['seconds']} s"
        )
