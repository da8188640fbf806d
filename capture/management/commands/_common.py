"""Shared argument handling of the capture commands: the workspace and the member, each a clear error."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db.models import Q

from tenancy.models import Membership, Workspace


def get_member(workspace: Workspace, email: str) -> Membership:
    member = (
        Membership.objects.for_workspace(workspace)
        .filter(Q(email__iexact=email) | Q(user__email__iexact=email))
        .select_related("user")
        .first()
    )
    if member is None:
        raise CommandError(f"No member with email {email!r} in workspace {workspace.slug!r}.")
    return member
