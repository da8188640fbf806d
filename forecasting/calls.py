"""The weekly forecast call: who calls what for which deals, versions, the due day, roll-ups, suggestions.

A member's call covers a scope: a rep's own deals; a manager's, every deal of the teams they lead and
below; an owner's or admin's, the workspace. Every call is shown beside the model's distribution for the
same scope from the latest stored run of the period (the roll-ups' 101 percentiles, `chance_of_reaching`).
Versions are append-only: `call_submit` adds one; nothing here updates or deletes a call.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Sum, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from crm.models import Deal, ForecastCategory
from forecasting import periods
from forecasting.models import ForecastRun
from forecasting.models_calls import CallSettings, CallSubmission
from forecasting.quota import won_by_owner
from forecasting.selectors import chance_of_reaching
from tenancy.models import Membership, Role, Team, Workspace
from tenancy.scope import Scope, team_ids_managed_by

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Who is expected to call every week (owners and admins may call the workspace's number, but need not).
CALLERS = (Role.REP, Role.MANAGER)


# ---- periods and the due day ---------------------------------------------------------------------------


def period_label(workspace: Workspace, start: date, end: date) -> str:
    """The name of a period on the call's pages: the workspace's fiscal name ("Q4 FY2027")."""
    return periods.period_label(workspace, start, end)


def current_period(workspace: Workspace, today: date | None = None) -> tuple[date, date]:
    return workspace.fiscal_quarter_bounds(today or workspace.today())


def call_settings(workspace: Workspace) -> CallSettings:
    """The workspace's settings, or the defaults (Monday 12:00) unsaved: reading writes nothing."""
    found = CallSettings.objects.filter(workspace=workspace).first()
    return found or CallSettings(workspace=workspace)


def due_moments(workspace: Workspace, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(the last due moment at or before `now`, the next one after it), in the workspace's time zone."""
    settings_row = call_settings(workspace)
    local = (now or timezone.now()).astimezone(workspace.tz)
    monday = local.date() - timedelta(days=local.weekday())
    due = datetime.combine(
        monday + timedelta(days=settings_row.due_weekday), settings_row.due_time, tzinfo=workspace.tz
    )
    if due > local:
        due -= timedelta(days=7)
    return due, due + timedelta(days=7)


def submission_status(own_times: list[datetime], last_due: datetime, now: datetime) -> str:
    """submitted (the member's own version in the week up to the last due moment), late (only after it), or missing."""
    if any(last_due - timedelta(days=7) < t <= last_due for t in own_times):
        return "submitted"
    if any(last_due < t <= now for t in own_times):
        return "late"
    return "missing"


# ---- whose deals a call covers -------------------------------------------------------------------------


@dataclass(frozen=True)
class CallScope:
    """The deals a member's call is about: `owner_ids` None for the whole workspace; `team` for a manager."""

    kind: str  # "rep", "team" or "workspace"
    owner_ids: frozenset[int] | None
    team: Team | None = None


def call_scope(member: Membership) -> CallScope:
    if member.can_administer:
        return CallScope("workspace", None)
    if member.role == Role.MANAGER:
        managed = team_ids_managed_by(member)
        if managed:
            teams = list(Team.objects.filter(id__in=managed))
            tops = [t for t in teams if t.parent_id not in managed]
            owners = set(Membership.objects.filter(team_id__in=managed).values_list("id", flat=True)) | {member.id}
            return CallScope("team", frozenset(owners), tops[0] if len(tops) == 1 else None)
    return CallScope("rep", frozenset({member.id}))


def model_of(run: ForecastRun | None, member: Membership, scope: CallScope | None = None) -> dict[str, Any] | None:
    """The run's distribution for the member's call scope: {"p50", "q"} (101 percentiles), or None."""
    if run is None:
        return None
    return model_from_rollups(run.rollups or {}, run.uuid.hex, member, scope)


def model_from_rollups(
    rollups: dict[str, Any], run_id: str, member: Membership, scope: CallScope | None = None
) -> dict[str, Any] | None:
    """`model_of` over a run's roll-ups (also for roll-ups computed but not stored, as the demo's past calls)."""
    scope = scope or call_scope(member)
    if scope.kind == "workspace":
        row = rollups.get("workspace")
    elif scope.kind == "team":
        row = next((t for t in rollups.get("teams", []) if scope.team and t["id"] == scope.team.uuid.hex), None)
    else:
        row = next((r for r in rollups.get("reps", []) if r["id"] == member.uuid.hex), None)
        # A rep without open deals or wins this period: the model expects nothing of them.
        row = row or {"p50": 0.0, "q": [0.0] * 101}
    if not row or not row.get("q"):
        return None
    return {"run": run_id, "p50": float(row["p50"]), "q": row["q"]}


def position(model: dict[str, Any] | None, value: float | Decimal | None) -> float | None:
    """The model's chance that at least `value` closes (where the call sits in the distribution)."""
    if model is None or value is None:
        return None
    return chance_of_reaching(model.get("q"), float(value))


def latest_run_for(workspace: Workspace, start: date, end: date) -> ForecastRun | None:
    return ForecastRun.objects.for_workspace(workspace).filter(period_start=start, period_end=end).first()


# ---- writes --------------------------------------------------------------------------------------------


def can_adjust(scope: Scope, member: Membership) -> bool:
    """Owners and admins adjust anyone's call; a manager the calls of the people in the teams they lead."""
    actor = scope.membership
    if actor is None or member.workspace_id != scope.workspace.id or actor.id == member.id:
        return False
    if actor.can_administer:
        return True
    return actor.role == Role.MANAGER and member.team_id in scope.managed_team_ids


@transaction.atomic
def call_submit(
    *,
    scope: Scope,
    member: Membership,
    period_start: date,
    period_end: date,
    commit: Decimal,
    best_case: Decimal,
    most_likely: Decimal | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> CallSubmission:
    """A new version of `member`'s call: their own, or a manager's adjustment of it (a reason is required)."""
    actor = scope.membership
    if actor is None:
        raise PermissionDenied("A call is made by a person; API keys only read calls.")
    if actor.id != member.id and not can_adjust(scope, member):
        raise PermissionDenied("You can adjust only the calls of the people in the teams you lead.")
    if not actor.can_write:
        raise PermissionDenied("Read-only members do not make calls.")
    errors: dict[str, str] = {}
    if commit < 0:
        errors["commit"] = "The commit cannot be negative."
    if best_case < commit:
        errors["best_case"] = "Best case is at least the commit."
    if most_likely is not None and not commit <= most_likely <= best_case:
        errors["most_likely"] = "Most likely lies between the commit and the best case."
    reason = reason.strip()
    if actor.id != member.id and not reason:
        errors["reason"] = "Say why you adjust someone else's call."
    if period_end < period_start:
        errors["period_start"] = "The period ends before it starts."
    elif period_end < (now or timezone.now()).astimezone(scope.workspace.tz).date():
        # A call is a forecast: once the period is over there is nothing left to call.
        errors["period_start"] = "That period is over; calls are for the current or a later period."
    if errors:
        raise ValidationError(errors)
    # Versions are numbered per member and period; the lock keeps two concurrent submits from sharing one.
    Membership.objects.select_for_update().filter(id=member.id).get()
    last = CallSubmission.objects.filter(member=member, period_start=period_start, period_end=period_end).aggregate(
        v=Max("version")
    )["v"]
    run = latest_run_for(scope.workspace, period_start, period_end)
    return CallSubmission.objects.create(
        workspace=scope.workspace,
        member=member,
        period_start=period_start,
        period_end=period_end,
        version=(last or 0) + 1,
        commit=commit,
        best_case=best_case,
        most_likely=most_likely,
        submitted_by=actor,
        reason=reason,
        model=model_of(run, member) or {},
        created_at=now or timezone.now(),
    )


def call_settings_save(*, scope: Scope, due_weekday: int, due_time: Any) -> CallSettings:
    if scope.membership is not None and not scope.membership.can_administer:
        raise PermissionDenied("Only owners and admins set when the call is due.")
    if not 0 <= due_weekday <= 6:
        raise ValidationError({"due_weekday": "Pick a weekday."})
    row, _ = CallSettings.objects.update_or_create(
        workspace=scope.workspace, defaults={"due_weekday": due_weekday, "due_time": due_time}
    )
    return row


# ---- reads ---------------------------------------------------------------------------------------------


def effective_category_amounts(deals: Any, start: date, end: date) -> dict[int, dict[str, float]]:
    """{owner id: {category: open amount closing in [start, end]}} by each deal's effective forecast category."""
    rows = (
        deals.open()
        .filter(expected_close_date__gte=start, expected_close_date__lte=end)
        .annotate(cat=Coalesce(NullIf("forecast_category", Value("")), "stage__forecast_category"))
        .values_list("owner_id", "cat")
        .annotate(v=Sum("amount"))
    )
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for owner_id, cat, value in rows:
        out[owner_id or 0][cat] = float(value or 0)
    return out


@dataclass
class Suggestions:
    """Pre-fills: commit = won so far + open Commit deals closing in the period; best case adds Best Case deals."""

    won: dict[int, float]
    categories: dict[int, dict[str, float]]

    def for_owners(self, owner_ids: frozenset[int] | None) -> dict[str, float]:
        keys = set(self.won) | set(self.categories) if owner_ids is None else owner_ids
        won = sum(self.won.get(o, 0.0) for o in keys)
        commit = sum(self.categories.get(o, {}).get(ForecastCategory.COMMIT, 0.0) for o in keys)
        best = sum(self.categories.get(o, {}).get(ForecastCategory.BEST_CASE, 0.0) for o in keys)
        return {"won": won, "commit": round(won + commit, 2), "best_case": round(won + commit + best, 2)}


def suggestions(workspace: Workspace, start: date, end: date) -> Suggestions:
    deals = Deal.objects.for_workspace(workspace).filter(deleted_at__isnull=True)
    return Suggestions(won=won_by_owner(deals, start, end), categories=effective_category_amounts(deals, start, end))


def suggestion_for(member: Membership, start: date, end: date) -> dict[str, float]:
    return suggestions(member.workspace, start, end).for_owners(call_scope(member).owner_ids)


@dataclass
class MemberCall:
    member: Membership
    versions: list[CallSubmission]
    model: dict[str, Any] | None
    status: str
    suggestion: dict[str, float]
    can_adjust: bool = False

    @property
    def latest(self) -> CallSubmission | None:
        return self.versions[-1] if self.versions else None

    @property
    def model_p50(self) -> float | None:
        return self.model["p50"] if self.model else None

    def chance(self, value: Decimal | float | None) -> float | None:
        return position(self.model, value)

    def blended(self, weight: float) -> float | None:
        """(1 − w)·model P50 + w·call, with the weight the call-signal test learnt."""
        if self.model is None or self.latest is None:
            return None
        return (1 - weight) * self.model["p50"] + weight * self.latest.point

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every version, newest first, each with where it sits in the model's distribution now."""
        return [
            {
                "version": v,
                "commit_chance": self.chance(v.commit),
                "best_case_chance": self.chance(v.best_case),
                "most_likely_chance": self.chance(v.most_likely),
            }
            for v in reversed(self.versions)
        ]


@dataclass
class TeamNode:
    """A level of the roll-up: the manager's call beside the sum of the calls one level below."""

    name: str
    team: Team | None
    manager: MemberCall | None
    reps: list[MemberCall] = field(default_factory=list)
    children: list[TeamNode] = field(default_factory=list)
    model: dict[str, Any] | None = None

    def below(self, attr: str) -> float:
        """Sum of the level below: each rep's latest call, and each child team's rolled-up call."""
        total = 0.0
        for rep in self.reps:
            if rep.latest is not None:
                total += float(getattr(rep.latest, attr))
        for child in self.children:
            total += child.rolled(attr)
        return total

    def rolled(self, attr: str) -> float:
        """What this level passes up: its manager's call when there is one, else the sum below it."""
        if self.manager is not None and self.manager.latest is not None:
            return float(getattr(self.manager.latest, attr))
        return self.below(attr)

    @property
    def below_commit(self) -> float:
        return self.below("commit")

    @property
    def below_best_case(self) -> float:
        return self.below("best_case")

    @property
    def below_commit_chance(self) -> float | None:
        return position(self.model, self.below_commit)

    @property
    def model_p50(self) -> float | None:
        return self.model["p50"] if self.model else None

    def blended(self, weight: float) -> float | None:
        """(1 − w)·model P50 + w·this level's call (the manager's, else the sum below), on the same figures."""
        if self.model is None:
            return None
        return (1 - weight) * self.model["p50"] + weight * self.rolled("point")

    @property
    def manager_commit_chance(self) -> float | None:
        latest = self.manager.latest if self.manager else None
        return position(self.model, latest.commit) if latest else None


def _team_model(run: ForecastRun | None, team: Team | None) -> dict[str, Any] | None:
    if run is None:
        return None
    rollups = run.rollups or {}
    row = (
        rollups.get("workspace")
        if team is None
        else next((t for t in rollups.get("teams", []) if t["id"] == team.uuid.hex), None)
    )
    return {"p50": float(row["p50"]), "q": row["q"]} if row and row.get("q") else None


def calls_overview(scope: Scope, start: date, end: date, now: datetime | None = None) -> dict[str, Any]:
    """The call page: everyone's status, the calls in sight with their versions, and the roll-up tree."""
    workspace = scope.workspace
    now = now or timezone.now()
    last_due, next_due = due_moments(workspace, now)
    run = latest_run_for(workspace, start, end)
    members = list(Membership.objects.for_workspace(workspace).active().select_related("team").order_by("display_name"))
    submissions = list(
        CallSubmission.objects.for_workspace(workspace)
        .filter(period_start=start, period_end=end)
        .select_related("submitted_by")
        .order_by("member_id", "version")
    )
    own_times: dict[int, list[datetime]] = defaultdict(list)
    versions: dict[int, list[CallSubmission]] = defaultdict(list)
    for s in submissions:
        versions[s.member_id].append(s)
        if s.submitted_by_id == s.member_id:
            own_times[s.member_id].append(s.created_at)
    # Everyone sees who has submitted; only the calls in sight show their numbers.
    status = [
        {"member": m, "status": submission_status(own_times[m.id], last_due, now)}
        for m in members
        if m.role in CALLERS or own_times[m.id]
    ]
    hints = suggestions(workspace, start, end)
    visible = scope.owner_ids
    calls: dict[int, MemberCall] = {}
    for m in members:
        if visible is not None and m.id not in visible:
            continue
        if m.role not in CALLERS and not versions[m.id] and m.id != getattr(scope.membership, "id", None):
            continue
        cs = call_scope(m)
        calls[m.id] = MemberCall(
            member=m,
            versions=versions[m.id],
            model=model_of(run, m, cs),
            status=submission_status(own_times[m.id], last_due, now) if m.role in CALLERS else "optional",
            suggestion=hints.for_owners(cs.owner_ids),
            can_adjust=can_adjust(scope, m),
        )
    tree = _tree(scope, members, calls, run)
    me = calls.get(scope.membership.id) if scope.membership is not None else None
    return {
        "period": (start, end),
        "period_label": period_label(workspace, start, end),
        "run": run,
        "last_due": last_due,
        "next_due": next_due,
        "status": status,
        "calls": list(calls.values()),
        "tree": tree,
        "me": me,
    }


def _tree(
    scope: Scope, members: list[Membership], calls: dict[int, MemberCall], run: ForecastRun | None
) -> list[TeamNode]:
    teams = list(Team.objects.filter(workspace_id=scope.workspace.id).order_by("name"))
    by_id = {t.id: t for t in teams}
    children: dict[int | None, list[Team]] = defaultdict(list)
    for t in teams:
        children[t.parent_id if t.parent_id in by_id else None].append(t)
    in_sight = scope.team_ids
    # A manager's call stands for the team they lead (its node), not again as a rep of the team they sit in.
    leads = {t.manager_id for t in teams if t.manager_id and (in_sight is None or t.id in in_sight)}

    def node(team: Team) -> TeamNode:
        manager = calls.get(team.manager_id) if team.manager_id else None
        reps = [calls[m.id] for m in members if m.team_id == team.id and m.id not in leads and m.id in calls]
        kids = [node(c) for c in children[team.id] if in_sight is None or c.id in in_sight]
        return TeamNode(
            name=team.name, team=team, manager=manager, reps=reps, children=kids, model=_team_model(run, team)
        )

    if in_sight is None:
        admins = [c for c in calls.values() if c.member.can_administer and c.latest is not None]
        head = max(admins, key=lambda c: c.latest.created_at) if admins else None  # type: ignore[union-attr]
        loose = [
            calls[m.id]
            for m in members
            if m.team_id is None and m.id in calls and not m.can_administer and m.id not in leads
        ]
        root = TeamNode(
            name="Workspace",
            team=None,
            manager=head,
            reps=loose,
            children=[node(t) for t in children[None]],
            model=_team_model(run, None),
        )
        return [root]
    tops = [t for t in teams if t.id in in_sight and (t.parent_id is None or t.parent_id not in in_sight)]
    return [node(t) for t in tops]


def adjustable_members(scope: Scope) -> list[Membership]:
    """The people whose calls the asker may adjust (offered in the call form)."""
    return [m for m in scope.reps().active() if can_adjust(scope, m)]


def call_reminder(member: Membership, now: datetime | None = None) -> dict[str, Any] | None:
    """For the weekly digest: the member's status for the last due moment and when the next call is due."""
    if member.role not in CALLERS:
        return None
    workspace = member.workspace
    now = now or timezone.now()
    last_due, next_due = due_moments(workspace, now)
    start, end = current_period(workspace, now.astimezone(workspace.tz).date())
    own = list(
        CallSubmission.objects.filter(
            member=member, submitted_by=member, period_start=start, period_end=end
        ).values_list("created_at", flat=True)
    )
    return {
        "status": submission_status(own, last_due, now),
        "next_due": next_due,
        "period": period_label(workspace, start, end),
    }
