"""`manage.py connect_mailbox --workspace SLUG --member EMAIL --imap-url imap[s]://USER:PASSWORD@HOST:PORT[/F,F…]`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from capture.management.commands._common import get_member
from capture.services import mailbox_connect, mailbox_connect_gmail, mailbox_connect_graph
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Connect a member's IMAP mailbox for capture (checks the login; the password is stored encrypted)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--member", required=True, help="the member's email")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--imap-url", help="imap[s]://USER:PASSWORD@HOST:PORT[/FOLDER,FOLDER...] (default folders: INBOX and Sent)"
        )
        source.add_argument(
            "--gmail-refresh-token",
            help="a Gmail API OAuth refresh token (scope gmail.readonly) issued to GOOGLE_OAUTH_CLIENT_ID",
        )
        source.add_argument(
            "--graph-refresh-token",
            help="a Microsoft 365 delegated refresh token (Mail.Read offline_access) issued to MS_GRAPH_CLIENT_ID",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        member = get_member(workspace, str(options["member"]))
        try:
            if options.get("gmail_refresh_token"):
                token = str(options["gmail_refresh_token"])
                connection = mailbox_connect_gmail(workspace=workspace, member=member, refresh_token=token)
                self.stdout.write(f"Connected {connection.address} (Gmail API)")
                return
            if options.get("graph_refresh_token"):
                token = str(options["graph_refresh_token"])
                connection = mailbox_connect_graph(workspace=workspace, member=member, refresh_token=token)
                self.stdout.write(f"Connected {connection.address} (Microsoft Graph)")
                return
            connection = mailbox_connect(workspace=workspace, member=member, imap_url=str(options["imap_url"]))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        folders = ", ".join(connection.settings.get("folders", []))
        self.stdout.write(f"Connected {connection.address} ({connection.settings['host']}): {folders}")
