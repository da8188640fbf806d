"""The demo's history of forecast calls (a DEMO_SEED_HOOKS entry), generated causally.

For each of the last finished quarters, the model is fitted as of day 40 of the quarter with only what was
known then; each rep and manager calls that model's P50 for their scope, shifted by a personal bias, plus
a share of what they privately know about how the quarter will end (a fraction of the gap between the
model and what actually closed — a rep's knowledge of their deals the model lacks), plus noise. The current
quarter gets this week's calls from most people (some late, some missing), one manager's adjustment, and rep
and team quotas (the workspace's target split by last year's wins).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import transaction
from django.utils import timezone

from crm.models import Deal
from forecasting.calls import CALLERS, call_scope, due_moments, latest_run_for, model_from_rollups, model_of
from forecasting.compute import end_of_day, fit_as_of, forecast_period
from forecasting.models import Target
from forecasting.models_calls import CallSubmission
from forecasting.quota import won_by_owner
from forecasting.services import rollups_for, target_set
from tenancy.models import Membership, Role, Team, Workspace
from tenancy.scope import Scope

PAST_QUARTERS = 6
CALL_DAY = 40  # days into the quarter when the past calls were made
SIMS = 1000
PRIVATE_INFO: dict[str, float] = {Role.REP: 0.35, Role.MANAGER: 0.25}  # share of (actual − model) a caller knows
NOISE = 0.12  # of the model's P50


def _habits(member: Membership) -> tuple[float, int]:
    """(bias, noise draw seed) per person, stable across re-seeds: reps tend to sandbag a little."""
    digest = int(hashlib.sha256(f"{member.workspace_id}:{member.email or member.id}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(digest)
    return float(rng.normal(-0.06, 0.10)), digest


def _version(member, start, end, number, point, model, at, *, by=None, reason="") -> CallSubmission:
    point = max(point, 0.0)
    return CallSubmission(
        workspace_id=member.workspace_id,
        member=member,
        period_start=start,
        period_end=end,
        version=number,
        commit=Decimal(round(point * 0.85, -2)),
        best_case=Decimal(round(point * 1.25, -2)),
        most_likely=Decimal(round(point, -2)),
        submitted_by=by or member,
        reason=reason,
        model=model or {},
        created_at=at,
    )


def demo_calls(workspace_id: int, quarters: int = PAST_QUARTERS) -> int:
    """Past and this week's calls of the demo; does nothing when the workspace has calls. Returns rows written."""
    workspace = Workspace.objects.get(id=workspace_id)
    if CallSubmission.objects.for_workspace(workspace).exists():
        return 0
    members = [m for m in Membership.objects.for_workspace(workspace).active() if m.role in CALLERS]
    scopes = {m.id: call_scope(m) for m in members}
    today = workspace.today()
    periods: list[tuple[date, date]] = []
    start, _ = workspace.fiscal_quarter_bounds(today)
    for _ in range(quarters):
        start, end = workspace.fiscal_quarter_bounds(start - timedelta(days=1))
        periods.append((start, end))
    rows: list[CallSubmission] = []
    for index, (start, end) in enumerate(sorted(periods)):
        moment = end_of_day(start + timedelta(days=CALL_DAY), workspace)
        loaded, model = fit_as_of(workspace, moment)
        if not len(loaded.deal_ids):
            continue
        forecast = forecast_period(workspace, loaded, model, start, end, sims=SIMS, seed=index)
        rollups = rollups_for(workspace, forecast)
        won = won_by_owner(Deal.objects.for_workspace(workspace), start, end)
        for m in members:
            seen = model_from_rollups(rollups, f"demo-{start.isoformat()}", m, scopes[m.id])
            if seen is None:
                continue
            bias, digest = _habits(m)
            noise = np.random.default_rng(digest + index).normal(0, NOISE)
            p50 = seen["p50"]
            owners = scopes[m.id].owner_ids
            actual = sum(v for o, v in won.items() if owners is None or o in owners)
            point = p50 * (1 + bias + noise) + PRIVATE_INFO.get(m.role, 0.3) * (actual - p50)
            rows.append(_version(m, start, end, 1, point, seen, moment - timedelta(hours=3)))
    rows.extend(_this_week(workspace, members))
    with transaction.atomic():
        CallSubmission.objects.bulk_create(rows)
        demo_quotas(workspace)
    return len(rows)


def demo_quotas(workspace: Workspace) -> None:
    """Rep and team quotas for the current quarter: the workspace's target split by each rep's wins last year."""
    start, end = workspace.fiscal_quarter_bounds(workspace.today())
    total = (
        Target.objects.for_workspace(workspace)
        .filter(period_start=start, period_end=end, team=None, owner=None)
        .values_list("amount", flat=True)
        .first()
    )
    if total is None:
        return
    year_ago = start - timedelta(days=365)
    won = won_by_owner(Deal.objects.for_workspace(workspace), year_ago, start - timedelta(days=1))
    reps = list(Membership.objects.for_workspace(workspace).active().filter(role=Role.REP, id__in=won))
    overall = sum(float(won[r.id]) for r in reps)
    if overall <= 0:
        return
    scope = Scope.whole_workspace(workspace)
    by_team: dict[int, float] = {}
    for rep in reps:
        amount = float(total) * float(won[rep.id]) / overall
        target_set(scope=scope, period_start=start, period_end=end, amount=Decimal(round(amount, -3)), owner=rep)
        if rep.team_id is not None:
            by_team[rep.team_id] = by_team.get(rep.team_id, 0.0) + amount
    for team in Team.objects.filter(id__in=by_team):
        target_set(
            scope=scope, period_start=start, period_end=end, amount=Decimal(round(by_team[team.id], -3)), team=team
        )


def _this_week(workspace: Workspace, members: list[Membership]) -> list[CallSubmission]:
    """This week's calls: about two in three on time, a few late, the rest missing; one manager's adjustment."""
    start, end = workspace.fiscal_quarter_bounds(workspace.today())
    run = latest_run_for(workspace, start, end)
    if run is None:
        return []
    now = timezone.now()
    last_due, _ = due_moments(workspace, now)
    rows: list[CallSubmission] = []
    adjusted = False
    for i, m in enumerate(members):
        seen = model_of(run, m)
        if seen is None or i % 6 == 5:
            continue  # missing
        bias, digest = _habits(m)
        point = seen["p50"] * (1 + bias + np.random.default_rng(digest).normal(0, NOISE))
        late = i % 6 == 4
        at: datetime = (last_due + timedelta(hours=5)) if late else (last_due - timedelta(hours=20))
        rows.append(_version(m, start, end, 1, point, seen, min(at, now)))
        manager_id = m.team.manager_id if m.team is not None else None
        if not adjusted and m.role == Role.REP and manager_id and not late:
            manager = next((x for x in members if x.id == manager_id), None)
            if manager is not None:
                reason = "Two of the Commit deals need legal review this quarter; held back."
                rows.append(
                    _version(
                        m,
                        start,
                        end,
                        2,
                        point * 0.8,
                        seen,
                        min(at + timedelta(hours=2), now),
                        by=manager,
                        reason=reason,
                    )
                )
                adjusted = True
    return rows
