"""`manage.py connect_calendar --workspace SLUG --member EMAIL --caldav-url URL --username U --password P`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from capture.management.commands._common import get_member
from capture.services import calendar_connect
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Connect a member's CalDAV calendar for capture (checks the login; the password is stored encrypted)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--member", required=True, help="the member's email")
        parser.add_argument("--caldav-url", required=True, help="the server, the principal or one calendar")
        parser.add_argument("--username", default="")
        parser.add_argument("--password", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        member = get_member(workspace, str(options["member"]))
        try:
            connection = calendar_connect(
                workspace=workspace,
                member=member,
                url=str(options["caldav_url"]),
                username=str(options["username"]),
                password=str(options["password"]),
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Connected {len(connection.settings['calendars'])} calendar(s) for {member.display_name}")
