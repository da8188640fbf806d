"""Quota, attainment and the leaderboard; coverage as defined in `forecasting.coverage`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Sum

from crm.models import Outcome
from forecasting.coverage import coverage_ratio
from forecasting.models import Target
from tenancy.models import Membership, Team
from tenancy.scope import Scope


def open_pipeline_closing(deals: Any, period_end: date) -> float:
    """Open amount of `deals` (a queryset) expected to close by `period_end` (`coverage.closes_by` in SQL)."""
    value = deals.open().filter(expected_close_date__lte=period_end).aggregate(v=Sum("amount"))["v"]
    return float(value or 0)


def won_by_owner(deals: Any, start: date, end: date) -> dict[int, float]:
    """Closed-won revenue of `deals` (a queryset) in [start, end] per owner (0 = unassigned), in one query."""
    rows = (
        deals.filter(outcome=Outcome.WON, closed_at__date__gte=start, closed_at__date__lte=end)
        .values_list("owner_id")
        .annotate(v=Sum("amount"))
    )
    return {owner_id or 0: float(v or 0) for owner_id, v in rows}


@dataclass
class QuotaRow:
    name: str
    kind: str  # "rep" or "team"
    target: float | None
    won: float
    open_pipeline: float

    @property
    def attainment(self) -> float | None:
        return self.won / self.target if self.target else None

    @property
    def coverage(self) -> float | None:
        return coverage_ratio(open_pipeline=self.open_pipeline, target=self.target, won=self.won)

    @property
    def coverage_is_met(self) -> bool:
        return self.coverage == float("inf")


def _targets(scope: Scope, start: date, end: date) -> tuple[dict[int, float], dict[int, float]]:
    by_rep: dict[int, float] = {}
    by_team: dict[int, float] = {}
    for team_id, owner_id, amount in (
        Target.objects.for_workspace(scope.workspace)
        .filter(period_start=start, period_end=end)
        .values_list("team_id", "owner_id", "amount")
    ):
        if owner_id is not None:
            by_rep[owner_id] = float(amount)
        elif team_id is not None:
            by_team[team_id] = float(amount)
    return by_rep, by_team


def leaderboard(scope: Scope, start: date, end: date) -> dict[str, list[QuotaRow]]:
    """Reps and teams in sight, ranked by attainment (won ÷ target), with their coverage."""
    deals = scope.deals().filter(deleted_at__isnull=True)
    won_rows = won_by_owner(deals, start, end)
    open_rows = dict(
        deals.open().filter(expected_close_date__lte=end).values_list("owner_id").annotate(v=Sum("amount"))
    )
    by_rep, by_team = _targets(scope, start, end)
    members: list[Membership] = list(scope.reps().active().exclude(role__in=["viewer"]))
    reps = [
        QuotaRow(
            m.display_name, "rep", by_rep.get(m.id), float(won_rows.get(m.id) or 0), float(open_rows.get(m.id) or 0)
        )
        for m in members
        if m.id in by_rep or won_rows.get(m.id) or open_rows.get(m.id)
    ]
    teams = []
    team_of = dict(Membership.objects.for_workspace(scope.workspace).values_list("id", "team_id"))
    for team in scope.teams():
        below = _subtree(team)
        owners = [o for o, t in team_of.items() if t in below]
        teams.append(
            QuotaRow(
                team.name,
                "team",
                by_team.get(team.id),
                sum(float(won_rows.get(o) or 0) for o in owners),
                sum(float(open_rows.get(o) or 0) for o in owners),
            )
        )

    def rank(row: QuotaRow) -> tuple[bool, float, float]:
        return (row.attainment is None, -(row.attainment or 0), -row.won)

    return {"reps": sorted(reps, key=rank), "teams": sorted(teams, key=rank)}


def _subtree(team: Team) -> frozenset[int]:
    """The team and every team below it."""
    ids = set(Team.objects.filter(workspace_id=team.workspace_id).values_list("id", "parent_id"))
    children: dict[int | None, list[int]] = {}
    for team_id, parent_id in ids:
        children.setdefault(parent_id, []).append(team_id)
    out: set[int] = set()
    stack = [team.id]
    while stack:
        t = stack.pop()
        if t not in out:
            out.add(t)
            stack.extend(children.get(t, []))
    return frozenset(out)
