"""`manage.py capture_idle --workspace SLUG --member EMAIL [--seconds N] [--poll]`: the worker-side IMAP IDLE loop."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from capture.idle import idle_loop
from capture.management.commands._common import get_member
from capture.models import ConnectionStatus, MailboxConnection, MailboxKind
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = (
        "Capture a member's IMAP mailbox as soon as the server announces new mail (IMAP IDLE), falling back to "
        "polling when the server has no IDLE; returns after --seconds (run it under a supervisor that restarts it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--member", required=True, help="the member's email")
        parser.add_argument("--seconds", type=float, default=3600.0, help="return after this long (default 3600)")
        parser.add_argument("--idle-seconds", type=float, default=None, help="renew each IDLE wait after this long")
        parser.add_argument("--poll", action="store_true", help="poll instead of IDLE")
        parser.add_argument("--poll-seconds", type=float, default=300.0)

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(str(options["workspace"]))
        member = get_member(workspace, str(options["member"]))
        connection = (
            MailboxConnection.objects.for_workspace(workspace)
            .filter(member=member, kind=MailboxKind.IMAP, status=ConnectionStatus.ACTIVE)
            .order_by("-id")
            .first()
        )
        if connection is None:
            raise CommandError(f"{member.display_name} has no active IMAP mailbox (connect_mailbox --imap-url).")
        if options["seconds"] <= 0 or (
            options["idle_seconds"] is not None and not 5 <= options["idle_seconds"] <= 1740
        ):
            raise CommandError("--seconds must be positive and --idle-seconds between 5 and 1740 (29 minutes).")
        report = idle_loop(
            connection=connection,
            max_seconds=options["seconds"],
            idle_seconds=options["idle_seconds"],
            poll=options["poll"],
            poll_seconds=max(5.0, options["poll_seconds"]),
        )
        self.stdout.write(json.dumps(report))
