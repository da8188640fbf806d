"""Who may see and change what. Every tenant read from a view goes through these helpers.

The error for something of another workspace is the same as for something that does not exist (404);
a member who may see a thing but not change it gets 403.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404

from tenancy.models import Membership, Role, Team, Workspace

M = TypeVar("M", bound=models.Model)


def get_membership_for_user(*, user, slug: str) -> Membership:
    if not user.is_authenticated:
        raise Http404("No such workspace")
    membership = (
        Membership.objects.select_related("workspace", "team")
        .filter(workspace__slug=slug, user=user, is_active=True)
        .first()
    )
    if membership is None:
        raise Http404("No such workspace")
    return membership


def parse_uuid(value: object) -> uuid.UUID:
    """A malformed id is the same as a missing one: 404."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("No such object") from None


def get_in_workspace(model: type[M], workspace: Workspace, value: object) -> M:
    """An object of this workspace by its UUID; 404 for a malformed id, a missing one or another tenant's."""
    found = model._default_manager.filter(workspace=workspace, uuid=parse_uuid(value)).first()
    if found is None:
        raise Http404("Not found")
    return found


def require_write(membership: Membership) -> None:
    if not membership.can_write:
        raise PermissionDenied("Viewers can look but not change anything.")


def require_admin(membership: Membership) -> None:
    if not membership.can_administer:
        raise PermissionDenied("Only owners and admins can do this.")


def team_ids_managed_by(membership: Membership) -> set[int]:
    """Ids of the teams a manager leads, with every team below them in the hierarchy."""
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
    return result


def visible_owner_ids(membership: Membership) -> set[int] | None:
    """Membership ids whose deals this member sees; None means every deal of the workspace."""
    if membership.sees_everything:
        return None
    team_ids = set()
    if membership.team_id is not None:
        team_ids.add(membership.team_id)
    if membership.role == Role.MANAGER:
        team_ids |= team_ids_managed_by(membership)
    owners = set(
        Membership.objects.filter(workspace_id=membership.workspace_id, team_id__in=team_ids).values_list(
            "id", flat=True
        )
    )
    owners.add(membership.id)
    return owners
