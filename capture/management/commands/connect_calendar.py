"""`manage.py connect_calendar --workspace SLUG --member EMAIL --caldav-url URL --username U --password P`
(or `--google-refresh-token T` / `--graph-refresh-token T` for Google Calendar / Microsoft 365)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from capture import oauth
from capture.management.commands._common import get_member
from capture.services import calendar_connect, calendar_connect_api
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Connect a member's calendar for capture (checks the login; secrets are stored encrypted)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--member", required=True, help="the member's email")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--caldav-url", help="the server, the principal or one calendar")
        source.add_argument(
            "--google-refresh-token", help="a Google OAuth refresh token (calendar.readonly) for GOOGLE_OAUTH_CLIENT_ID"
        )
        source.add_argument(
            "--graph-refresh-token", help="a Microsoft 365 refresh token (Calendars.Read) for MS_GRAPH_CLIENT_ID"
        )
        parser.add_argument("--username", default="")
        parser.add_argument("--password", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        member = get_member(workspace, str(options["member"]))
        try:
            for provider, key in ((oauth.GOOGLE, "google_refresh_token"), (oauth.MICROSOFT, "graph_refresh_token")):
                if options.get(key):
                    api = calendar_connect_api(
                        workspace=workspace, member=member, provider=provider, secret=str(options[key])
                    )
                    self.stdout.write(f"Connected {api.get_kind_display()} calendar {api.settings['address']}")
                    return
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
