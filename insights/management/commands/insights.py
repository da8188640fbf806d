"""`manage.py insights`: the deals that decide the period, bottlenecks and rep insights of a workspace (or a rep)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from insights.selectors import bottlenecks_for_member, focus_for_member, rep_insights_for_member
from tenancy.commands import workspace_named
from tenancy.models import Membership
from tenancy.scope import Scope


class Command(BaseCommand):
    help = (
        "The five open deals that most decide whether the target is reached (from the latest stored forecast "
        "run's simulations), stages that got worse than the workspace's own history, and each rep against their "
        "team (called out only where the 90% interval leaves out the team's figure)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--rep", help="a rep's email: only their deals, stages and figures")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: object, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        rep = None
        if options["rep"]:
            rep = Membership.objects.for_workspace(workspace).filter(email__iexact=options["rep"].strip()).first()
            if rep is None:
                raise CommandError(f"No member with email {options['rep']!r} in workspace {workspace.slug!r}.")
        scope = Scope.whole_workspace(workspace)
        started = time.perf_counter()
        focus = focus_for_member(scope, rep=rep)
        found = bottlenecks_for_member(scope, rep=rep)
        reps = rep_insights_for_member(scope, rep=rep)
        seconds = time.perf_counter() - started
        if options["json"]:
            result = {
                "focus_deals": focus.as_json(),
                "bottlenecks": [b.as_json() for b in found],
                "reps": [r.as_json() for r in reps],
            }
            self.stdout.write(json.dumps(result, indent=2))
            return
        currency = workspace.currency
        if focus.run is None:
            self.stdout.write("No stored forecast simulations yet: run a forecast first.")
        else:
            against = focus.target_note or "the target"
            self.stdout.write(
                f"{focus.scope_name}: chance of reaching {against} {currency} {focus.target:,.0f} is "
                f"{round(100 * (focus.chance or 0))}% (run {focus.run.uuid.hex[:8]}, {focus.considered} open deals)"
            )
            for i, deal in enumerate(focus.deals, start=1):
                self.stdout.write(
                    f"{i}. {deal.deal.title} [{deal.deal.uuid}] impact {deal.impact:.3f}\n   {deal.reason}"
                )
        self.stdout.write("\nBottlenecks:" if found else "\nNo stage worsened beyond noise.")
        for b in found:
            self.stdout.write(
                f"- {b.text}. {b.stuck_count} deals stuck there, {currency} {b.revenue_held_up:,.0f} held up."
            )
        for r in reps:
            self.stdout.write(f"\n{r.member.display_name} (vs {r.peers}):")
            for m in r.called_out or []:
                self.stdout.write(f"  - {m.text}. {m.coaching}")
            if not r.called_out:
                self.stdout.write("  nothing the data supports calling out")
        self.stdout.write(f"\n({seconds:.1f} s)")
