"""Who may enter a workspace and change things; what a member sees is `tenancy.scope.Scope`.

The error for something of another workspace is the same as for something that does not exist (404);
a member who may see a thing but not change it gets 403.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404

from tenancy.models import Membership, Workspace

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
