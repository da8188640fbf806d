"""Queue and send the email digests: `manage.py send_digests --frequency daily|weekly [--json]`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from alerts.delivery import email, outbox


class Command(BaseCommand):
    help = "Send each member who chose this frequency one digest of their top alerts (once per day/week)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--frequency", choices=["daily", "weekly"], required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        queued = email.digests_enqueue(frequency=str(options["frequency"]), now=timezone.now())
        result = {"queued": queued, "deliveries": outbox.deliver_due()}
        self.stdout.write(json.dumps(result) if options["json"] else f"{queued} digests queued; {result['deliveries']}")
