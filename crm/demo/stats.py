"""A few figures that say whether a (demo) workspace looks like a real sales team's data."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q

from crm.models import Activity, Deal, DealHistory, Outcome, TrackedField
from tenancy.models import Workspace

STALE_DAYS = 21
ZOMBIE_SILENCE_DAYS = 90


def demo_statistics(workspace: Workspace) -> dict[str, object]:
    """Win rate, cycle length, open pipeline health, slips, and per quarter the wins created in that quarter."""
    deals = list(
        Deal.objects.for_workspace(workspace)
        .annotate(last_activity=Max("activities__occurred_at"))
        .values("id", "outcome", "created_at", "closed_at", "probability", "last_activity")
    )
    if not deals:
        return {}
    latest = Activity.objects.for_workspace(workspace).aggregate(m=Max("occurred_at"))["m"]
    latest_change = DealHistory.objects.for_workspace(workspace).aggregate(m=Max("changed_at"))["m"]
    now = max(t for t in (latest, latest_change) if t is not None)
    closed = [d for d in deals if d["outcome"] != Outcome.OPEN]
    won = [d for d in closed if d["outcome"] == Outcome.WON]
    open_deals = [d for d in deals if d["outcome"] == Outcome.OPEN]
    longest_cycle = max((d["closed_at"] - d["created_at"] for d in closed if d["closed_at"]), default=timedelta(0))

    def silent_for(d: Mapping[str, Any], days: int) -> bool:
        last = d["last_activity"] or d["created_at"]
        return now - last > timedelta(days=days)

    zombies = [d for d in open_deals if now - d["created_at"] > longest_cycle and silent_for(d, ZOMBIE_SILENCE_DAYS)]
    zombie_ids = {d["id"] for d in zombies}
    stale = [d for d in open_deals if d["id"] not in zombie_ids and silent_for(d, STALE_DAYS)]
    slipped = (
        DealHistory.objects.for_workspace(workspace)
        .filter(field=TrackedField.EXPECTED_CLOSE_DATE, old_value__isnull=False)  # moved, not first set
        .values("deal_id")
        .annotate(n=Count("id"))
    )
    slipped_ids = {row["deal_id"] for row in slipped}

    quarters: dict[str, dict[str, float]] = {}
    for d in won:
        if d["closed_at"] is None:  # a closed deal always has one; the database does not promise it
            continue
        start, _ = workspace.fiscal_quarter_bounds(d["closed_at"].date())
        key = f"{start.year}-Q{(start.month - workspace.fiscal_year_start_month) % 12 // 3 + 1}"
        row = quarters.setdefault(key, {"wins": 0, "created_in_quarter": 0})
        row["wins"] += 1
        row["created_in_quarter"] += d["created_at"].date() >= start
    for row in quarters.values():
        row["share_created_in_quarter"] = round(row.pop("created_in_quarter") / row["wins"], 2)

    engaged = Activity.objects.for_workspace(workspace).filter(occurred_at__gt=now - timedelta(days=STALE_DAYS))
    return {
        "as_of": _iso(now),
        "win_rate": round(len(won) / len(closed), 3) if closed else None,
        "median_cycle_days_won": _median_days(won),
        "median_cycle_days_lost": _median_days([d for d in closed if d["outcome"] == Outcome.LOST]),
        "longest_closed_cycle_days": longest_cycle.days,
        "open": len(open_deals),
        "open_stale": len(stale),
        "open_zombies": len(zombies),
        "deals_with_close_date_changes": round(len(slipped_ids) / len(deals), 3),
        "deals_with_rep_probability": round(sum(d["probability"] is not None for d in deals) / len(deals), 3),
        "inbound_last_21_days": engaged.filter(direction="inbound").count(),
        "outbound_last_21_days": engaged.filter(~Q(direction="inbound"), ~Q(direction="internal")).count(),
        "quarters": dict(sorted(quarters.items())),
    }


def _median_days(deals: Sequence[Mapping[str, Any]]) -> float | None:
    if not deals:
        return None
    return round(statistics.median((d["closed_at"] - d["created_at"]).total_seconds() / 86400 for d in deals), 1)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="minutes")
