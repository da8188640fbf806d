"""`manage.py erase_person --workspace SLUG --email EMAIL [--json]`: erase a person from a workspace."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from audit.context import command_actor
from audit.erasure import person_erase
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = (
        "Remove a person's contact rows and redact their name and email everywhere in the workspace (activities, "
        "deal texts and history, imports, digests, the audit log, saved models); re-embed the deals touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--email", required=True, help="the person's email address")
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        try:
            validate_email(options["email"])
            report = person_erase(workspace=workspace, email=options["email"], actor=command_actor("erase_person"))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        data = report.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(f"Erased: {data['contacts_deleted']} contact(s) deleted.")
        for label, count in data["rows_redacted"].items():
            self.stdout.write(f"  {label}: {count} row(s) redacted")
        for key in ("audit_rows_redacted", "contexts_redacted", "task_results_deleted", "upload_folders_removed"):
            self.stdout.write(f"  {key.replace('_', ' ')}: {data[key]}")
        self.stdout.write(f"  model files redacted: {data['model_files_redacted']}")
        self.stdout.write(f"  deals re-embedded: {data['deals_reembedded']}")
