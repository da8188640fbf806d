from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenancy import services
from tenancy.access import get_in_workspace, require_admin
from tenancy.forms import (
    InvitationForm,
    MemberForm,
    MemberRemoveForm,
    NewWorkspaceForm,
    TeamForm,
    WorkspaceSettingsForm,
)
from tenancy.models import ApiKey, Invitation, Membership, Team
from tenancy.services import invitation_accept as accept_invitation
from vectoros.forms import apply_service_errors
from vectoros.http import AuthenticatedHttpRequest, WorkspaceRequest, workspace_view


@require_GET
@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Open the last-used workspace (or the first), or say there is none."""
    memberships = Membership.objects.filter(user=request.user, is_active=True).select_related("workspace")
    last_slug = request.session.get("workspace_slug")
    chosen = next((m for m in memberships if m.workspace.slug == last_slug), None) or memberships.first()
    if chosen is None:
        return render(request, "tenancy/no_workspace.html", {"form": NewWorkspaceForm()})
    return redirect("crm:board", slug=chosen.workspace.slug)


@require_POST
@login_required
def workspace_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A signed-in person with no workspace (a superuser, someone whose workspaces were removed) creates one and
    lands on its onboarding checklist."""
    if Membership.objects.filter(user=request.user, is_active=True).exists() and not request.user.is_superuser:
        raise Http404("Ask an owner of your workspace for a new one")
    form = NewWorkspaceForm(request.POST)
    if form.is_valid():
        name = form.cleaned_data["name"]
        try:
            workspace = services.workspace_create(name=name, slug=services.unique_slug(name), owner_user=request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Workspace “{workspace.name}” created.")
            return redirect("crm:onboarding", slug=workspace.slug)
    return render(request, "tenancy/no_workspace.html", {"form": form}, status=422)


@require_http_methods(["GET", "POST"])
@login_required
def invitation_accept(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_by_token(token)
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


# ---- Workspace settings: /w/<slug>/settings/ ------------------------------------------------------


def _settings_page(
    request: WorkspaceRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    context = {"can_administer": request.membership.can_administer, **context}
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def workspace_settings(request: WorkspaceRequest) -> HttpResponse:
    ws = request.workspace
    initial = {
        "name": ws.name,
        "currency": ws.currency,
        "fiscal_year_start_month": ws.fiscal_year_start_month,
        "time_zone": ws.time_zone,
    }
    form = WorkspaceSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        require_admin(request.membership)
        if form.is_valid():
            try:
                services.workspace_update(workspace=ws, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Workspace settings saved.")
                return redirect("tenancy:workspace_settings", ws.slug)
    status = 422 if form.errors else 200
    return _settings_page(request, "tenancy/settings.html", {"form": form, "tab": "general"}, status=status)


@require_GET
@workspace_view()
def member_list(request: WorkspaceRequest) -> HttpResponse:
    members = (
        Membership.objects.for_workspace(request.workspace)
        .select_related("team", "user")
        .order_by("-is_active", "display_name")
    )
    rows = [
        (
            m,
            MemberForm(
                workspace=request.workspace,
                initial={"role": m.role, "team": m.team.uuid if m.team else None},
                prefix=str(m.uuid),
            ),
        )
        for m in members
    ]
    return _settings_page(request, "tenancy/members.html", {"rows": rows, "tab": "members"})


@require_POST
@workspace_view()
def member_update(request: WorkspaceRequest, membership_uuid: str) -> HttpResponse:
    require_admin(request.membership)
    member = get_in_workspace(Membership, request.workspace, membership_uuid)
    form = MemberForm(request.POST, workspace=request.workspace, prefix=str(member.uuid))
    if form.is_valid():
        try:
            services.membership_update(membership=member, actor=request.membership, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    if form.errors:
        messages.error(
            request,
            f"{member.display_name} was not changed: "
            + " ".join(str(e) for errors in form.errors.values() for e in errors),
        )
    else:
        messages.success(request, f"{member.display_name} is now {member.get_role_display()}.")
    return redirect("tenancy:members", request.workspace.slug)


@require_http_methods(["GET", "POST"])
@workspace_view()
def member_remove(request: WorkspaceRequest, membership_uuid: str) -> HttpResponse:
    """Confirm, then deactivate a member: signed out of the workspace, keys revoked, open deals handed on."""
    require_admin(request.membership)
    member = get_in_workspace(Membership, request.workspace, membership_uuid)
    if not member.is_active:
        raise Http404("No such member")
    form = MemberRemoveForm(request.POST if request.method == "POST" else None, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            services.membership_remove(
                membership=member, actor=request.membership, reassign_to=form.cleaned_data["reassign_to"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{member.display_name} was removed from {request.workspace.name}.")
            return redirect("tenancy:members", request.workspace.slug)
    context = {
        "form": form,
        "member": member,
        "tab": "members",
        "open_deals": member.deals.filter(outcome="open").count(),
        "active_keys": ApiKey.objects.filter(created_by=member).active().count(),
    }
    return _settings_page(request, "tenancy/member_remove.html", context, status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@workspace_view()
def team_list(request: WorkspaceRequest) -> HttpResponse:
    ws = request.workspace
    form = TeamForm(request.POST or None, workspace=ws)
    if request.method == "POST":
        require_admin(request.membership)
        if form.is_valid():
            try:
                team = services.team_save(workspace=ws, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Team {team.name} created.")
                return redirect("tenancy:teams", ws.slug)
    teams = Team.objects.filter(workspace=ws).select_related("manager", "parent").annotate(size=Count("members"))
    status = 422 if form.errors else 200
    return _settings_page(request, "tenancy/teams.html", {"teams": teams, "form": form, "tab": "teams"}, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def team_edit(request: WorkspaceRequest, team_uuid: str) -> HttpResponse:
    ws = request.workspace
    team = get_in_workspace(Team, ws, team_uuid)
    initial = {
        "name": team.name,
        "manager": team.manager.uuid if team.manager else None,
        "parent": team.parent.uuid if team.parent else None,
    }
    form = TeamForm(request.POST or None, workspace=ws, initial=initial)
    if request.method == "POST":
        require_admin(request.membership)
        if form.is_valid():
            try:
                services.team_save(workspace=ws, team=team, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Team {team.name} saved.")
                return redirect("tenancy:teams", ws.slug)
    status = 422 if form.errors else 200
    context = {"team": team, "form": form, "tab": "teams", "members": team.members.order_by("display_name")}
    return _settings_page(request, "tenancy/team_edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def invitation_list(request: WorkspaceRequest) -> HttpResponse:
    ws = request.workspace
    form = InvitationForm(request.POST or None, workspace=ws)
    if request.method == "POST":
        require_admin(request.membership)
        if form.is_valid():
            try:
                invitation = services.invitation_create(
                    workspace=ws, invited_by=request.membership, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("tenancy:invitations", ws.slug)
    invitations = Invitation.objects.filter(workspace=ws, accepted_at__isnull=True).select_related("team", "invited_by")
    status = 422 if form.errors else 200
    context = {"form": form, "invitations": invitations, "tab": "invitations"}
    return _settings_page(request, "tenancy/invitations.html", context, status=status)


@require_POST
@workspace_view()
def invitation_revoke(request: WorkspaceRequest, invitation_uuid: str) -> HttpResponse:
    require_admin(request.membership)
    invitation = get_in_workspace(Invitation, request.workspace, invitation_uuid)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("tenancy:invitations", request.workspace.slug)
