"""What one member (or one API key) may see and change inside a workspace: the request's `Scope`.

Built once per request by `@workspace_view` (`request.scope`) and once per API key, it is the only
way visibility reaches selectors, forms, services and the importer. Owners, admins and viewers see
every deal; a manager sees their own team's and every team below the teams they lead; a rep sees
their own team's. Something out of sight answers the same 404 as something that does not exist.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404

from tenancy.access import parse_uuid
from tenancy.models import Membership, MembershipQuerySet, Role, Team, Workspace

if TYPE_CHECKING:
    from crm.models import DealQuerySet

M = TypeVar("M", bound=models.Model)
Q = TypeVar("Q", bound=QuerySet[Any])


def team_ids_managed_by(membership: Membership) -> frozenset[int]:
    """Ids of the teams a member leads, with every team below them in the hierarchy."""
    teams = list(Team.objects.filter(workspace_id=membership.workspace_id).values_list("id", "parent_id", "manager_id"))
    children: dict[int | None, list[int]] = {}
    for team_id, parent_id, _ in teams:
        children.setdefault(parent_id, []).append(team_id)
    result: set[int] = set()
    stack = [team_id for team_id, _, manager_id in teams if manager_id == membership.id]
    while stack:
        team_id = stack.pop()
        if team_id in result:
            continue
        result.add(team_id)
        stack.extend(children.get(team_id, []))
    return frozenset(result)


class Scope:
    """One member's view of a workspace; `membership` is None for a workspace-wide API key or the CLI.

    The sets are computed on first use and kept for the rest of the request.
    """

    def __init__(self, *, workspace: Workspace, membership: Membership | None = None) -> None:
        if membership is not None and membership.workspace_id != workspace.id:
            raise ValueError("The membership belongs to another workspace.")
        self.workspace = workspace
        self.membership = membership

    @classmethod
    def for_member(cls, membership: Membership) -> Scope:
        return cls(workspace=membership.workspace, membership=membership)

    @classmethod
    def whole_workspace(cls, workspace: Workspace) -> Scope:
        """Everything of the workspace: API keys (for now) and the `import_crm` command."""
        return cls(workspace=workspace, membership=None)

    def __repr__(self) -> str:
        who = self.membership.display_name if self.membership is not None else "whole workspace"
        return f"<Scope {self.workspace.slug}: {who}>"

    # ---- the sets ----------------------------------------------------------------------------------

    @property
    def sees_everything(self) -> bool:
        return self.membership is None or self.membership.sees_everything

    @cached_property
    def managed_team_ids(self) -> frozenset[int]:
        """The teams this member leads and everything below them (empty unless a manager)."""
        if self.membership is None or self.membership.role != Role.MANAGER:
            return frozenset()
        return team_ids_managed_by(self.membership)

    @cached_property
    def team_ids(self) -> frozenset[int] | None:
        """Teams whose deals this member sees; None means every team."""
        if self.sees_everything:
            return None
        assert self.membership is not None
        own = {self.membership.team_id} if self.membership.team_id is not None else set()
        return frozenset(own) | self.managed_team_ids

    @cached_property
    def owner_ids(self) -> frozenset[int] | None:
        """Membership ids whose deals this member sees; None means every deal of the workspace."""
        if self.team_ids is None:
            return None
        assert self.membership is not None
        owners = set(
            Membership.objects.filter(workspace_id=self.workspace.id, team_id__in=self.team_ids).values_list(
                "id", flat=True
            )
        )
        owners.add(self.membership.id)
        return frozenset(owners)

    # ---- querysets ---------------------------------------------------------------------------------

    def deals(self) -> DealQuerySet:
        """The workspace's deals this member sees."""
        # tenancy sits below crm, so the model is looked up by name rather than imported.
        deal_model: Any = apps.get_model("crm", "Deal")
        deals: DealQuerySet = deal_model.objects.for_workspace(self.workspace.id)
        return self.visible(deals)

    def visible(self, queryset: Q, owner: str = "owner") -> Q:
        """`queryset` narrowed to rows whose `owner` path (e.g. "deal__owner") is a member in sight."""
        owners = self.owner_ids
        return queryset if owners is None else queryset.filter(**{f"{owner}_id__in": owners})

    def teams(self) -> QuerySet[Team]:
        """Teams a team filter may offer."""
        teams = Team.objects.filter(workspace_id=self.workspace.id).order_by("name")
        return teams if self.team_ids is None else teams.filter(id__in=self.team_ids)

    def reps(self) -> MembershipQuerySet:
        """Members a rep or owner filter may offer (the owners of the deals in sight)."""
        members = Membership.objects.for_workspace(self.workspace).order_by("display_name", "id")
        return members if self.owner_ids is None else members.filter(id__in=self.owner_ids)

    def can_see_team(self, team: Team) -> bool:
        return team.workspace_id == self.workspace.id and (self.team_ids is None or team.id in self.team_ids)

    def can_see_rep(self, rep: Membership) -> bool:
        return rep.workspace_id == self.workspace.id and (self.owner_ids is None or rep.id in self.owner_ids)

    def get(self, model: type[M], value: object) -> M:
        """One object in sight by its UUID; 404 for a malformed id, a missing one, another tenant's or a hidden one."""
        queryset = self._queryset_of(model)
        found = queryset.filter(uuid=parse_uuid(value)).first()
        if found is None:
            raise Http404(f"No such {model._meta.verbose_name}")
        return found

    def _queryset_of(self, model: type[M]) -> QuerySet[M]:
        if model is Team:
            return self.teams()  # type: ignore[return-value]
        if model is Membership:
            return self.reps()  # type: ignore[return-value]
        if model is apps.get_model("crm", "Deal"):
            return self.deals()  # type: ignore[return-value]
        queryset: Any = model._default_manager.filter(workspace_id=self.workspace.id)
        # Models whose rows follow their deal's visibility (alerts, ...) say so with `visible_to(scope)`.
        visible_to = getattr(queryset, "visible_to", None)
        return visible_to(self) if visible_to is not None else queryset  # type: ignore[no-any-return]

    # ---- what they may change ----------------------------------------------------------------------

    def can_set_target(self, *, team: Team | None = None, rep: Membership | None = None) -> bool:
        """Owners and admins set any target; managers those of the teams they lead (and their reps); others none.

        With neither `team` nor `rep` the target is the workspace's.
        """
        for related in (team, rep):
            if related is not None and related.workspace_id != self.workspace.id:
                return False
        if self.membership is None or self.membership.can_administer:
            return True
        if self.membership.role != Role.MANAGER:
            return False
        if team is not None:
            return team.id in self.managed_team_ids
        if rep is not None:
            return rep.team_id in self.managed_team_ids
        return False

    @property
    def sets_any_target(self) -> bool:
        return self.membership is None or self.membership.can_administer or bool(self.managed_team_ids)

    def target_teams(self) -> QuerySet[Team]:
        """Teams whose target this member may set."""
        teams = Team.objects.filter(workspace_id=self.workspace.id).order_by("name")
        if self.membership is None or self.membership.can_administer:
            return teams
        return teams.filter(id__in=self.managed_team_ids)

    def target_reps(self) -> MembershipQuerySet:
        """Reps whose target this member may set."""
        members = Membership.objects.for_workspace(self.workspace).order_by("display_name", "id")
        if self.membership is None or self.membership.can_administer:
            return members
        return members.filter(team_id__in=self.managed_team_ids)

    def require_target(self, *, team: Team | None = None, rep: Membership | None = None) -> None:
        if not self.can_set_target(team=team, rep=rep):
            if team is None and rep is None:
                raise PermissionDenied("Only owners and admins can set the workspace's target.")
            raise PermissionDenied("You can set targets only for the teams you lead and their reps.")
