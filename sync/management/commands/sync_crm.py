"""Run one CRM sync of a workspace now (pull what changed, apply deletions, push the outbox)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync.engine import Busy, run_sync
from sync.models import ConnectionStatus, CrmConnection


class Command(BaseCommand):
    help = "Sync a workspace with its connected CRM now; --full pulls everything again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--full", action="store_true", help="a full backfill instead of what changed")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        conns = list(CrmConnection.objects.filter(workspace__slug=options["workspace"]).select_related("workspace"))
        if not conns:
            raise CommandError(f"workspace {options['workspace']!r} has no CRM connection (run connect_crm)")
        total: dict[str, Any] | None = None
        for conn in conns:
            if conn.status != ConnectionStatus.OK:
                raise CommandError(f"the {conn.get_provider_display()} connection is broken: {conn.last_error}")
            try:
                _run, counts = run_sync(connection=conn, full=options["full"])
            except Busy as exc:
                raise CommandError(str(exc)) from None
            total = counts if total is None else _add(total, counts)
        assert total is not None
        if options["json"]:
            self.stdout.write(json.dumps(total))
            return
        pulled = ", ".join(f"{v} {k}" for k, v in total["pulled"].items())
        self.stdout.write(
            f"pulled {pulled}; pushed {total['pushed']['deals']} deals; deleted {total['deleted']['deals']} deals; "
            f"{total['conflicts']} conflicts, {total['errors']} errors in {total['seconds']:.1f} s"
        )


def _add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in a.items():
        out[key] = _add(value, b[key]) if isinstance(value, dict) else value + b[key]
    return out
