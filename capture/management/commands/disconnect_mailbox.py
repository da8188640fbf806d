"""`manage.py disconnect_mailbox --workspace SLUG --member EMAIL [--delete-captured]` (mailboxes and calendars)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from capture.management.commands._common import get_member
from capture.models import CalendarConnection, ConnectionStatus, MailboxConnection
from capture.services import connection_disconnect
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Stop capturing a member's mailboxes and calendars; --delete-captured also deletes what they captured."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--member", required=True, help="the member's email")
        parser.add_argument("--delete-captured", action="store_true", help="delete the messages and meetings too")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        member = get_member(workspace, str(options["member"]))
        deleted = stopped = 0
        for model in (MailboxConnection, CalendarConnection):
            for connection in (
                model.objects.for_workspace(workspace)
                .filter(member=member)
                .exclude(status=ConnectionStatus.DISCONNECTED)
            ):
                deleted += connection_disconnect(connection=connection, delete_captured=options["delete_captured"])
                stopped += 1
        self.stdout.write(f"Disconnected {stopped} connection(s); {deleted} captured item(s) deleted")
