from __future__ import annotations

from django.http import HttpRequest

from tenancy.models import Membership


def workspace(request: HttpRequest) -> dict[str, object]:
    """The current workspace and the user's other workspaces, for the navigation bar."""
    current = getattr(request, "workspace", None)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"workspace": current}

    memberships = Membership.objects.filter(user=user, is_active=True).select_related("workspace")
    return {
        "workspace": current,
        "membership": getattr(request, "membership", None),
        "my_workspaces": [m.workspace for m in memberships],
    }
