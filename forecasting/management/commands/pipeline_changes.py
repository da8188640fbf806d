"""`manage.py pipeline_changes`: the pipeline waterfall between two dates (see forecasting.waterfall)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from forecasting.waterfall import FLOW_LABELS, FLOWS, pipeline_changes
from tenancy.commands import workspace_named
from tenancy.models import Membership, Team


def _date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{what} must be a date like 2017-03-31, not {value!r}") from None


def _period(value: str | None) -> tuple[date, date] | None:
    if value is None:
        return None
    first, sep, last = value.partition(":")
    if not sep:
        raise CommandError(f"--period must be START:END, e.g. 2017-04-01:2017-06-30, not {value!r}")
    period = (_date(first, "--period's start"), _date(last, "--period's end"))
    if period[1] < period[0]:
        raise CommandError("--period ends before it starts")
    return period


class Command(BaseCommand):
    help = (
        "What changed in the pipeline between two dates: start, new, pulled in, increased, decreased, "
        "pushed out, won, lost, other, end (amounts signed; start + flows = end)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD: from the end of this day")
        parser.add_argument("--to", dest="end", required=True, help="YYYY-MM-DD: ... to the end of this day")
        parser.add_argument("--period", help="START:END: only deals expected to close in this period")
        who = parser.add_mutually_exclusive_group()
        who.add_argument("--team", help="a team's id (its UUID): only its members' deals")
        who.add_argument("--rep", help="a rep's email: only their deals")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: object, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        start, end = _date(options["start"], "--from"), _date(options["end"], "--to")
        if end < start:
            raise CommandError("--to is before --from")
        owner_ids: list[int] | None = None
        if options["team"]:
            team = Team.objects.filter(workspace=workspace, uuid=_uuid(options["team"])).first()
            if team is None:
                raise CommandError(f"No team {options['team']!r} in {workspace.slug}")
            owner_ids = list(team.members.values_list("id", flat=True))
        elif options["rep"]:
            rep = Membership.objects.for_workspace(workspace).filter(email__iexact=options["rep"]).first()
            if rep is None:
                raise CommandError(f"No member with email {options['rep']!r} in {workspace.slug}")
            owner_ids = [rep.id]
        period = _period(options["period"])
        result = pipeline_changes(workspace, start=start, end=end, period=period, owner_ids=owner_ids)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json()))
            return
        self.stdout.write(f"Start ({start}): {result.start.deals} deals, {result.start.amount:,.2f}")
        for name in FLOWS:
            flow = result.flows[name]
            self.stdout.write(f"  {FLOW_LABELS[name]:<11} {flow.deals:>6} deals {flow.amount:>16,.2f}")
        self.stdout.write(f"End ({end}): {result.end.deals} deals, {result.end.amount:,.2f}")


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"--team must be a team id (a UUID), not {value!r}") from None
