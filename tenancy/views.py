from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from tenancy.models import Invitation, Membership
from tenancy.services import invitation_accept as accept_invitation
from vectoros.http import AuthenticatedHttpRequest


@require_GET
@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Open the last-used workspace (or the first), or say there is none."""
    memberships = Membership.objects.filter(user=request.user, is_active=True).select_related("workspace")
    last_slug = request.session.get("workspace_slug")
    chosen = next((m for m in memberships if m.workspace.slug == last_slug), None) or memberships.first()
    if chosen is None:
        return render(request, "tenancy/no_workspace.html")
    return redirect("crm:board", slug=chosen.workspace.slug)


@require_http_methods(["GET", "POST"])
@login_required
def invitation_accept(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    invitation = Invitation.objects.select_related("workspace").filter(token=token).first()
    if invitation is None:
        raise Http404("No such invitation")
    if request.method == "POST":
        try:
            accept_invitation(invitation=invitation, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Welcome to {invitation.workspace.name}.")
            return redirect("crm:board", slug=invitation.workspace.slug)
    return render(request, "tenancy/invitation_accept.html", {"invitation": invitation})
